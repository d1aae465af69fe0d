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


def reference_stream(det, items):
    """classify_stream as a plain scan of the window (the definition the index must reproduce)."""
    from dataclasses import replace

    from store.recurrence import lift

    results, seen, times = {}, [], []
    det.prime(items)
    for it in sorted(items, key=lambda i: (i.at, i.id)):
        res = det.classify(it, det.window_slice(it, seen, times))
        results[it.id] = res
        for rid in res.related_ids:
            lift(results[rid], res.recurrence, it.id, res.topics, det.policy.max_related)
        if not it.topics and res.item_topics:
            it = replace(it, topics=tuple(res.item_topics))
        seen.append(it)
        times.append(it.at)
    return results


@pytest.mark.parametrize("seed", range(6))
def test_indexed_classification_equals_the_window_scan(seed):
    """Random streams (time ties, global scope, many scopes, abstained near-duplicates, truncated lists)."""
    rng = random.Random(seed)
    topics = ["delivery", "food_quality", "price", "hygiene"]
    n_products = [3, 100][seed % 2]  # > HistoryIndex.SCOPE_SCAN distinct scopes on odd seeds
    phrases = ["غذا سرد بود و پیک دیر رسید", "قیمت ها خیلی بالا رفته", "سوسک توی غذا بود", "بسته بندی پاره بود"]
    stream = []
    for i in range(1, 300):
        day = rng.choice([rng.uniform(0, 90), float(rng.randint(0, 90))])  # many exact time ties
        product = rng.choice([None, None, *[f"p{k}" for k in range(n_products)]])
        segment = rng.choice([None, "vip", "b2c"])
        tps = rng.sample(topics, rng.choice([0, 1, 1, 2]))
        text = rng.choice(["", rng.choice(phrases) + "!" * rng.randint(0, 2), f"متن شماره {rng.randint(0, 50)} درباره سفارش"])
        stream.append(item(i, day, tps, product, segment, text))
    policy = RecurrencePolicy(window_days=rng.choice([5, 30]), recurring_min=rng.choice([2, 3]),
                              systemic_min_scopes=rng.choice([1, 3, 4]), max_related=rng.choice([5, 50]),
                              duplicate_candidates=rng.choice([7, 300]))
    want = reference_stream(RecurrenceDetector(policy), stream)
    det = RecurrenceDetector(policy)
    if seed % 3 == 0:
        det.PLAN_MAX_ROWS = 0  # similarities per item instead of per chunk of items
    got = det.classify_stream(stream)
    assert {i: r.to_dict() for i, r in got.items()} == {i: r.to_dict() for i, r in want.items()}
    assert len({r.recurrence for r in got.values()}) >= 2 and any(r.duplicate_ids for r in got.values())


def test_scopes_hidden_behind_many_recent_members_still_count(det):
    """Two vendors early in the window, then 80 complaints of a third: the topic is systemic."""
    stream = [item(1, 0, ["hygiene"], "a"), item(2, 0.5, ["hygiene"], "b")]
    stream += [item(i, 1 + i / 100, ["hygiene"], "c") for i in range(3, 83)]
    res = det.classify_stream(stream)
    assert res[82].recurrence == "systemic" and res[82].topics == ["hygiene"]
    assert len(res[82].related_ids) == det.policy.max_related and res[82].related_ids[-1] == 81
    assert {i: r.to_dict() for i, r in res.items()} == {i: r.to_dict() for i, r in reference_stream(det, stream).items()}


def test_replay_lifts_equals_lift_calls():
    from store.recurrence import RecurrenceResult, lift, replay_lifts

    rng = random.Random(3)
    for _ in range(200):
        start = rng.choice([None, "single", "recurring", "systemic"])
        related = sorted(rng.sample(range(100), rng.randint(0, 6))) if rng.random() < 0.8 else None
        ops = [(rng.choice(["single", "recurring", "systemic"]), rng.randint(0, 120), ["t"]) for _ in range(rng.randint(0, 12))]
        want = RecurrenceResult(start or "single", list(related or []))
        for to, new_id, topics in ops:
            lift(want, to, new_id, topics, 8)
        got = replay_lifts(start, related, ops, 8)
        assert got == ((want.recurrence, want.related_ids) if ops else (start, related))


def test_an_index_grown_by_adds_in_any_order_equals_one_built_at_once():
    """``HistoryIndex.add`` keeps (at, id) order, ties included, whatever order items come in (the intake
    decided before its write turn adds the records committed meanwhile, some older than those it read)."""
    from store.recurrence import HistoryIndex, classify_intake_indexed, reclassify_one

    rnd = random.Random(5)
    items = [ComplaintItem(i, T0 + timedelta(hours=rnd.choice([0, 1, 1, 2, 3])), (rnd.choice(["a", "b"]),),
                           rnd.choice([None, "v1", "v2"]), None, rnd.choice(["", "دیر رسید", "سرد بود"]))
             for i in range(1, 40)]
    detector = RecurrenceDetector(RecurrencePolicy(recurring_min=2))
    whole = HistoryIndex(detector, items)
    grown = HistoryIndex(detector, items[:10])
    for it in rnd.sample(items[10:], len(items) - 10):
        grown.add(it)
    assert [i.id for i in grown.items] == [i.id for i in whole.items]
    assert [i.id for i in grown.text_items] == [i.id for i in whole.text_items]
    assert {t: [i.id for i in line.items] for t, line in grown.topic.items()} == \
        {t: [i.id for i in line.items] for t, line in whole.topic.items()}
    # and classifying a new item from the grown index gives what the whole window gives
    new = ComplaintItem(100, T0 + timedelta(hours=3), ("a",), "v1", None, "دیر رسید")
    want = classify_intake_indexed([new], items, detector.policy)[:2]
    _, _, index = classify_intake_indexed([new], items[:10], detector.policy)
    got = reclassify_one(index, new, rnd.sample(items[10:], len(items) - 10))
    assert {k: v.to_dict() for k, v in got[0].items()} == {k: v.to_dict() for k, v in want[0].items()}
    assert got[1] == want[1]
