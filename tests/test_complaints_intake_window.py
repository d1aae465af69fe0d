"""The intake of one complaint reads a bounded part of the window and decides exactly as the whole window does."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

import store.recurrence as recurrence
from indicators.bulk import bulk_insert
from store.complaints import customer_key, prior_contact_counts
from store.db import make_engine
from store.recurrence import (
    RecurrencePolicy,
    classify_intake,
    item_of,
    load_window_for_one,
    load_window_records,
)
from store.schema import Base, Feedback
from tests.apiutil import database_urls

TOPICS = ["delivery", "food_quality", "price", "packaging", "service"]
BASE_TEXTS = [
    "غذا خیلی دیر رسید و سرد بود",
    "بسته بندی پاره شده بود و غذا ریخته بود",
    "قیمت ها نسبت به کیفیت خیلی بالاست",
    "پیک بی ادب بود و زنگ نزد",
    "مرغ کاملا خام بود و بو میداد",
    "سفارش ناقص رسید نوشابه نداشت",
]
START = datetime(2024, 5, 1, 8, 0)


def _record(rnd: random.Random, i: int, at: datetime) -> dict:
    k = rnd.random()
    topics = {}
    if k > 0.12:  # some complaints have no topic (they borrow their near-duplicates')
        for t in rnd.sample(TOPICS, rnd.choice([1, 1, 1, 2, 3])):
            topics[t] = rnd.choice(["neg", "neg", "neg", "neu", "pos"])
    text = rnd.choice(BASE_TEXTS) + ("" if rnd.random() < 0.5 else f" سفارش {rnd.randint(1, 40)}")
    if rnd.random() < 0.05:
        text = ""
    meta = {}
    if rnd.random() < 0.6:
        meta = {"customer_id": rnd.choice([str(rnd.randint(1, 30)), rnd.randint(1, 30)])}
    elif rnd.random() < 0.3:
        meta = {"customer": f"c{rnd.randint(1, 30)}"}
    return {
        "text": text, "created_at": at, "kind": "complaint", "sentiment": "neg", "topics": topics, "meta": meta,
        "segment": rnd.choice([None, "", "vendor-1", "vendor-2", "vendor-3", "vendor-4"]),
        "product": rnd.choice([None, None, "", "pizza", "kebab", "salad", f"p{rnd.randint(1, 12)}"]),
    }


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    yield from database_urls(request.param, tmp_path)


def _db(url: str, seed: int, n: int):
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    rnd = random.Random(seed)
    # bursts and gaps over 70 days, some records at the same instant
    times = sorted(START + timedelta(minutes=rnd.choice([rnd.randint(0, 70 * 24 * 60), 30 * 24 * 60])) for _ in range(n))
    with Session(engine) as s:
        bulk_insert(s, [_record(rnd, i, at) for i, at in enumerate(times)])
        # intake only sees triaged records: leave some untriaged
        s.execute(update(Feedback).where(Feedback.id % 7 != 3).values(priority="normal"))
        s.commit()
    return engine, rnd


CONTACT_KEYS = ("customer_id", "customer", "contact_id")


@pytest.mark.parametrize("seed,policy", [
    (1, RecurrencePolicy()),
    (2, RecurrencePolicy(duplicate_candidates=25, max_related=7, recurring_min=4, systemic_min_scopes=2)),
    (3, RecurrencePolicy(window_days=10, duplicate_candidates=60, scope_fields=("segment", "product"))),
    # more scopes than the latest members show (every scope asked), more related ids than the scope scan
    (4, RecurrencePolicy(systemic_min_scopes=30, max_related=80)),
])
# members found by walking the window (0), from the topic's mentions (10**9), each way by topic (150)
@pytest.mark.parametrize("sparse_topic", [0, 150, 10**9])
def test_one_complaint_is_classified_as_against_the_whole_window(url, seed, policy, sparse_topic, monkeypatch):
    monkeypatch.setattr(recurrence, "SPARSE_TOPIC", sparse_topic)
    engine, rnd = _db(url, seed, 1500)
    with Session(engine) as s:
        probes = rnd.sample(range(1, 1501), 60)
        read_rows = 0
        for fid in probes:
            fb = s.get(Feedback, fid)
            item = item_of(fb)
            contact_days = rnd.choice([15, 30, 45])
            full = load_window_records(s, fb.created_at - timedelta(days=max(policy.window_days, contact_days)),
                                       fb.created_at, exclude={fid}, with_meta=True)
            key = customer_key(fb, CONTACT_KEYS)
            one = load_window_for_one(s, item, policy, (key, contact_days) if key else None)
            assert len({r.id for r in one}) == len(one)
            assert {r.id for r in one} <= {r.id for r in full}  # only records of the window
            read_rows += len(one)
            want = classify_intake([item], [r.item() for r in full], policy)
            got = classify_intake([item], [r.item() for r in one], policy)
            assert got[0][fid].to_dict() == want[0][fid].to_dict(), fid
            assert got[1] == want[1], fid
            assert prior_contact_counts([fb], one, CONTACT_KEYS, contact_days) == \
                prior_contact_counts([fb], full, CONTACT_KEYS, contact_days), fid
        # bounded: well below the ~650 records a 30-day window holds here
        assert read_rows / len(probes) < 0.6 * 650


def test_the_window_query_count_does_not_grow_with_the_window(tmp_path):
    engine, _rnd = _db(f"sqlite:///{tmp_path / 'q.db'}", 4, 2500)
    with Session(engine) as s:
        item = item_of(s.get(Feedback, 2000))
        seen: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, *_a: seen.append(stmt))
        one = load_window_for_one(s, item, RecurrencePolicy(duplicate_candidates=50))
        # the cache check (two), the candidates' ids and the uncached ones by id; per topic the count of
        # its mentions and at most three LIMITed queries; the rest by id
        assert len(seen) <= 5 + 4 * len(item.topics or TOPICS)
        assert len(one) < 50 + 3 * (64 + 50 + 12)
        seen.clear()
        again = load_window_for_one(s, item, RecurrencePolicy(duplicate_candidates=50))
        assert len(seen) <= 3 + 4 * len(item.topics or TOPICS)  # every record cached now: none read by id
        assert not [q for q in seen if "IN (?" in q]
        assert again == one


def test_without_a_cap_on_candidates_the_whole_window_is_used(tmp_path):
    engine, _rnd = _db(f"sqlite:///{tmp_path / 'c.db'}", 5, 50)
    with Session(engine) as s:
        assert load_window_for_one(s, item_of(s.get(Feedback, 10)), RecurrencePolicy(duplicate_candidates=0)) is None


def _probe_behind_a_flood(tmp_path, old: list[dict], flood: list[dict], probe: dict):
    """The probe (stored last) classified against its whole window and against what intake reads of it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'flood.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        bulk_insert(s, [*old, *flood, probe])
        s.execute(update(Feedback).values(priority="normal"))
        s.commit()
        fb = s.get(Feedback, len(old) + len(flood) + 1)
        item, policy = item_of(fb), RecurrencePolicy(duplicate_candidates=20)
        full = load_window_records(s, fb.created_at - timedelta(days=30), fb.created_at, exclude={fb.id})
        one = load_window_for_one(s, item, policy)
        want = classify_intake([item], [r.item() for r in full], policy)[0][fb.id]
        got = classify_intake([item], [r.item() for r in one], policy)[0][fb.id]
        assert len(one) < len(full)
        return want, got


