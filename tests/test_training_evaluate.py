"""training.evaluate: metric functions against hand-computed values, the --json schema, the binary rule."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from models.types import Analysis, SentimentResult, TopicResult
from training.data import Record
from training.evaluate import (
    Evaluation,
    accuracy,
    binary_probability,
    bootstrap_label_intervals,
    bootstrap_topic_intervals,
    confusion_matrix,
    evaluate,
    expected_calibration_error,
    macro_f1,
    multilabel_scores,
    per_label_scores,
    reliability_bins,
    worst_sentiment_errors,
    worst_topic_errors,
)


class FakeAnalyzer:
    """A hand-written analyser: each text maps to fixed scores and topics, so metrics are known exactly."""

    version = "fake-1"

    def __init__(self, table: dict[str, tuple[dict[str, float], dict[str, tuple[str, float, list[str]]]]]):
        self.table = table
        self.calls: list[int] = []

    def analyze(self, texts: Sequence[str], batch_size: int = 256) -> list[Analysis]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            scores, topics = self.table[text]
            label = max(scores, key=scores.__getitem__)
            out.append(Analysis(
                clean_text=text.replace("09121234567", "[PHONE]"),
                pii=[],
                sentiment=SentimentResult(label, dict(scores)),
                topics=[TopicResult(t, f"fa-{t}", score, pol, list(ev)) for t, (pol, score, ev) in topics.items()],
                abstained=not topics,
                model=self.version,
            ))
        return out


# ---------------------------------------------------------------- metric functions, by hand

GOLD = ["neg", "neg", "pos", "pos", "neu"]
PRED = ["neg", "pos", "pos", "pos", "neg"]


def test_confusion_and_per_label_by_hand() -> None:
    m = confusion_matrix(GOLD, PRED, ["neg", "neu", "pos"])
    assert m.tolist() == [[1, 0, 1], [1, 0, 0], [0, 0, 2]]
    scores = per_label_scores(GOLD, PRED, ["neg", "neu", "pos"])
    # neg: tp 1, fp 1 (neu->neg), fn 1 (neg->pos); pos: tp 2, fp 1, fn 0; neu never predicted
    assert scores["neg"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert scores["neu"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["pos"]["precision"] == pytest.approx(2 / 3)
    assert scores["pos"]["recall"] == 1.0 and scores["pos"]["f1"] == pytest.approx(0.8)
    assert accuracy(GOLD, PRED) == pytest.approx(0.6)
    assert macro_f1(GOLD, PRED, ["neg", "neu", "pos"]) == pytest.approx((0.5 + 0 + 0.8) / 3)
    # a label neither in gold nor predicted says nothing and stays out of the macro average
    assert macro_f1(["neg", "pos"], ["neg", "neg"], ["neg", "neu", "pos"]) == pytest.approx((2 / 3 + 0) / 2)


def test_ece_by_hand() -> None:
    conf = [0.9, 0.8, 0.6, 0.55]
    correct = [True, False, True, True]
    # four single-row bins: |1-.9| + |0-.8| + |1-.6| + |1-.55|, each weighted 1/4
    assert expected_calibration_error(conf, correct) == pytest.approx((0.1 + 0.8 + 0.4 + 0.45) / 4)
    assert expected_calibration_error([0.75, 0.75, 0.75, 0.75], [True, True, True, False]) == pytest.approx(0.0)
    bins = reliability_bins([1.0, 0.0, 0.05], [True, False, True])
    assert bins[-1]["n"] == 1 and bins[0]["n"] == 2  # 1.0 lands in the last (closed) bin
    assert bins[0]["accuracy"] == 0.5 and bins[0]["confidence"] == pytest.approx(0.025)
    assert expected_calibration_error([], []) == 0.0


def test_multilabel_by_hand() -> None:
    gold = [{"a"}, {"a", "b"}, set(), {"b"}]
    pred = [{"a"}, {"b"}, {"a"}, set()]
    s = multilabel_scores(gold, pred)
    # a: tp 1, fp 1, fn 1; b: tp 1, fp 0, fn 1; micro: tp 2, fp 1, fn 2
    assert s["per_topic"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert s["per_topic"]["b"]["precision"] == 1.0 and s["per_topic"]["b"]["f1"] == pytest.approx(2 / 3)
    assert s["micro_f1"] == pytest.approx(4 / 7)
    assert s["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)


@pytest.mark.parametrize(
    ("scores", "p"),
    [({"neg": 0.2, "neu": 0.6, "pos": 0.2}, 0.5), ({"neg": 0.1, "neu": 0.7, "pos": 0.2}, 2 / 3),
     ({"neg": 0.0, "neu": 1.0, "pos": 0.0}, 0.5), ({"neg": 0.9, "pos": 0.1}, 0.1)],
)
def test_binary_probability(scores: dict, p: float) -> None:
    assert binary_probability(scores) == pytest.approx(p)


# ---------------------------------------------------------------- evaluate(): schema and rules

SCHEMA_SENTIMENT = {"n", "labels", "accuracy", "macro_f1", "per_label", "ece"}
SCHEMA_TOPICS = {"n", "micro_f1", "macro_f1", "per_topic"}
SCHEMA_POLARITY = {"n", "accuracy", "macro_f1"}
SCHEMA_CELL = {"precision", "recall", "f1", "support"}


def test_binary_data_compares_pos_and_neg_scores_only() -> None:
    # "b" has neu as the model's label, but pos > neg: on binary data it counts as pos (correct).
    fake = FakeAnalyzer({
        "a": ({"neg": 0.8, "neu": 0.1, "pos": 0.1}, {}),
        "b": ({"neg": 0.1, "neu": 0.6, "pos": 0.3}, {}),
        "c": ({"neg": 0.3, "neu": 0.3, "pos": 0.4}, {}),
        "d": ({"neg": 0.45, "neu": 0.1, "pos": 0.45}, {}),
    })
    records = [Record("1", "a", "neg"), Record("2", "b", "pos"), Record("3", "c", "neg"), Record("4", "d", "pos")]
    out = evaluate(fake, records)
    assert set(out) == {"n", "sentiment"} and out["n"] == 4
    s = out["sentiment"]
    assert set(s) == SCHEMA_SENTIMENT and s["labels"] == ["neg", "pos"] and set(s["per_label"]) == {"neg", "pos"}
    # predictions: neg, pos, pos (0.4/0.7 > .5), neg (tie 0.5 -> neg) => correct, correct, wrong, wrong
    assert s["n"] == 4 and s["accuracy"] == pytest.approx(0.5)
    assert s["per_label"]["pos"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    conf = [8 / 9, 3 / 4, 4 / 7, 0.5]
    assert s["ece"] == pytest.approx(expected_calibration_error(conf, [True, True, False, False]))
    assert s["ece"] == pytest.approx((1 - 8 / 9 + 1 - 3 / 4 + 4 / 7 + 0.5) / 4)


def test_three_class_data_uses_the_model_label_and_its_score() -> None:
    fake = FakeAnalyzer({
        "a": ({"neg": 0.1, "neu": 0.7, "pos": 0.2}, {}),
        "b": ({"neg": 0.6, "neu": 0.3, "pos": 0.1}, {}),
    })
    s = evaluate(fake, [Record("1", "a", "neu"), Record("2", "b", "pos")])["sentiment"]
    assert s["labels"] == ["neg", "neu", "pos"] and s["accuracy"] == 0.5
    assert s["ece"] == pytest.approx((abs(1 - 0.7) + abs(0 - 0.6)) / 2)
    assert s["macro_f1"] == pytest.approx((0 + 1 + 0) / 3)  # neg (predicted), neu, pos (gold) all seen


def topic_fixture() -> tuple[FakeAnalyzer, list[Record]]:
    fake = FakeAnalyzer({
        "پیک دیر رسید": ({"neg": 0.9, "neu": 0.05, "pos": 0.05}, {"delivery": ("neg", 0.95, ["دیر رسید"])}),
        "غذا سرد بود و گران": ({"neg": 0.7, "neu": 0.2, "pos": 0.1},
                              {"food_quality": ("neg", 0.8, ["سرد"]), "price": ("pos", 0.6, ["گران"])}),
        "خوب بود": ({"neg": 0.1, "neu": 0.2, "pos": 0.7}, {}),
        "بسته بندی عالی 09121234567": ({"neg": 0.2, "neu": 0.1, "pos": 0.7}, {"delivery": ("pos", 0.55, ["عالی"])}),
        "بدون برچسب موضوع": ({"neg": 0.2, "neu": 0.2, "pos": 0.6}, {"service": ("pos", 0.9, ["برچسب"])}),
    })
    records = [
        Record("1", "پیک دیر رسید", "neg", {"delivery": "neg"}),
        Record("2", "غذا سرد بود و گران", "neg", {"food_quality": "neg", "price": "neg"}),
        Record("3", "خوب بود", "pos", {}),
        Record("4", "بسته بندی عالی 09121234567", "pos", {"packaging": "pos"}),
        Record("5", "بدون برچسب موضوع", None, None),  # not annotated for topics: must not count
    ]
    return fake, records


def test_topics_and_topic_polarity_by_hand() -> None:
    fake, records = topic_fixture()
    out = evaluate(fake, records)
    assert set(out) == {"n", "sentiment", "topics", "topic_polarity"} and out["n"] == 5
    t, p = out["topics"], out["topic_polarity"]
    assert set(t) == SCHEMA_TOPICS and set(p) == SCHEMA_POLARITY
    assert all(set(v) == SCHEMA_CELL for v in t["per_topic"].values())
    assert t["n"] == 4  # record 5 has no topics key
    assert "service" not in t["per_topic"]  # predicted only on the unannotated row
    # delivery: tp 1 (row 1), fp 1 (row 4); food_quality tp 1; price tp 1; packaging fn 1
    assert t["per_topic"]["delivery"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert t["per_topic"]["packaging"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert t["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # tp 3, fp 1, fn 1
    assert t["macro_f1"] == pytest.approx((2 / 3 + 1 + 1 + 0) / 4)
    # polarity on gold topics found: delivery neg/neg, food_quality neg/neg, price neg/pos
    assert p["n"] == 3 and p["accuracy"] == pytest.approx(2 / 3)
    assert p["macro_f1"] == pytest.approx((0.8 + 0) / 2)  # neg: p 1, r 2/3 -> .8; pos: 0
    assert out["sentiment"]["n"] == 4 and out["sentiment"]["labels"] == ["neg", "pos"]
    json.dumps(out)  # plain JSON types only


def test_sections_only_when_labelled_and_batching() -> None:
    fake, records = topic_fixture()
    unlabelled = [Record(r.id, r.text) for r in records]
    assert evaluate(fake, unlabelled) == {"n": 5}
    only_topics = [Record(r.id, r.text, None, r.topics) for r in records]
    assert set(evaluate(fake, only_topics)) == {"n", "topics", "topic_polarity"}
    nothing_found = FakeAnalyzer({k: (v[0], {}) for k, v in fake.table.items()})
    out = evaluate(nothing_found, only_topics)
    assert out["topic_polarity"] == {"n": 0, "accuracy": None, "macro_f1": None}
    assert out["topics"]["micro_f1"] == 0.0
    assert nothing_found.calls == [5]  # one batch through the public analyze()


def test_empty_records_is_a_user_error() -> None:
    from nlp.errors import BazkhordError

    with pytest.raises(BazkhordError) as exc:
        evaluate(FakeAnalyzer({}), [])
    assert exc.value.code == "data.empty"


# ---------------------------------------------------------------- bootstrap and worst errors


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible() -> None:
    rng = np.random.default_rng(1)
    gold = list(rng.choice(["neg", "pos"], 300))
    pred = [g if rng.random() < 0.8 else ("pos" if g == "neg" else "neg") for g in gold]
    ci = bootstrap_label_intervals(gold, pred, ["neg", "pos"], n_boot=400, seed=3)
    acc = accuracy(gold, pred)
    assert ci["accuracy"][0] < acc < ci["accuracy"][1]
    assert 0.02 < ci["accuracy"][1] - ci["accuracy"][0] < 0.2  # about ±1.96·sqrt(.8·.2/300)
    f1 = per_label_scores(gold, pred, ["neg", "pos"])["pos"]["f1"]
    assert ci["per_label"]["pos"]["f1"][0] < f1 < ci["per_label"]["pos"]["f1"][1]
    assert ci == bootstrap_label_intervals(gold, pred, ["neg", "pos"], n_boot=400, seed=3)
    tci = bootstrap_topic_intervals([{"a"}, {"a", "b"}, set(), {"b"}] * 25, [{"a"}, {"b"}, {"a"}, set()] * 25,
                                    ["a", "b"], n_boot=300)
    assert tci["micro_f1"][0] < 4 / 7 < tci["micro_f1"][1]


def test_worst_errors_rank_confident_mistakes_first_and_use_masked_text() -> None:
    fake, records = topic_fixture()
    records[0].sentiment = "pos"  # row 1 now wrong with confidence .9/.95
    records[3].sentiment = "neg"  # row 4 wrong with confidence .7/.9
    from training.evaluate import run_evaluation

    ev = run_evaluation(fake, records)
    worst = worst_sentiment_errors(ev)
    assert [w["id"] for w in worst] == ["1", "4"]
    assert worst[1]["clean_text"] == "بسته بندی عالی [PHONE]"
    assert worst[0]["topics"][0]["evidence"] == ["دیر رسید"]
    topic_errs = worst_topic_errors(ev)
    assert {e["id"] for e in topic_errs} == {"4"}
    assert topic_errs[0]["missed"] == ["packaging"] and topic_errs[0]["spurious"][0]["topic"] == "delivery"
    assert isinstance(ev, Evaluation) and ev.model == "fake-1"
