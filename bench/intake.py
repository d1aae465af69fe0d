"""Complaint intake of one record: the bounded window against the whole window, side by side.

A one-record POST of a complaint classifies it (recurrence, near-duplicates, repeat contacts) against the
stored complaints of its window. This times, for the same probe records on the same SQLite database:
  - whole window: ``load_window_records`` + ``classify_intake`` (what a batch does, per batch);
  - bounded:      ``load_window_for_one`` + ``classify_intake`` (what a single record does);
for windows of several sizes, and checks that both give the same classification.

Usage: .venv/bin/python bench/intake.py [--sizes 1000 5000 20000] [--probes 40]
The records are synthetic (the demo's phrases, segments and products, customer ids), all in 30 days.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(path: Path, n: int, seed: int = 0):
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from indicators.bulk import bulk_insert
    from indicators.demo_texts import generate
    from store.db import make_engine
    from store.schema import Base, Feedback

    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    rnd = random.Random(seed)
    rows = []
    for it in generate(n, end=date(2024, 6, 30), days=30, seed=seed):
        rec = dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics, kind="complaint")
        rec["meta"] = {"customer_id": str(rnd.randrange(n // 3 + 1))}
        rows.append(rec)
    with Session(engine) as s:
        bulk_insert(s, rows)
        s.execute(update(Feedback).values(priority="normal"))
        s.commit()
    return engine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--probes", type=int, default=40)
    args = ap.parse_args()

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from store.complaints import customer_key
    from store.recurrence import (
        RecurrencePolicy,
        classify_intake,
        item_of,
        load_window_for_one,
        load_window_records,
    )
    from store.schema import Feedback

    policy = RecurrencePolicy()
    keys = ("customer_id", "customer", "contact_id")
    print(f"{'window':>8} {'whole window':>14} {'bounded':>10} {'speed-up':>9}  rows read (whole / bounded)  same answers")
    tmp = Path(tempfile.mkdtemp(prefix="bzk-intake-"))
    for n in args.sizes:
        engine = build(tmp / f"w{n}.db", n)
        t_whole: list[float] = []
        t_one: list[float] = []
        read_whole = read_one = 0
        same = True
        with Session(engine) as s:
            last = s.scalar(select(func.max(Feedback.created_at)))
            ids = list(s.scalars(select(Feedback.id).order_by(Feedback.created_at.desc()).limit(args.probes)))
            for fid in ids:
                fb = s.get(Feedback, fid)
                item = item_of(fb)
                key = customer_key(fb, keys)
                t0 = time.perf_counter()
                whole = load_window_records(s, fb.created_at - timedelta(days=30), fb.created_at, exclude={fid},
                                            with_meta=True)
                want = classify_intake([item], [r.item() for r in whole], policy)
                t1 = time.perf_counter()
                one = load_window_for_one(s, item, policy, (key, 30) if key else None)
                got = classify_intake([item], [r.item() for r in one], policy)
                t2 = time.perf_counter()
                t_whole.append(t1 - t0)
                t_one.append(t2 - t1)
                read_whole += len(whole)
                read_one += len(one)
                same &= got[0][fid].to_dict() == want[0][fid].to_dict() and got[1] == want[1]
        engine.dispose()
        w, o = statistics.median(t_whole) * 1000, statistics.median(t_one) * 1000
        print(f"{n:>8,} {w:>11.1f} ms {o:>7.1f} ms {w / o:>8.1f}x  {read_whole // len(ids):>8,} / {read_one // len(ids):<8,}"
              f"          {'yes' if same else 'NO'}  (latest record {last:%Y-%m-%d})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
