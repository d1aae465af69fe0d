"""Complaint intake of one record: the bounded window against the whole window, side by side.

A one-record POST of a complaint classifies it (recurrence, near-duplicates, repeat contacts) against the
stored complaints of its window. This times, for the same probe records on the same SQLite database:
  - whole window: ``load_window_records`` + ``classify_intake`` (what a batch does, per batch);
  - bounded:      ``load_window_for_one`` + ``classify_intake`` (what a single record does);
for windows of several sizes, and checks that both give the same classification. Then it stores new
records one at a time (``insert_feedback`` in its write turn, as a one-record POST does) into two copies of
a window of recent complaints, read per record (``intake_mirror=false``) and from the per-process mirror
(``store/intake_mirror.py``), and checks that both copies end with the same triage and recurrence fields.

Usage: .venv/bin/python bench/intake.py [--sizes 1000 5000 20000] [--probes 40] [--new 200]
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


def build(path: Path, n: int, seed: int = 0, end: date = date(2024, 6, 30)):
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
    for it in generate(n, end=end, days=30, seed=seed):
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
    ap.add_argument("--new", type=int, default=200, help="records stored one at a time per window (mirror part)")
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
    return mirror_part(args.sizes, args.new, tmp)


def mirror_part(sizes: list[int], n_new: int, tmp: Path) -> int:
    """One-record ingestion with the window read per record against the mirror, side by side."""
    import shutil
    from datetime import datetime, timezone

    from sqlalchemy import select

    from api.settings import Settings
    from indicators.demo_texts import generate
    from models.types import Analysis, SentimentResult, TopicResult
    from store.db import make_engine, make_sessionmaker, serialized_writes
    from store.feedback import insert_feedback
    from store.schema import Feedback

    print(f"\none-record ingestion of {n_new} new complaints (insert + intake + commit, median per record)")
    print(f"{'window':>8} {'reads':>10} {'mirror':>10} {'speed-up':>9}  same fields")
    failed = 0
    for n in sizes:
        base = tmp / f"m{n}.db"
        build(base, n, end=date.today()).dispose()  # the WAL checkpointed into the file it copies
        new = generate(n_new, end=date.today(), days=1, seed=n + 1)
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        times: dict[bool, list[float]] = {}
        states = {}
        for mirror in (False, True):
            path = tmp / f"m{n}-{mirror}.db"
            shutil.copy(base, path)
            url = f"sqlite:///{path}"
            factory = make_sessionmaker(make_engine(url))
            settings = Settings(database_url=url, timezone="UTC", intake_mirror=mirror)
            times[mirror] = []
            for k, it in enumerate(new):
                item = dict(it.to_feedback(), kind="complaint", created_at=now + timedelta(seconds=k), external_id=None,
                            metadata={"customer_id": str(k % (n // 3 + 1))})
                scores = {"neg": 0.9, "neu": 0.05, "pos": 0.05}
                an = Analysis(clean_text=item["text"], pii=[], sentiment=SentimentResult("neg", scores),
                              topics=[TopicResult(t, t, 0.9, p) for t, p in it.topics.items()],
                              abstained=not it.topics, model="bench")
                t0 = time.perf_counter()
                with factory() as s, serialized_writes(s.get_bind()):
                    insert_feedback(s, [item], [an], None, settings)
                    s.commit()
                times[mirror].append(time.perf_counter() - t0)
            with factory() as s:
                states[mirror] = s.execute(select(Feedback.priority, Feedback.priority_reasons, Feedback.status,
                                                  Feedback.recurrence, Feedback.related_ids).order_by(Feedback.id)).all()
        same = states[False] == states[True]
        failed += not same
        r, m = statistics.median(times[False]) * 1000, statistics.median(times[True]) * 1000
        print(f"{n:>8,} {r:>7.2f} ms {m:>7.2f} ms {r / m:>8.1f}x  {'yes' if same else 'NO'}"
              f"  (first record with the mirror, which builds it: {times[True][0] * 1000:.0f} ms)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
