"""Process indicators against hand-computed values (hours, SLA shares, reopen rate, backlog, ratings)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from indicators.periods import jalali_day
from indicators.process import ComplaintTimes, compute, group_rows, process_indicators, quantile
from nlp.errors import BazkhordError
from store.db import make_engine, make_sessionmaker
from store.schema import Base, Feedback, TopicMention

T0 = datetime(2024, 3, 1, 8, 0)
NOW = T0 + timedelta(days=10)
h = lambda n: T0 + timedelta(hours=n)  # noqa: E731

ROWS = [
    ComplaintTimes(1, T0, "closed", acknowledged_at=h(2), resolved_at=h(10), priority="high", handling_rating=5,
                   segment="vip", topics=("delivery",)),
    ComplaintTimes(2, T0, "resolved", acknowledged_at=h(4), resolved_at=h(30), priority="normal", handling_rating=4,
                   segment="vip", topics=("delivery", "price")),
    ComplaintTimes(3, T0, "closed", acknowledged_at=h(30), resolved_at=h(100), priority="urgent", reopen_count=1,
                   handling_rating=2, segment="b2c", recurrence="recurring", topics=("hygiene",)),
    ComplaintTimes(4, T0, "in_progress", acknowledged_at=h(1), priority="urgent", segment="b2c", recurrence="systemic"),
    ComplaintTimes(5, NOW - timedelta(hours=1), "received", priority="normal"),
    ComplaintTimes(6, NOW - timedelta(hours=48), "received", priority="low", segment="vip"),
]


@pytest.fixture(scope="module")
def figures():
    return compute(ROWS, now=NOW, ack_sla_hours=24, sla_hours=72, min_n=5)


def test_durations(figures):
    ack, res = figures["time_to_acknowledge_hours"], figures["time_to_resolve_hours"]
    # acknowledged after 2, 4, 30, 1 h → sorted 1 2 4 30: median (2+4)/2, p90 at 2.7 → 4 + 0.7·26
    assert ack["median"]["value"] == 3.0 and ack["p90"]["value"] == 22.2
    assert ack["median"]["n"] == 4 and ack["median"]["insufficient_data"] is True  # 4 < min_n 5
    # order-statistic interval for the median of 4: ranks 1 and 4
    assert (ack["median"]["ci_low"], ack["median"]["ci_high"]) == (1.0, 30.0)
    # resolved after 10, 30, 100 h → median 30, p90 at 1.8 → 30 + 0.8·70
    assert res["median"]["value"] == 30.0 and res["p90"]["value"] == 86.0


def test_sla_shares(figures):
    # due for acknowledgement: the 4 acknowledged + #6 (open 48 h > 24); #5 (1 h) not yet due. 3 within 24 h.
    ack = figures["acknowledged_within_sla"]
    assert (ack["value"], ack["n"]) == (60.0, 5)
    # Wilson 95% for 3/5, by hand: centre 0.5566, half-width 0.3258
    assert (ack["ci_low"], ack["ci_high"]) == (23.07, 88.24)
    # due for resolution: the 3 resolved + #4 (open 240 h > 72); 2 resolved within 72 h
    res = figures["resolved_within_sla"]
    assert (res["value"], res["n"], res["insufficient_data"]) == (50.0, 4, True)


def test_reopen_backlog_and_satisfaction(figures):
    assert (figures["reopen_rate"]["value"], figures["reopen_rate"]["n"]) == (33.33, 3)
    assert figures["backlog"] == {"open": 3, "overdue": 1, "by_priority": {"urgent": 1, "high": 0, "normal": 1, "low": 1}}
    sat = figures["handling_satisfaction"]
    assert (sat["mean_rating"]["value"], sat["mean_rating"]["n"]) == (3.67, 3)
    assert sat["satisfied"]["value"] == 66.67
    assert figures["by_priority"] == {"urgent": 2, "high": 1, "normal": 2, "low": 1}
    assert figures["by_recurrence"] == {"single": 4, "recurring": 1, "systemic": 1}
    assert figures["volume"] == 6


def test_empty_slice_is_insufficient():
    f = compute([], now=NOW)
    assert f["time_to_resolve_hours"]["median"] == {"value": None, "n": 0, "ci_low": None, "ci_high": None, "insufficient_data": True}
    assert f["reopen_rate"]["insufficient_data"] is True and f["backlog"]["open"] == 0


def test_quantile_single_value_and_interval_contains_value():
    assert quantile([5.0], 0.9).to_dict()["value"] == 5.0
    xs = list(range(1, 101))
    q = quantile(xs, 0.5, min_n=30).to_dict()
    assert q["value"] == 50.5 and q["ci_low"] < 50.5 < q["ci_high"] and q["insufficient_data"] is False


def test_group_rows():
    by_topic = group_rows(ROWS, "topic")
    assert {k: [r.id for r in v] for k, v in by_topic.items()} == {
        "(none)": [4, 5, 6], "delivery": [1, 2], "hygiene": [3], "price": [2],
    }
    assert sorted(group_rows(ROWS, "segment")) == ["(none)", "b2c", "vip"]
    with pytest.raises(BazkhordError) as exc:
        group_rows(ROWS, "colour")
    assert exc.value.code == "indicators.bad_group"


def test_from_the_store_by_jalali_month_and_segment(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    Base.metadata.create_all(engine)
    # 1402-12-20 (2024-03-10) and 1403-01-05 (2024-03-24): two Jalali months, one Gregorian month
    days = [datetime(2024, 3, 10, 9), datetime(2024, 3, 10, 10), datetime(2024, 3, 24, 9)]
    with make_sessionmaker(engine)() as s:
        for i, (at, seg) in enumerate(zip(days, ["vip", "b2c", "vip"], strict=True)):
            fb = Feedback(
                kind="complaint", text="x", payload_hash=str(i), created_at=at, received_at=at, day=at.date(),
                jalali_day=jalali_day(at.date()), segment=seg, status="resolved", status_at=at + timedelta(hours=5),
                acknowledged_at=at + timedelta(hours=1), resolved_at=at + timedelta(hours=5 * (i + 1)), priority="normal",
                reopen_count=0,
            )
            fb.topics = [TopicMention(topic="delivery", score=0.9, polarity="neg", model_version="t", day=at.date(),
                                      jalali_day=fb.jalali_day, kind="complaint", segment=seg)]
            s.add(fb)
        s.add(Feedback(kind="comment", text="y", payload_hash="c", created_at=days[0], received_at=days[0],
                       day=days[0].date(), jalali_day=jalali_day(days[0].date())))  # not a tracked complaint
        s.commit()
        out = process_indicators(s, period="month", calendar="jalali", by="segment", now=datetime(2024, 4, 1), min_n=2)
        greg = process_indicators(s, period="month", calendar="gregorian", now=datetime(2024, 4, 1))
        topic = process_indicators(s, period=None, filters={"topic": "delivery", "segment": "vip"}, now=datetime(2024, 4, 1))
        with pytest.raises(BazkhordError):
            process_indicators(s, start=date(2024, 4, 1), end=date(2024, 3, 1))
    engine.dispose()
    assert out["overall"]["volume"] == 3
    assert [p["period"] for p in out["periods"]] == ["1402-12", "1403-01"]
    assert [p["volume"] for p in out["periods"]] == [2, 1]
    # resolved after 5 and 10 h in Esfand: median 7.5
    assert out["periods"][0]["time_to_resolve_hours"]["median"]["value"] == 7.5
    assert {g["key"]: g["volume"] for g in out["groups"]} == {"b2c": 1, "vip": 2}
    assert [p["period"] for p in greg["periods"]] == ["2024-03"]
    assert topic["overall"]["volume"] == 2 and "periods" not in topic
