"""Complaint handling costs, measured side by side on real SnappFood stream texts.

1. triage (rules only) vs the text pipeline it runs after: ms per text and the ratio;
2. the insert path with and without the complaint intake hook (triage + lifecycle + recurrence),
   SQLite, canned analyses (no model): records per second and the overhead ratio;
3. recurrence over a time-ordered stream (vendor = product): complaints per second;
4. bulk ingestion as ``POST /v1/feedback/batch`` runs it (``api.ingest.ingest``: validation, idempotency
   lookup, analysis, insert, complaint intake; batches of 1,000 with external ids, SQLite), in process:
   records/s with the model stubbed out (its analyses computed beforehand) and with the model included.

Usage: .venv/bin/python bench/complaints.py [--n 2000] [--ingest-batches 3] [--only ingest]
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


def bench_ingest(n_batches: int, batch_size: int = 1000) -> None:
    from api.ingest import RawRow, ingest
    from api.schemas import FeedbackIn
    from api.settings import Settings
    from models.analyzer import Analyzer
    from store.db import make_engine, make_sessionmaker
    from store.migrate import upgrade

    rows = stream(n_batches * batch_size)
    analyzer = Analyzer.load()
    analyzer.analyze([r["text"] for r in rows[:50]])  # warm-up (caches, lexicons)
    t0 = time.perf_counter()
    canned_by_text = dict(zip((r["text"] for r in rows), analyzer.analyze([r["text"] for r in rows]), strict=True))
    model_rate = len(rows) / (time.perf_counter() - t0)

    class Stub:  # the model's own analyses, looked up: what is left is the service's cost
        version = analyzer.version

        @staticmethod
        def analyze(texts: list[str]) -> list:
            return [canned_by_text[t] for t in texts]

    def batches(tag: str) -> list[list[dict]]:
        # mixed like real traffic: complaints and comments, vendors, repeat customers, their timestamps
        return [[{"text": r["text"], "external_id": f"{tag}-{b}-{i}", "channel": "bench",
                  "kind": "complaint" if i % 3 == 0 else "comment", "product": (r.get("meta") or {}).get("vendor"),
                  "created_at": r.get("created_at"), "metadata": {"customer_id": f"c{i % 97}"} if i % 2 else {}}
                 for i, r in enumerate(rows[b * batch_size : (b + 1) * batch_size])] for b in range(n_batches)]

    rates, cpu_rates = {}, {}
    for label, an in (("model stubbed", Stub()), ("model included", analyzer)):
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{d}/ingest.db"
            upgrade(url)
            engine = make_engine(url)
            settings = Settings(database_url=url)
            elapsed = cpu = 0.0
            for items in batches(label.split()[1]):
                t0, c0 = time.perf_counter(), time.process_time()
                raw = [RawRow(i, FeedbackIn.model_validate(it)) for i, it in enumerate(items)]  # as the route does
                with make_sessionmaker(engine)() as s:
                    out = ingest(s, raw, an, settings, None)
                elapsed += time.perf_counter() - t0
                cpu += time.process_time() - c0
                assert len(out.created) == len(items), out.errors[:3]
            engine.dispose()
        rates[label] = n_batches * batch_size / elapsed
        cpu_rates[label] = n_batches * batch_size / cpu
    # records per CPU-second too: on a shared machine the wall clock mostly measures the neighbours
    print(f"bulk ingestion ({n_batches} x {batch_size} records, SQLite): {rates['model stubbed']:.0f} records/s with the "
          f"model stubbed ({cpu_rates['model stubbed']:.0f} per CPU-second), {rates['model included']:.0f} records/s "
          f"with it ({cpu_rates['model included']:.0f} per CPU-second); model alone {model_rate:.0f} texts/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--ingest-batches", type=int, default=3)
    ap.add_argument("--only", choices=["triage", "intake", "recurrence", "ingest"])
    args = ap.parse_args()
    rows = stream(args.n)
    if args.only in (None, "triage"):
        bench_triage(rows)
    if args.only in (None, "intake"):
        bench_intake(rows)
    if args.only in (None, "recurrence"):
        bench_recurrence(rows)
    if args.only in (None, "ingest"):
        bench_ingest(args.ingest_batches)


if __name__ == "__main__":
    main()
