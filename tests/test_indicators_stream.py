"""Real SnappFood comment stream (ratings 1-5, 2015-2022, 17 vendors): CSAT and mean rating per vendor and
month from the indicators API's SQL path against a direct computation over the file."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from indicators.bulk import bulk_insert
from indicators.compute import indicators
from indicators.periods import period_of
from indicators.query import Slice
from store.db import make_engine
from store.schema import Base
from tests.conftest import require


@pytest.fixture(scope="module")
def stream(data_dir):
    path = data_dir / "snappfood-stream" / "comments.jsonl"
    require(path.is_file(), f"{path} missing")
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    session = Session(engine)
    # stored with the file's own labels (no model run): this test is about the aggregation
    bulk_insert(session, ({"text": r["text"], "created_at": r["created_at"], "segment": r["meta"]["vendor"],
                           "rating": r.get("rating"), "rating_scale": r.get("rating_scale"), "sentiment": r.get("sentiment")} for r in rows))
    yield session, rows
    session.close()


def _direct(rows, calendar):
    acc = defaultdict(lambda: [0, 0, 0.0])  # rated, top2, rating sum
    for r in rows:
        if r.get("rating") is None:  # about a fifth of the stream has no rating: not in CSAT's n
            continue
        p = period_of(datetime.fromisoformat(r["created_at"]).date(), "month", calendar).key
        a = acc[(r["meta"]["vendor"], p)]
        a[0] += 1
        a[1] += r["rating"] >= 4
        a[2] += r["rating"]
    return acc


@pytest.mark.parametrize("calendar", ["gregorian", "jalali"])
def test_csat_and_mean_rating_per_vendor_and_month(stream, calendar):
    session, rows = stream
    expected = _direct(rows, calendar)
    # the whole span of the stream, not the default window
    lo = min(datetime.fromisoformat(x["created_at"]).date() for x in rows)
    hi = max(datetime.fromisoformat(x["created_at"]).date() for x in rows)
    r = indicators(session, Slice(lo, hi), period="month", calendar=calendar, group_by="segment", min_n=30)
    vendors = {x["meta"]["vendor"] for x in rows}
    assert {g["group"] for g in r["groups"]} == vendors and len(vendors) == 17
    checked = 0
    for g in r["groups"]:
        for p in g["series"]:
            e = expected.get((g["group"], p["period"]))
            if e is None:
                assert p["csat"]["n"] == 0 and p["csat"]["value"] is None
                continue
            rated, top2, total = e
            assert p["csat"]["n"] == rated
            assert p["csat"]["value"] == pytest.approx(round(100 * top2 / rated, 2), abs=0.006)
            assert p["mean_rating"]["value"] == pytest.approx(round(total / rated, 2), abs=0.006)
            assert p["csat"]["insufficient_data"] == (rated < 30)
            if p["csat"]["ci_low"] is not None:
                assert p["csat"]["ci_low"] <= p["csat"]["value"] <= p["csat"]["ci_high"]
            checked += 1
    assert checked == len(expected)
    overall = r["overall"]
    assert overall["volume"] == len(rows)
    rated = [x["rating"] for x in rows if x.get("rating") is not None]
    assert overall["csat"]["n"] == len(rated)
    assert overall["csat"]["value"] == pytest.approx(100 * sum(x >= 4 for x in rated) / len(rated), abs=0.006)
