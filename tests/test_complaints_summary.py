"""The complaint-handling block of ``/v1/indicators`` from per-day counts equals the one computed from
every tracked complaint (``process_indicators``), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

import indicators.process as process
from indicators.bulk import bulk_insert
from indicators.process import complaint_summary, process_indicators
from store.db import make_engine
from store.schema import COMPLAINT_STATUSES, PRIORITIES, Base, Feedback
from tests.apiutil import database_urls

NOW = datetime(2024, 9, 30, 12, 0)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    for url in database_urls(request.param, tmp_path):
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        _populate(engine, 700)
        yield engine
        engine.dispose()


def _populate(engine, n: int) -> None:
    rnd = random.Random(5)
    rows = [{"text": f"شکایت {i}", "created_at": NOW - timedelta(hours=rnd.uniform(0, 24 * 150)),
             "kind": rnd.choice(["complaint", "comment"]), "sentiment": "neg",
             "topics": {rnd.choice(["delivery", "price", "packaging"]): rnd.choice(["neg", "neu"])},
             "segment": rnd.choice([None, "vip", "b2c", "b2b"]), "channel": rnd.choice(["app", "call"])}
            for i in range(n)]
    with Session(engine) as s:
        bulk_insert(s, rows)
        for fb in s.scalars(select(Feedback)):
            if rnd.random() < 0.15:
                continue  # not tracked (no status)
            status = rnd.choice(COMPLAINT_STATUSES)
            ack = fb.created_at + timedelta(hours=rnd.uniform(0, 60)) if status != "received" or rnd.random() < 0.1 else None
            resolved = (ack or fb.created_at) + timedelta(hours=rnd.uniform(0, 150)) \
                if status in ("resolved", "closed") or rnd.random() < 0.05 else None
            s.execute(update(Feedback).where(Feedback.id == fb.id).values(
                status=status, acknowledged_at=ack, resolved_at=resolved,
                reopen_count=rnd.choice([0, 0, 0, 1, 2]) if status != "received" else 0,
                handling_rating=rnd.choice([None, None, 1, 2, 3, 4, 5, 4.5]) if resolved else None,
                priority=rnd.choice([*PRIORITIES, None]), recurrence=rnd.choice(["single", "recurring", "systemic", "", None])))
        s.commit()


CASES = [
    dict(start=None, end=None, period="month", calendar="jalali", filters={}),
    dict(start=date(2024, 6, 1), end=date(2024, 9, 30), period="week", calendar="gregorian", filters={}),
    dict(start=date(2024, 9, 1), end=date(2024, 9, 30), period="day", calendar="jalali", filters={"segment": ["vip", "b2c"]}),
    dict(start=None, end=date(2024, 8, 15), period="quarter", calendar="jalali", filters={"topic": "delivery", "channel": ["app"]}),
    dict(start=date(2024, 9, 29), end=date(2024, 9, 30), period="year", calendar="gregorian", filters={"kind": ["complaint"]}),
    dict(start=date(2024, 5, 1), end=None, period=None, calendar="jalali", filters={"segment": ["nobody"]}),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['period']}-{c['calendar']}" for c in CASES])
@pytest.mark.parametrize("sla", [(24.0, 72.0), (2.5, 30.0)])
def test_the_summary_from_daily_counts_equals_the_one_from_every_complaint(engine, case, sla):
    ack_sla, res_sla = sla
    with Session(engine) as s:
        got = complaint_summary(s, case["start"], case["end"], case["filters"], case["period"], case["calendar"], 30,
                                ack_sla, res_sla, now=NOW)
        full = process_indicators(s, start=case["start"], end=case["end"], period=case["period"], calendar=case["calendar"],
                                  min_n=30, ack_sla_hours=ack_sla, sla_hours=res_sla, now=NOW, filters=case["filters"])
    assert got == {"overall": full["overall"], "series": full.get("periods", [])}
    if case["filters"].get("segment") != ["nobody"]:
        assert got["overall"]["volume"] > 0 and got["overall"]["time_to_resolve_hours"]["median"]["n"] > 0


def test_the_summary_does_not_load_every_complaint(engine, monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("complaint rows loaded one by one")

    monkeypatch.setattr(process, "load_rows", refuse)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as s:
            got = complaint_summary(s, None, None, {}, "month", "jalali", now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # per-day counts, then only the complaints acknowledged, resolved or rated
    assert len(statements) == 2, statements
    assert got["overall"]["backlog"]["open"] > 0
