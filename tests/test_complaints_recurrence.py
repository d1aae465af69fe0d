"""Recurrence on synthetic complaint streams with known recurring and systemic patterns."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from store.recurrence import ComplaintItem, RecurrenceDetector, RecurrencePolicy

T0 = datetime(2024, 1, 1, 12, 0)


def item(i, day, topics=(), product=None, segment=None, text=""):
    return ComplaintItem(i, T0 + timedelta(days=day), tuple(topics), segment, product, text)


@pytest.fixture()
def det():
    return RecurrenceDetector(RecurrencePolicy(window_days=30, recurring_min=3, systemic_min_scopes=3))


def test_recurring_in_one_product(det):
    stream = [item(1, 0, ["delivery"], "pizza"), item(2, 5, ["delivery"], "pizza"), item(3, 9, ["delivery"], "pizza")]
    online = det.classify_stream(stream, propagate=False)
    assert [online[i].recurrence for i in (1, 2, 3)] == ["single", "single", "recurring"]
    assert online[3].related_ids == [1, 2] and online[3].topics == ["delivery"]
    final = det.classify_stream(stream)
    assert {i: r.recurrence for i, r in final.items()} == {1: "recurring", 2: "recurring", 3: "recurring"}
    assert final[1].related_ids == [3]  # earlier members link to the complaint that revealed the pattern


def test_window_and_scope_and_topic_separate_patterns(det):
    stream = [
        item(1, 0, ["delivery"], "pizza"),
        item(2, 5, ["delivery"], "pizza"),
        item(3, 45, ["delivery"], "pizza"),  # outside the 30-day window of 1 and 2... 2 is 40 days back
        item(4, 46, ["price"], "pizza"),  # another topic
        item(5, 47, ["delivery"], "burger"),  # another product
    ]
    res = det.classify_stream(stream)
    assert {i: r.recurrence for i, r in res.items()} == dict.fromkeys(range(1, 6), "single")
    assert all(r.related_ids == [] for r in res.values())


def test_systemic_across_products(det):
    stream = [
        item(1, 0, ["hygiene"], "pizza"),
        item(2, 2, ["hygiene"], "burger"),
        item(3, 4, ["hygiene", "price"], "kebab"),
        item(4, 6, ["price"], "kebab"),
    ]
    res = det.classify_stream(stream)
    assert res[3].recurrence == "systemic" and res[3].topics == ["hygiene"] and res[3].related_ids == [1, 2]
    assert res[1].recurrence == res[2].recurrence == "systemic"
    assert res[4].recurrence == "single"


def test_segment_is_the_scope_when_there_is_no_product(det):
    stream = [item(i, i, ["service"], segment=s) for i, s in enumerate(["vip", "vip", "vip", "b2b"], start=1)]
    res = det.classify_stream(stream, propagate=False)
    assert res[3].recurrence == "recurring" and res[4].recurrence == "single"
    assert det.scope_of(stream[0]) == "segment:vip" and det.scope_of(item(9, 0)) == "*"


def test_systemic_beats_recurring(det):
    stream = [
        item(1, 0, ["delivery"], "pizza"),
        item(2, 1, ["delivery"], "pizza"),
        item(3, 2, ["delivery"], "burger"),
        item(4, 3, ["delivery"], "kebab"),
        item(5, 4, ["delivery"], "pizza"),
    ]
    res = det.classify_stream(stream, propagate=False)
    assert [res[i].recurrence for i in range(1, 6)] == ["single", "single", "single", "systemic", "systemic"]


def test_near_duplicates_are_related_and_lend_their_topic(det):
    a = "غذا کاملا سرد بود و پیک یک ساعت دیر رسید"
    stream = [
        item(1, 0, ["delivery"], "pizza", text=a),
        item(2, 1, ["delivery"], "pizza", text="پیتزا خوشمزه بود"),
        item(3, 2, [], "pizza", text=a + "!!"),  # the model abstained on this one
    ]
    res = det.classify_stream(stream, propagate=False)
    assert res[3].duplicate_ids == [1]
    assert res[3].item_topics == ["delivery"]
    assert res[3].recurrence == "recurring" and res[3].related_ids == [1, 2]


@pytest.mark.parametrize(
    ("a", "b", "dup"),
    [
        ("غذا خیلی سرد بود و پیک دیر رسید", "غذا خیلی سرد بود و پیک خیلی دیر رسید!", True),
        ("غذا خیلی سرد بود و پیک دیر رسید", "غذا خیلی سرد بود، پیک هم دیر رسید", True),
        ("غذا خیلی سرد بود و پیک دیر رسید", "غذا سرد بود", False),
        ("نوشابه رو نفرستادن", "پیتزا خوشمزه بود ولی نوشابه نفرستادن", False),
    ],
)
def test_near_duplicate_table(det, a, b, dup):
    assert bool(det.similarities(a, [b])[0] >= det.policy.duplicate_threshold) is dup


def test_duplicate_groups(det):
    texts = {
        1: "سفارشم رو کامل نفرستادن نوشابه نبود",
        2: "پیک خیلی بی ادب بود",
        3: "سفارشم رو کامل نفرستادن، نوشابه نبود!",
        4: "پیک خیلی بی‌ادب بود",
        5: "قیمت ها خیلی بالا رفته",
        6: "سفارشم رو کامل نفرستادن و نوشابه نبود",
    }
    groups = det.duplicate_groups([item(i, 0, text=t) for i, t in texts.items()])
    assert groups == [[1, 3, 6], [2, 4]]


def test_planted_patterns_in_a_random_stream():
    """Background noise (many products, spread-out topics) plus one recurring and one systemic burst."""
    rng = random.Random(7)
    topics = ["delivery", "food_quality", "portion", "price", "packaging", "service"]
    products = [f"vendor{i}" for i in range(40)]
    stream, i = [], 0
    # background: one complaint every ~3 days, random topic and vendor → patterns are rare
    for day in range(0, 360, 3):
        i += 1
        stream.append(item(i, day + rng.random(), [rng.choice(topics)], rng.choice(products)))
    recurring_ids, systemic_ids = [], []
    for k in range(4):  # vendor-x: order_accuracy four times in 12 days
        i += 1
        recurring_ids.append(i)
        stream.append(item(i, 100 + 3 * k + 0.5, ["order_accuracy"], "vendor-x"))
    for k, vendor in enumerate(["vendor-a", "vendor-b", "vendor-c", "vendor-d"]):  # hygiene spreads
        i += 1
        systemic_ids.append(i)
        stream.append(item(i, 200 + 2 * k + 0.5, ["hygiene"], vendor))
    det = RecurrenceDetector(RecurrencePolicy(window_days=30, recurring_min=3, systemic_min_scopes=3))
    res = det.classify_stream(stream)
    assert {res[j].recurrence for j in recurring_ids} == {"recurring"}
    assert set(res[recurring_ids[-1]].related_ids) == set(recurring_ids[:-1])
    assert {res[j].recurrence for j in systemic_ids} == {"systemic"}
    planted = set(recurring_ids) | set(systemic_ids)
    # the background has no order_accuracy/hygiene, so nothing else may be linked to the plants
    assert all(not (set(r.related_ids) & planted) for j, r in res.items() if j not in planted)
