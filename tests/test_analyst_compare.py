"""Model comparison: hand-computed F1 values and paired bootstrap intervals."""

from __future__ import annotations

import pytest

from models.types import Analysis, SentimentResult, TopicResult
from training.compare import compare
from training.data import Record


def rec(i, topics, sentiment):
    return Record(id=str(i), text=f"متن {i}", sentiment=sentiment, topics=topics)


def ana(topics, sentiment):
    return Analysis(clean_text="", pii=[], sentiment=SentimentResult(sentiment, {sentiment: 1.0}),
                    topics=[TopicResult(t, t, 0.9, "neg") for t in topics], abstained=not topics, model="m")


GOLD = [
    rec(1, {"delivery": "neg"}, "neg"),
    rec(2, {"delivery": "neg", "price": "neg"}, "neg"),
    rec(3, {}, "pos"),
    rec(4, {"price": "pos"}, "pos"),
    rec(5, None, "neu"),  # not annotated for topics: counts for sentiment only
]
NEW = [ana(["delivery"], "neg"), ana(["delivery", "price"], "neg"), ana([], "pos"), ana(["price"], "pos"),
       ana(["price"], "neu")]
OLD = [ana([], "neg"), ana(["delivery"], "pos"), ana(["price"], "pos"), ana(["price"], "pos"), ana([], "pos")]


def test_hand_computed_scores_and_deltas():
    out = compare(GOLD, NEW, OLD, topic_ids=["delivery", "price", "hygiene"], n_boot=500)
    m, per = out["metrics"], out["per_label"]
    # old topics: delivery tp1 fn1 → F1 2/3; price tp1 fp1 fn1 → F1 0.5; micro tp2 fp1 fn2 → 4/7
    assert per["topic:delivery"]["old"] == pytest.approx(0.6667, abs=1e-4)
    assert per["topic:price"]["old"] == 0.5
    assert m["topics.micro_f1"]["new"] == 1.0 and m["topics.micro_f1"]["old"] == pytest.approx(4 / 7, abs=1e-4)
    assert m["topics.micro_f1"]["support"] == 4
    assert per["topic:hygiene"]["support"] == 0
    # macro over three labels: hygiene has no gold and no prediction → 0 for both
    assert m["topics.macro_f1"]["new"] == pytest.approx(2 / 3, abs=1e-4)
    # sentiment: old is right on 1, 3, 4 of 5 → accuracy 0.6; new perfect
    acc = m["sentiment.accuracy"]
    assert (acc["new"], acc["old"], acc["delta"], acc["support"]) == (1.0, 0.6, 0.4, 5)
    assert per["sentiment:neu"]["old"] == 0.0 and per["sentiment:neu"]["new"] == 1.0
    for entry in (m["topics.micro_f1"], m["sentiment.accuracy"], per["topic:delivery"]):
        assert entry["ci_low"] <= entry["delta"] <= entry["ci_high"]
        assert entry["ci_low"] >= 0.0  # new is never worse on any resample of these examples


def test_same_model_gives_zero_interval_and_no_old_gives_no_delta():
    same = compare(GOLD, NEW, NEW, n_boot=200)
    assert all(e["delta"] == 0 and e["ci_low"] == 0 and e["ci_high"] == 0 for e in same["metrics"].values())
    alone = compare(GOLD, OLD, None, n_boot=200)
    assert "delta" not in alone["metrics"]["topics.micro_f1"]
    assert alone["metrics"]["sentiment.accuracy"]["new"] == 0.6


def test_split_gold_is_stable_and_sized():
    from training.retrain import restrict_topics, split_gold

    recs = [rec(i, {"delivery": "neg"}, "neg") for i in range(50)]
    train, held = split_gold(recs, 0.2, seed=0)
    assert len(held) == 10 and len(train) == 40 and not {r.id for r in held} & {r.id for r in train}
    # ten more labels: most of the held-out slice stays the same
    _, held_more = split_gold(recs + [rec(i, {}, "pos") for i in range(50, 60)], 0.2, seed=0)
    assert len({r.id for r in held} & {r.id for r in held_more}) >= 8
    assert split_gold(recs[:3], 0.5)[0]  # never holds out everything
    kept = restrict_topics([rec(1, {"delivery": "neg", "gone": "pos"}, "neg"), rec(2, None, "pos")], {"delivery"})
    assert kept[0].topics == {"delivery": "neg"} and kept[1].topics is None
