"""Indicators at scale: 1,000,000 stored records in SQLite.

Times, side by side in one run on the same database file:
  - SELECT count(*) FROM feedback (the baseline: the cheapest full-table aggregate)
  - GET /v1/indicators?period=month&group_by=segment (through the FastAPI app, JSON included)
  - GET /v1/themes/top
Target: each endpoint under 1 s and within 5x of the count. Also reports the one-time rollup build
and the cost of the first request after 1,000 new records arrive (incremental refresh).

Usage: .venv/bin/python bench/indicators.py [--n 1000000] [--db PATH] [--repeat 7] [--reuse-rollups]
The records are synthetic (demo phrases, 17 segments, 4 channels, one Jalali year); a --db that
already holds them is reused.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indicators.demo_texts import PHRASES
from indicators.periods import jalali_day

SEGMENTS = [f"vendor-{i:02d}" for i in range(17)]
CHANNELS = ["app", "web", "phone", "sms"]
KINDS = ["comment", "comment", "comment", "complaint", "compliment", "survey_answer"]
REGIONS = ["tehran", "mashhad", "isfahan", "shiraz", "tabriz"]
TOPICS = sorted(PHRASES)
START = date(2024, 3, 20)  # 1 Farvardin 1403


def populate(path: Path, n: int, seed: int = 0) -> None:
    from sqlalchemy import create_engine

    from store.schema import Base

    Base.metadata.create_all(create_engine(f"sqlite:///{path}"))
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    now = datetime(2025, 3, 21).isoformat(sep=" ")
    fb_sql = (
        "INSERT INTO feedback (id, payload_hash, kind, channel, segment, region, created_at, received_at, day, jalali_day, text,"
        " pii_types, rating, rating_scale, nps, metadata, sentiment, abstained, model_version, analyzed_at, reopen_count)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,'[]',?,5,?,'{}',?,?,'bench',?,0)"
    )
    tm_sql = (
        "INSERT INTO topic_mentions (feedback_id, topic, score, polarity, model_version, day, jalali_day, kind, segment, channel, region)"
        " VALUES (?,?,0.9,?,'bench',?,?,?,?,?,?)"
    )
    days = [START + timedelta(days=i) for i in range(365)]
    jdays = [jalali_day(d) for d in days]
    fb, tm = [], []
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        di = min(int(rng.random() ** 0.8 * 365), 364)
        d = days[di]
        seg, ch, kind, reg = rng.choice(SEGMENTS), rng.choice(CHANNELS), rng.choice(KINDS), rng.choice(REGIONS)
        u = rng.random()
        sent = "neg" if u < 0.3 else ("neu" if u < 0.42 else "pos")
        topics = {}
        for _ in range(rng.choice((0, 1, 1, 2))):
            topics[rng.choice(TOPICS)] = sent if sent != "neu" else rng.choice(("pos", "neg"))
        text = "، ".join(rng.choice(PHRASES[t][p] or PHRASES[t]["neg"]) for t, p in topics.items()) or "ممنون"
        rating = {"pos": rng.choice((4, 5)), "neu": 3, "neg": rng.choice((1, 2))}[sent]
        nps = rng.randrange(11) if kind == "survey_answer" else None
        ds = d.isoformat()
        fb.append((i, str(i), kind, ch, seg, reg, ds + " 12:00:00", now, ds, jdays[di], text, rating, nps, sent, int(not topics), now))
        for t, p in topics.items():
            tm.append((i, t, p, ds, jdays[di], kind, seg, ch, reg))
        if len(fb) >= 50_000:
            con.executemany(fb_sql, fb)
            con.executemany(tm_sql, tm)
            con.commit()
            fb.clear()
            tm.clear()
            print(f"  {i:,} records ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    con.executemany(fb_sql, fb)
    con.executemany(tm_sql, tm)
    con.commit()
    con.execute("ANALYZE")
    con.close()


def drop_new_records(con: sqlite3.Connection) -> None:
    """Delete the records an earlier run added, and tell the rollups which days changed (what the ORM's
    flush hook does for deletes): a --reuse-rollups run then refreshes one day, not the whole year."""
    days = [d for (d,) in con.execute("SELECT DISTINCT day FROM feedback WHERE payload_hash LIKE 'new%'")]
    con.execute("DELETE FROM feedback WHERE payload_hash LIKE 'new%'")
    if days and con.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollup_state'").fetchone():
        con.execute("UPDATE rollup_state SET max_feedback_id = (SELECT coalesce(max(id), 0) FROM feedback)")
        con.executemany("INSERT OR IGNORE INTO rollup_dirty_days (day) VALUES (?)", [(d,) for d in days])


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median, min) seconds over ``repeat`` runs after one warm-up."""
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--reuse-rollups", action="store_true", help="keep a --db's rollups (skip the timed rebuild)")
    args = ap.parse_args()
    path = args.db or Path(tempfile.mkdtemp(prefix="bzk-bench-ind-")) / "bench.db"
    have = 0
    if path.exists():
        with sqlite3.connect(path) as c:
            drop_new_records(c)  # from an earlier run on this --db
            have = c.execute("SELECT count(*) FROM feedback").fetchone()[0]
    if have != args.n:
        if path.exists():
            path.unlink()
        t = time.perf_counter()
        populate(path, args.n)
        print(f"populated {args.n:,} records in {time.perf_counter() - t:.0f} s ({path})")

    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.main import create_app
    from api.settings import Settings
    from indicators.compute import indicators
    from indicators.process import complaint_summary
    from indicators.query import Slice
    from indicators.rollup import ensure_fresh, rebuild
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    from store.schema import FeedbackRollup, RollupDirtyDay, RollupState, TopicRollup

    # a reused --db may hold rollups of an older layout: start them from scratch (the timed build)
    rollups = [t.__table__ for t in (FeedbackRollup, TopicRollup, RollupState, RollupDirtyDay)]
    if not args.reuse_rollups:
        for table in rollups:
            table.drop(engine, checkfirst=True)
            table.create(engine)
    with factory() as s:
        t = time.perf_counter()
        days = ensure_fresh(s) if args.reuse_rollups else rebuild(s)
        build = time.perf_counter() - t
        n_roll = s.execute(text("SELECT count(*) FROM rollup_feedback_daily")).scalar()
        n_troll = s.execute(text("SELECT count(*) FROM rollup_topic_daily")).scalar()
        _row, key = create_key(s, "manager", "bench")
        s.commit()
    print(f"rollup build (one-time): {build:.1f} s for {days} days -> {n_roll:,} feedback rows, {n_troll:,} topic rows")

    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0), analyzer=None, load_model=False))
    h = {"X-API-Key": key}

    def count():
        with engine.connect() as c:
            return c.execute(text("SELECT count(*) FROM feedback")).scalar()

    def get(path: str, params: dict):
        def run():
            r = client.get(path, params=params, headers=h)
            assert r.status_code == 200, r.text[:300]
            return r

        return run

    ind = get("/v1/indicators", {"period": "month", "calendar": "jalali", "group_by": "segment"})
    themes = get("/v1/themes/top", {"from": "2025-02-19", "to": "2025-03-20"})
    ind_year = get("/v1/indicators", {"period": "month", "calendar": "gregorian", "group_by": "segment", "from": "2024-03-20", "to": "2025-03-20"})
    session = factory()

    def satisfaction_only():  # the satisfaction part of GET /v1/indicators, without HTTP
        return indicators(session, Slice(), "month", "jalali", "segment")

    def complaint_block():  # the ISO 10002 block GET /v1/indicators adds (indicators/process.py)
        return complaint_summary(session, None, None, {}, "month", "jalali", 30, 24.0, 72.0)

    results = {}
    for name, fn in (("SELECT count(*) FROM feedback", count), ("GET /v1/indicators?period=month&group_by=segment", ind),
                     ("  of which satisfaction indicators (in-process)", satisfaction_only),
                     ("  of which complaint-handling block (in-process)", complaint_block),
                     ("  (same, whole year, Gregorian months)", ind_year), ("GET /v1/themes/top (last 30 days)", themes)):
        results[name] = timed(fn, args.repeat)
    base = results["SELECT count(*) FROM feedback"][0]
    r = ind().json()
    print(f"records: {count():,}; indicators: {len(r['series'])} months x {len(r['groups'])} segments, "
          f"{len(r['overall']['topics'])} topics; themes: {len(themes().json()['themes'])}")
    print(f"{'query':52s} {'median':>9s} {'min':>9s} {'x count':>8s}  target")
    ok = True
    for name, (med, mn) in results.items():
        ratio = med / base
        verdict = "" if name.startswith("SELECT") else ("ok" if med < 1 and ratio <= 5 else "MISSED")
        ok &= verdict != "MISSED" or name.startswith("  ")
        print(f"{name:52s} {med * 1000:8.1f}ms {mn * 1000:8.1f}ms {ratio:8.2f}  {verdict}")

    # new records arriving: the next request refreshes just the days they touched
    with sqlite3.connect(path) as c:
        drop_new_records(c)  # from an earlier run on this --db
        top = c.execute("SELECT max(id) FROM feedback").fetchone()[0]
        rows = [(top + i, f"new{i}", "comment", "app", "vendor-00", "2025-03-20 13:00:00", "2025-03-20 13:00:00", "2025-03-20", 14031230,
                 "پیک دیر رسید", 2, "neg", "2025-03-21 00:00:01") for i in range(1, 1001)]
        c.executemany("INSERT INTO feedback (id, payload_hash, kind, channel, segment, created_at, received_at, day, jalali_day, text,"
                      " pii_types, rating, rating_scale, metadata, sentiment, abstained, model_version, analyzed_at, reopen_count)"
                      " VALUES (?,?,?,?,?,?,?,?,?,?,'[]',?,5,'{}',?,1,'bench',?,0)", rows)
    t = time.perf_counter()
    ind()
    print(f"first GET /v1/indicators after 1,000 new records (refreshes 1 day): {(time.perf_counter() - t) * 1000:.0f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
