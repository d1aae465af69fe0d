"""Unit tables for the models layer: taxonomy, seed labels, context windows, evidence, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from models.coldstart import SeedLabeler
from models.estimators import SentimentClassifier, TopicClassifier, context_window, fit_temperature, softmax
from models.features import TextVectorizer, top_word_evidence
from models.taxonomy import Taxonomy
from nlp.errors import BazkhordError

TAX = Taxonomy.from_dict(
    {
        "name": "t",
        "topics": [
            {"id": "delivery", "label_fa": "ارسال و پیک", "seeds": ["پیک", "دیر رسید"]},
            {"id": "price", "label_fa": "قیمت", "seeds": ["گران", "قیمت"]},
        ],
    }
)


def test_taxonomy_roundtrip_and_labels(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(
        "name: food\ntopics:\n  - id: delivery\n    label_fa: ارسال و پیک\n    seeds: [پیک, تاخیر]\n"
        "  - id: price\n    label_fa: قیمت\n",
        encoding="utf-8",
    )
    tax = Taxonomy.load(p)
    assert tax.ids == ["delivery", "price"]
    assert tax.label_fa("delivery") == "ارسال و پیک"
    assert tax.get("delivery").seeds == ("پیک", "تاخیر")
    assert Taxonomy.from_dict(tax.to_dict()) == tax


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x"},
        {"topics": [{"id": "a b"}]},
        {"topics": [{"id": "a"}, {"id": "a"}]},
        {"topics": ["delivery"]},
    ],
)
def test_taxonomy_invalid(data):
    with pytest.raises(BazkhordError) as e:
        Taxonomy.from_dict(data)
    assert e.value.code == "taxonomy.invalid"


def test_taxonomy_missing_file(tmp_path):
    with pytest.raises(BazkhordError) as e:
        Taxonomy.load(tmp_path / "nope.yaml")
    assert e.value.code == "taxonomy.not_found"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("پیک خیلی بی ادب بود", [1, 0]),
        ("غذا دیر رسید و گران بود", [1, 1]),
        ("دیر شد ولی رسید", [0, 0]),  # a two-word seed must occur as that word sequence
        ("قیمتش مناسب بود", [0, 0]),  # whole words only
        ("عالی بود", [0, 0]),
    ],
)
def test_seed_labeler(text, expected):
    assert SeedLabeler(TAX).label([text])[0].tolist() == expected


@pytest.mark.parametrize(
    ("text", "cues", "width", "expected"),
    [
        ("غذا خوب بود ولی پیک خیلی دیر آمد و بی ادب بود", {"پیک"}, 2, "بود ولی پیک خیلی دیر آمد"),
        ("عالی بود", {"پیک"}, 2, "عالی بود"),  # no cue: the whole text
        ("قیمت بالا بود اما کیفیت خوب", {"کیفیت خوب"}, 1, "اما کیفیت خوب"),  # bigram cue
    ],
)
def test_context_window(text, cues, width, expected):
    assert context_window(text, frozenset(cues), width) == expected


def test_evidence_picks_present_phrases_and_skips_stopwords():
    texts = ["پیک دیر رسید", "غذا خوب بود", "پیک خوب بود", "غذا دیر رسید"] * 5
    vec = TextVectorizer(min_df=1).fit(texts)
    X = vec.transform(["پیک دیر رسید و غذا سرد بود"])
    names = vec.word_names()
    w = np.zeros(X.shape[1])
    w[list(names).index("دیر رسید")] = 3.0
    w[list(names).index("پیک")] = 1.0
    w[list(names).index("بود")] = 2.0
    assert top_word_evidence(vec, X[0], w, k=3, skip=frozenset({"بود"})) == ["دیر رسید", "پیک"]


def test_temperature_recovers_sharpening():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    p = softmax(true_logits)
    y = np.array([rng.choice(3, p=row) for row in p])
    t = fit_temperature(true_logits * 3, y)  # over-confident logits need T close to 3
    assert 2.4 < t < 3.6


def test_sentiment_absent_class_has_zero_probability():
    texts = ["خیلی خوب بود", "عالی بود", "بد بود", "افتضاح بود"] * 10
    vec = TextVectorizer(min_df=1).fit(texts)
    clf = SentimentClassifier(calibration_folds=2).fit(vec.transform(texts), ["pos", "pos", "neg", "neg"] * 10)
    p = clf.predict_proba(vec.transform(["خوب بود", "بد بود"]))
    assert np.allclose(p.sum(axis=1), 1)
    assert np.all(p[:, 1] == 0)  # neu never seen
    assert list(clf.predict(vec.transform(["عالی", "افتضاح"]))) == ["pos", "neg"]


def test_topic_without_examples_is_never_predicted():
    texts = ["پیک دیر رسید", "پیک بی ادب بود", "غذا خوب بود", "ممنون"] * 10
    Y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]] * 10)
    vec = TextVectorizer(min_df=1).fit(texts)
    clf = TopicClassifier(folds=3).fit(vec.transform(texts), Y)
    P = clf.predict_proba(vec.transform(["پیک دیر رسید", "گران بود"]))
    assert P[0, 0] > 0.5 and np.all(P[:, 1] == 0)
    assert not clf.predict(vec.transform(texts))[:, 1].any()


def test_nb_scaling_is_folded_into_the_weights():
    from sklearn.linear_model import LogisticRegression

    from models.estimators import nb_scale

    texts = ["غذا خوب و داغ بود", "عالی بود ممنون", "غذا سرد و بد بود", "افتضاح بود پیک دیر آمد"] * 10
    y = ["pos", "pos", "neg", "neg"] * 10
    vec = TextVectorizer(min_df=1).fit(texts)
    X = vec.transform(texts)
    yi = np.array([v == "pos" for v in y], dtype=int)
    s = nb_scale(X, yi)
    names = list(vec.word_names())
    # a word of one class only weighs more than a word both classes use
    assert s[names.index("عالی")] > s[names.index("بود")]
    clf = SentimentClassifier(C=1.0, calibration_folds=0).fit(X, y)
    ref = LogisticRegression(C=1.0, max_iter=2000).fit(X.multiply(s).tocsr(), yi)
    # the stored linear model on raw features equals the one fitted on scaled features
    z = clf.decision_function(X)
    assert np.allclose(z[:, 2] - z[:, 0], ref.decision_function(X.multiply(s).tocsr()), atol=1e-3)


def test_seed_prior_scales_only_seed_ngrams():
    from models.training_api import seed_scale

    texts = ["پیک دیر رسید", "قیمت بالا بود", "غذا خوب بود", "ممنون"] * 5
    vec = TextVectorizer(min_df=1).fit(texts)
    S = seed_scale(vec, TAX, lambda s: s, 3.0)
    names = list(vec.word_names())
    assert S[0, names.index("پیک")] == 3.0 and S[0, names.index("دیر رسید")] == 3.0
    assert S[1, names.index("قیمت")] == 3.0 and S[1, names.index("پیک")] == 1.0
    assert (S == 3.0).sum() == 3  # "گران" is not in the vocabulary
    clf = TopicClassifier(folds=2).fit(vec.transform(texts), np.array([[1, 0], [0, 1], [0, 0], [0, 0]] * 5),
                                       feature_scale=S)
    assert list(clf.predict(vec.transform(["پیک دیر رسید"]))[0]) == [True, False]
