"""Complaint handling costs, measured side by side on real SnappFood stream texts.

1. triage (rules only) vs the text pipeline it runs after: ms per text and the ratio;
2. the insert path with and without the complaint intake hook (triage + lifecycle + recurrence),
   SQLite, canned analyses (no model): records per second and the overhead ratio;
3. recurrence over a time-ordered stream (vendor = product): complaints per second.

Usage: .venv/bin/python bench/complaints.py [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.triage import Triage  # noqa: E402
from models.types import Analysis, SentimentResult, TopicResult  # noqa: E402
from store.recurrence import ComplaintItem, RecurrenceDetector  # noqa: E402

TOPICS = ("delivery", "food_quality", "portion", "price", "packaging", "order_accuracy", "hygiene", "service")


def stream(n: int) -> list[dict]:
    path = ROOT.parent / "shared" / "data" / "snappfood-stream" / "comments.jsonl"
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    random.Random(0).shuffle(rows)
    return rows[:n]


def canned(text: str, rng: random.Random) -> Analysis:
    neg = rng.random()
    topics = [TopicResult(t, t, 0.8, "neg" if neg > 0.5 else "pos") for t in rng.sample(TOPICS, rng.randint(0, 2))]
    label = "neg" if neg > 0.5 else "pos"
    return Analysis(text, [], SentimentResult(label, {"neg": neg, "neu": 0.0, "pos": 1 - neg}), topics, not topics, "bench")


def bench_triage(rows: list[dict]) -> None:
    from nlp import get_pipeline

    pipe = get_pipeline()
    pipe.process("گرم کردن")  # build hazm once, outside the timing
    t0 = time.perf_counter()
    clean = [pipe.process(r["text"]).text for r in rows]
    t_pipe = time.perf_counter() - t0
    triage = Triage()
    t0 = time.perf_counter()
    results = [triage.triage(t) for t in clean]
    t_triage = time.perf_counter() - t0
    n = len(rows)
    share = {p: sum(r.priority == p for r in results) / n for p in ("urgent", "high", "normal")}
    print(f"triage: {1000 * t_triage / n:.3f} ms/text; text pipeline: {1000 * t_pipe / n:.3f} ms/text; "
          f"triage / pipeline = {t_triage / t_pipe:.3f}")
    print("triage priorities on the stream: " + ", ".join(f"{p} {100 * v:.1f}%" for p, v in share.items()))


def bench_intake(rows: list[dict]) -> None:
    import store.feedback as feedback_mod
    from api.settings import Settings
    from store.db import make_engine, make_sessionmaker
    from store.schema import Base

    rng = random.Random(1)
    items = [{"text": r["text"], "kind": "complaint" if i % 2 else "comment", "product": (r.get("meta") or {}).get("vendor"),
              "created_at": datetime.fromisoformat(r["created_at"]) if r.get("created_at") else None,
              "metadata": {}} for i, r in enumerate(rows)]
    analyses = [canned(it["text"], rng) for it in items]
    timings = {}
    real_hook = feedback_mod.apply_complaint_intake
    for label, hook in (("without hook", lambda *a, **k: []), ("with hook", real_hook)):
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{d}/b.db"
            engine = make_engine(url)
            Base.metadata.create_all(engine)
            settings = Settings(database_url=url, timezone="UTC")
            feedback_mod.apply_complaint_intake = hook
            try:
                with make_sessionmaker(engine)() as s:
                    t0 = time.perf_counter()
                    for i in range(0, len(items), 500):  # batches of 500, as a bulk import sends them
                        feedback_mod.insert_feedback(s, items[i : i + 500], analyses[i : i + 500], None, settings)
                        s.commit()
                    timings[label] = time.perf_counter() - t0
            finally:
                feedback_mod.apply_complaint_intake = real_hook
            engine.dispose()
    n = len(items)
    a, b = timings["without hook"], timings["with hook"]
    print(f"insert path: {n / a:.0f} records/s without the complaint hook, {n / b:.0f} records/s with it; "
          f"with / without = {b / a:.2f}")


def bench_recurrence(rows: list[dict]) -> None:
    rng = random.Random(2)
    items = [
        ComplaintItem(i, datetime.fromisoformat(r["created_at"]), tuple(rng.sample(TOPICS, 1)), None,
                      (r.get("meta") or {}).get("vendor"), r["text"])
        for i, r in enumerate(rows) if r.get("created_at")
    ]
    det = RecurrenceDetector()
    t0 = time.perf_counter()
    res = det.classify_stream(items)
    dt = time.perf_counter() - t0
    share = {k: sum(r.recurrence == k for r in res.values()) / len(res) for k in ("single", "recurring", "systemic")}
    print(f"recurrence: {len(items) / dt:.0f} complaints/s over {len(items)} stream complaints "
          f"({', '.join(f'{k} {100 * v:.0f}%' for k, v in share.items())}; random topics, so mostly recurring by design)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    n = ap.parse_args().n
    rows = stream(n)
    bench_triage(rows)
    bench_intake(rows)
    bench_recurrence(rows)


if __name__ == "__main__":
    main()