def _delivery(text: str, at: datetime, product: str) -> dict:
    return {"text": text, "created_at": at, "kind": "complaint", "sentiment": "neg", "topics": {"delivery": "neg"},
            "product": product}


def test_scopes_behind_many_recent_members_of_its_own_scope_still_make_it_systemic(tmp_path):
    old = [_delivery(f"پیک دیر آمد {i}", START + timedelta(days=i), p) for i, p in enumerate(["kebab", "salad"])]
    flood = [_delivery(f"پیتزا دیر رسید {i}", START + timedelta(days=10, minutes=i), "pizza") for i in range(90)]
    probe = _delivery("باز هم پیتزا دیر رسید", START + timedelta(days=11), "pizza")
    want, got = _probe_behind_a_flood(tmp_path, old, flood, probe)
    assert want.recurrence == "systemic"
    assert got.to_dict() == want.to_dict()


def test_its_own_scope_behind_many_recent_members_of_another_still_makes_it_recurring(tmp_path):
    old = [_delivery(f"پیتزا سرد بود {i}", START + timedelta(days=i), "pizza") for i in range(2)]
    flood = [_delivery(f"کباب دیر رسید {i}", START + timedelta(days=10, minutes=i), "kebab") for i in range(90)]
    probe = _delivery("باز هم پیتزا دیر رسید", START + timedelta(days=11), "pizza")
    want, got = _probe_behind_a_flood(tmp_path, old, flood, probe)
    assert want.recurrence == "recurring" and {1, 2} <= set(want.related_ids)
    assert got.to_dict() == want.to_dict()
