"""Indicators over the database (rollups and raw path) against values computed by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from indicators.alerts import alerts
from indicators.bulk import bulk_insert
from indicators.compute import indicators
from indicators.demo_texts import UNCLAIMED
from indicators.periods import jalali_day
from indicators.query import Slice
from indicators.themes import emerging_themes, top_themes
from store.db import make_engine
from store.schema import Base, Feedback, TopicMention
from tests.conftest import require

# (day, segment, region, kind, rating, scale, nps, sentiment, topics, text)
ROWS = [
    (date(2024, 3, 19), "A", "تهران", "comment", 5, 5, 10, "pos", {"food_quality": "pos"}, "غذا خیلی خوشمزه بود"),
    (date(2024, 3, 19), "A", "تهران", "complaint", 2, 5, 3, "neg", {"delivery": "neg"}, "پیک یک ساعت دیر رسید"),
    (date(2024, 3, 19), "A", "تهران", "comment", 4, 5, 8, "neu", {}, "سفارش رسید"),
    (date(2024, 3, 20), "B", None, "compliment", 10, 10, None, "pos", {"delivery": "pos", "food_quality": "pos"}, "پیک سریع بود و غذا داغ"),
    (date(2024, 3, 20), "B", None, "complaint", 1, 5, 0, "neg", {"delivery": "neg", "price": "neg"}, "دیر رسید و گرون بود"),
    (date(2024, 3, 20), "B", None, "complaint", None, None, None, "neg", {"delivery": "neg"}, "پیک آدرس رو پیدا نکرد"),
]


def _feedback(day, segment, region, kind, rating, scale, nps, sentiment, topics, text) -> Feedback:
    fb = Feedback(
        payload_hash=text, kind=kind, segment=segment, region=region, channel="app",
        created_at=datetime(day.year, day.month, day.day, 12), received_at=datetime(2024, 4, 1), day=day,
        jalali_day=jalali_day(day), text=text, rating=rating, rating_scale=scale, nps=nps, sentiment=sentiment,
        abstained=not topics, model_version="t", analyzed_at=datetime(2024, 4, 1), meta={}, pii_types=[],
    )
    fb.topics = [
        TopicMention(topic=t, score=0.9, polarity=p, model_version="t", day=day, jalali_day=fb.jalali_day, kind=kind,
                     segment=segment, channel="app", region=region)
        for t, p in topics.items()
    ]
    return fb


@pytest.fixture(params=["sqlite", "postgres"])
def session(request):
    drop = None
    if request.param == "sqlite":
        engine = make_engine("sqlite://")
    else:
        from tests.apiutil import _fresh_pg_database, postgres_url

        base = postgres_url()
        require(base is not None, "PostgreSQL not configured (BAZKHORD_TEST_POSTGRES_URL)")
        url, drop = _fresh_pg_database(base)
        engine = make_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([_feedback(*r) for r in ROWS])
        s.commit()
        yield s
    engine.dispose()
    if drop is not None:
        drop()


def _topic(block, t):
    return next(x for x in block["topics"] if x["topic"] == t)


def test_overall_figures_by_hand(session):
    r = indicators(session, Slice(), period="month", calendar="jalali", min_n=1, weights="mentions")
    o = r["overall"]
    assert o["volume"] == 6
    assert o["csat"]["value"] == pytest.approx(60.0)  # top-2-box: 5/5, 4/5, 10/10 of 5 rated
    assert o["csat"]["n"] == 5
    assert o["mean_rating"]["value"] == pytest.approx(3.4)  # (5 + 2 + 4 + 5 + 1) / 5 on the 1..5 scale
    assert o["nps"]["value"] == pytest.approx(-25.0)  # 1 promoter, 2 detractors of 4
    assert o["net_sentiment"]["value"] == pytest.approx(-16.67, abs=0.01)  # (2 - 3) / 6
    assert o["complaints"]["volume"] == 3 and o["complaints"]["share"]["value"] == pytest.approx(50.0)
    d = _topic(o, "delivery")
    assert (d["mentions"], d["pos"], d["neg"]) == (4, 1, 3)
    assert d["net_sentiment"]["value"] == pytest.approx(-50.0)
    assert d["satisfaction"]["value"] == pytest.approx(25.0)
    assert d["negative_share"]["value"] == pytest.approx(75.0)
    assert d["share"]["value"] == pytest.approx(66.67, abs=0.01)
    # without the three records complaining about delivery: 2 pos of 3 -> 66.67, and CSAT 3/3
    assert d["impact"]["net_sentiment"] == pytest.approx(83.33, abs=0.01)
    assert d["impact"]["csat"] == pytest.approx(40.0)
    assert _topic(o, "food_quality")["satisfaction"]["value"] == pytest.approx(100.0)
    assert _topic(o, "price")["satisfaction"]["value"] == pytest.approx(0.0)
    assert o["csi_method"] == "mentions"
    assert o["csi"]["value"] == pytest.approx(300 / 7, abs=0.01)  # (4*25 + 2*100 + 1*0) / 7
    for f in (o["csat"], o["nps"], o["net_sentiment"], o["csi"]):
        assert f["ci_low"] <= f["value"] <= f["ci_high"]


def test_driver_weights_by_hand(session):
    o = indicators(session, Slice(), min_n=1, weights="driver")["overall"]
    # overall mean 3.4; rated negative delivery mentions 2 and 1 -> 1.5 (gap 1.9); price 1 (gap 2.4);
    # food quality has no negative mention: the mean gap 2.15
    assert o["csi_method"] == "driver"
    assert o["csi_weights"]["delivery"] == pytest.approx(1.9 / 6.45, abs=1e-4)
    assert o["csi_weights"]["price"] == pytest.approx(2.4 / 6.45, abs=1e-4)
    assert o["csi"]["value"] == pytest.approx((1.9 * 25 + 2.15 * 100) / 6.45, abs=0.01)
    configured = indicators(session, Slice(), min_n=1, weights={"delivery": 1, "food_quality": 1})["overall"]
    assert configured["csi"]["value"] == pytest.approx(62.5)


def test_jalali_boundary_and_gregorian_months(session):
    r = indicators(session, Slice(), period="month", calendar="jalali", min_n=1)
    series = {p["period"]: p for p in r["series"]}
    assert list(series) == ["1402-12", "1403-01"]
    assert series["1402-12"]["end"] == "2024-03-19" and series["1403-01"]["start"] == "2024-03-20"
    assert series["1402-12"]["volume"] == 3 and series["1403-01"]["volume"] == 3
    assert series["1402-12"]["csat"]["value"] == pytest.approx(200 / 3, abs=0.01)
    assert series["1403-01"]["csat"]["value"] == pytest.approx(50.0)
    g = indicators(session, Slice(), period="month", calendar="gregorian", min_n=1)
    assert [p["period"] for p in g["series"]] == ["2024-03"] and g["series"][0]["volume"] == 6


def test_insufficient_data_flags_with_default_minimum(session):
    o = indicators(session, Slice(), min_n=30)["overall"]
    assert o["csat"]["insufficient_data"] and o["net_sentiment"]["insufficient_data"]
    assert o["csat"]["value"] == pytest.approx(60.0)  # the value is still there, marked
    assert o["csi"]["value"] is None  # no topic has enough data to enter the index


def test_group_by_and_filters_rollup_and_raw_agree(session):
    r = indicators(session, Slice(), group_by="segment", min_n=1)
    groups = {g["group"]: g for g in r["groups"]}
    assert groups["A"]["volume"] == 3 and groups["B"]["volume"] == 3
    assert groups["B"]["csat"]["value"] == pytest.approx(50.0)
    b = indicators(session, Slice(filters={"segment": ("B",)}), min_n=1)["overall"]
    assert b["volume"] == 3 and b["csat"] == groups["B"]["csat"]
    # region is not in the rollups: the raw path must give the same sums
    reg = {g["group"]: g for g in indicators(session, Slice(), group_by="region", min_n=1)["groups"]}
    assert reg["تهران"]["volume"] == 3 and reg["—"]["volume"] == 3
    assert reg["تهران"]["csat"] == groups["A"]["csat"]
    assert _topic(reg["—"], "delivery")["neg"] == 2
    w = indicators(session, Slice(date(2024, 3, 20), date(2024, 3, 20)), min_n=1)["overall"]
    assert w["volume"] == 3


def test_rollups_follow_inserts_updates_and_deletes(session):
    assert indicators(session, Slice(), min_n=1)["overall"]["volume"] == 6
    session.add(_feedback(date(2024, 3, 21), "A", None, "comment", 5, 5, 10, "pos", {}, "عالی"))
    session.commit()
    o = indicators(session, Slice(), min_n=1)["overall"]
    assert o["volume"] == 7 and o["csat"]["value"] == pytest.approx(400 / 6, abs=0.01)
    fb = session.query(Feedback).filter_by(text="پیک آدرس رو پیدا نکرد").one()
    fb.sentiment = "pos"  # an update the watermarks cannot see
    session.commit()
    assert indicators(session, Slice(), min_n=1)["overall"]["net_sentiment"]["value"] == pytest.approx(100 * (4 - 2) / 7, abs=0.01)
    session.delete(session.query(Feedback).filter_by(text="دیر رسید و گرون بود").one())
    session.commit()
    o = indicators(session, Slice(), min_n=1)["overall"]
    assert o["volume"] == 6 and "price" not in {t["topic"] for t in o["topics"]}


def test_top_themes_rank_and_examples(session):
    r = top_themes(session, Slice(date(2024, 3, 1), date(2024, 3, 31)), min_n=1)
    assert [t["topic"] for t in r["themes"]] == ["delivery", "price"]  # 3*3/4 = 2.25 > 1*1/1
    d = r["themes"][0]
    assert d["negative_mentions"] == 3 and d["change"]["previous_negative_mentions"] == 0
    assert set(d["examples"]) <= {"پیک یک ساعت دیر رسید", "دیر رسید و گرون بود", "پیک آدرس رو پیدا نکرد"}
    assert len(d["examples"]) == 3
    assert "پیک" in d["key_phrases"]
    assert r["previous"] == {"from": "2024-01-30", "to": "2024-02-29"}  # the 31 days before


def _week_rows(start: date, n: int, delivery_rate: float, seed: int) -> list[dict]:
    rows = []
    for i in range(n):
        d = start + timedelta(days=i % 7)
        neg_delivery = (i * 7919 + seed) % 1000 < delivery_rate * 1000
        topics = {"food_quality": "neg" if i % 10 == 0 else "pos"}
        if neg_delivery:
            topics["delivery"] = "neg"
        rows.append({"text": f"نظر {i}", "created_at": datetime(d.year, d.month, d.day, 12), "segment": "S1" if i % 2 else "S2",
                     "sentiment": "neg" if neg_delivery else "pos", "topics": topics, "rating": 2 if neg_delivery else 5, "rating_scale": 5})
    return rows


def test_alerts_find_a_planted_rise_and_nothing_else():
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        rows = []
        first = date(2024, 4, 6)  # a Saturday: Jalali weeks start on Saturday
        for w in range(4):
            rows += _week_rows(first + timedelta(days=7 * w), 300, 0.05, w)
        rows += _week_rows(first + timedelta(days=28), 300, 0.20, 9)
        bulk_insert(s, rows)
        r = alerts(s, Slice(), period="week", calendar="jalali", at=first + timedelta(days=30), baseline=4, min_n=30)
        assert r["current"]["start"] == str(first + timedelta(days=28))
        topics = {(a["topic"], a["segment"]) for a in r["alerts"]}
        assert ("delivery", None) in topics
        assert all(t in ("delivery", None) for t, _ in topics)  # food quality did not change
        a = next(a for a in r["alerts"] if a["topic"] == "delivery" and a["segment"] is None)
        assert a["current"]["rate"]["value"] > a["baseline"]["rate"]["value"]
        assert a["q_value"] <= 0.05 and len(a["examples"]) == 3
        quiet = alerts(s, Slice(), period="week", calendar="jalali", at=first + timedelta(days=23), baseline=3, min_n=30)
        assert quiet["alerts"] == [] and quiet["tests"] > 0


def _emerging_db(order: int):
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    rows = [{"text": t, "created_at": datetime(2024, 5, 1 + (i % 20), 10), "sentiment": "neu", "topics": {}}
            for i, t in enumerate(UNCLAIMED * 12)]
    s = Session(engine)
    bulk_insert(s, rows[::order])
    return s


def test_emerging_themes_are_deterministic():
    a = emerging_themes(_emerging_db(1), Slice(date(2024, 5, 1), date(2024, 5, 31)))
    b = emerging_themes(_emerging_db(-1), Slice(date(2024, 5, 1), date(2024, 5, 31)))
    assert a["themes"] and a["themes"] == b["themes"]
    phrases = " ".join(p for t in a["themes"] for p in t["key_phrases"])
    assert "گیاهی" in phrases and "ساعت کاری" in phrases


def test_topic_totals_from_month_and_day_rollups_match_a_direct_count():
    from collections import Counter

    from indicators.demo_texts import generate

    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    items = generate(2500, end=date(2024, 9, 30), seed=11)
    with Session(engine) as s:
        bulk_insert(s, [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in items])
        # 2024-04-05 .. 2024-08-31: part of Farvardin, Ordibehesht..Mordad whole, part of Shahrivar
        window = Slice(date(2024, 4, 5), date(2024, 8, 31))
        o = indicators(s, window, min_n=1)["overall"]
        expected = Counter((t, p) for it in items if window.start <= it.created_at.date() <= window.end for t, p in it.topics.items())
        for t in o["topics"]:
            assert (t["pos"], t["neu"], t["neg"]) == (expected[(t["topic"], "pos")], expected[(t["topic"], "neu")], expected[(t["topic"], "neg")])
        # the raw path (region is not in the rollups) sums to the same per topic
        raw = indicators(s, window, group_by="region", min_n=1)["groups"]
        for t in o["topics"]:
            assert sum(_topic(g, t["topic"])["neg"] for g in raw if any(x["topic"] == t["topic"] for x in g["topics"])) == t["neg"]
        # and the impact figures agree between the two paths for one region's filter vs its group
        g = next(g for g in raw if g["group"] == "تهران")
        f = indicators(s, Slice(window.start, window.end, {"region": ("تهران",)}), min_n=1)["overall"]
        assert _topic(f, "delivery")["impact"] == _topic(g, "delivery")["impact"]
