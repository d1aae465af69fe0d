"""The fast inference path gives exactly what a straightforward computation gives.

Reference: sklearn's own ``TfidfVectorizer.transform`` for the features, the estimators' own
``predict_proba`` / ``features`` / ``predict`` on them, and the plain per-hit evidence loop, on real
comments and on texts chosen to hit the edge cases of the per-chunk caches (case folding, every kind
of white space, half-spaces, repeated words, empty texts).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from models.features import (
    SMALL_BATCH,
    TextVectorizer,
    hstack_dense_onehot,
    top_word_evidence,
    top_word_evidence_batch,
)
from models.types import SENTIMENTS
from nlp import stopwords
from tests.apiutil import load_test_analyzer

EDGE_TEXTS = [
    "",
    "   ",
    "غذا",
    "غذا غذا غذا خیلی خیلی سرد بود",
    "پیک خیلی دیر رسید و غذا سرد بود، شماره من [PHONE] است",
    "ΟΔΟΣ ΚΑΛΟΣ İstanbul ÀB",  # case folding that depends on context or changes length
    "غذا\tسرد\nبود\u00a0ولی\u2003پیک\u2028خوب\x1cبود",  # white space of every kind
    "می\u200cخواهم \u200cکتاب\u200c ها",  # half-spaces inside and at the edges of words
    "food was COLD, cold!! 4.5 ۴.۵ 😀😀",
    "a-b c_d e.f" * 3,
]


class _SklearnWords:
    """A vectorizer whose word part is sklearn's own transform (reference for the polarity features)."""

    def __init__(self, vec: TextVectorizer):
        self._vec = vec

    def transform_words(self, texts):
        return self._vec.parts()[0].transform(list(texts))

    def __getattr__(self, name):
        return getattr(self._vec, name)


def _reference_evidence(vec: TextVectorizer, row: sp.csr_matrix, weights: np.ndarray, skip, k: int = 3) -> list[str]:
    n_word = vec.n_word_features_
    idx, vals = row.indices, row.data
    mask = idx < n_word
    idx, vals = idx[mask], vals[mask]
    contrib = vals * weights[idx]
    out: list[str] = []
    for j in np.argsort(-contrib, kind="stable"):
        if contrib[j] <= 0 or len(out) >= k:
            break
        phrase = str(vec.word_names()[idx[j]])
        if all(w in skip for w in phrase.split()) or any(phrase in p for p in out):
            continue
        out = [p for p in out if p not in phrase]
        out.append(phrase)
    return out


@pytest.fixture(scope="module")
def analyzer():
    return load_test_analyzer()  # the session's shared analyser (the bundled model when it loads)


@pytest.fixture(scope="module")
def texts(data_dir):
    with (data_dir / "snappfood" / "dev.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line)["text"] for _, line in zip(range(300), fh, strict=False)]
    return rows + EDGE_TEXTS


def _same_csr(a: sp.csr_matrix, b: sp.csr_matrix) -> None:
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert a.dtype == b.dtype == np.float32
    assert np.allclose(a.data, b.data, rtol=0, atol=1e-7)


def test_features_equal_sklearn_transform(analyzer, texts):
    vec = analyzer.predictor.vectorizer
    docs = analyzer.pipeline.process_batch(texts)
    for batch in ([d.text for d in docs], texts):  # clean texts (what models see) and raw ones
        word, char = vec.parts()
        ref = sp.hstack([word.transform(batch), char.transform(batch)], format="csr")
        for _ in range(2):  # cold, then warm per-chunk caches
            _same_csr(vec.transform(batch), ref)
            _same_csr(vec.transform_words(batch), word.transform(batch))
            _same_csr(vec.transform_chars(batch), char.transform(batch))
        _same_csr(vec.transform(batch[:1]), ref[:1])
        for n in (2, 5, SMALL_BATCH, SMALL_BATCH + 1):  # the few-texts bookkeeping and the vectorized one
            for part in (slice(0, n), slice(len(batch) - n, len(batch))):  # real comments, then the edge cases
                _same_csr(vec.transform(batch[part]), ref[part])
                _same_csr(vec.transform_words(batch[part]), word.transform(batch[part]))
                _same_csr(vec.transform_chars(batch[part]), char.transform(batch[part]))


def test_predict_matches_reference(analyzer, texts):
    _check_predict(analyzer, texts)
    for start in range(0, 60, 4):  # batches of a few texts (and of a few topic hits) take other paths
        _check_predict(analyzer, texts[start:start + 4], min_hits=1)
    _check_predict(analyzer, EDGE_TEXTS, min_hits=1)


def _check_predict(analyzer, texts, min_hits: int | None = None):
    pred = analyzer.predictor
    vec = pred.vectorizer
    docs = analyzer.pipeline.process_batch(texts)
    clean = [d.text for d in docs]
    fast = pred.predict(docs)

    word, char = vec.parts()
    X = sp.hstack([word.transform(clean), char.transform(clean)], format="csr")
    sent = pred.sentiment.predict_proba(X)
    proba = pred.topics.predict_proba(X)
    hits = np.argwhere((proba >= pred.topics.thresholds_) & pred.topics.seen_)
    if pred.polarity is not None and len(hits):
        F = pred.polarity.features(_SklearnWords(vec), [clean[i] for i, _ in hits], [int(t) for _, t in hits],
                                   sent[hits[:, 0]])
        pols = list(pred.polarity.predict(F))
    else:
        pols = [SENTIMENTS[int(sent[i].argmax())] for i, _ in hits]
    # the real comments do hit topics: the comparison is not vacuous
    assert len(hits) >= (len(texts) // 2 + 1 if min_hits is None else min_hits)
    expected: list[list[tuple]] = [[] for _ in clean]
    for (i, t), pol in zip(hits, pols, strict=True):
        ev = _reference_evidence(vec, X[i], pred.topics.coef_[t], stopwords())
        expected[i].append((pred.taxonomy.ids[t], float(proba[i, t]), str(pol), ev))

    for i, (s, topics, abstained) in enumerate(fast):
        assert s.label == SENTIMENTS[int(sent[i].argmax())]
        assert np.allclose([s.scores[c] for c in SENTIMENTS], sent[i], rtol=0, atol=1e-6)
        exp = sorted(expected[i], key=lambda e: -e[1])
        assert [(r.topic, r.sentiment, r.evidence) for r in topics] == [(e[0], e[2], e[3]) for e in exp]
        assert np.allclose([r.score for r in topics], [e[1] for e in exp], rtol=0, atol=1e-6)
        assert abstained == (not exp)


def test_polarity_scores_without_feature_matrix_are_bit_identical(analyzer, texts):
    pred = analyzer.predictor
    if pred.polarity is None:
        pytest.skip("model without a polarity head")
    clean = [d.text for d in analyzer.pipeline.process_batch(texts, tokenize=False)]
    X = pred.vectorizer.transform(clean)
    sent = pred.sentiment.predict_proba(X)
    sent[::7, 1] = 0.0  # zero sentiment columns are left out of the feature matrix
    hits = np.argwhere((pred.topics.predict_proba(X) >= pred.topics.thresholds_) & pred.topics.seen_)
    args = (pred.vectorizer, [clean[i] for i, _ in hits], [int(t) for _, t in hits], sent[hits[:, 0]])
    F = pred.polarity.features(*args)
    want = np.asarray(F @ pred.polarity.coef_.T) + pred.polarity.intercept_
    assert np.array_equal(pred.polarity.decision_windows(*args), want)
    assert pred.polarity.predict_windows(*args) == pred.polarity.predict(F).tolist()


def test_one_text_equals_batch(analyzer, texts):
    sample = texts[:40] + EDGE_TEXTS
    batch = [a.to_dict() for a in analyzer.analyze(sample)]
    assert [analyzer.analyze_one(t).to_dict() for t in sample] == batch


def test_batch_evidence_equals_per_hit_evidence_with_ties():
    # Tied contributions: the batch path must keep top_word_evidence's order, which for ties is
    # column order. A 20-word text whose words and bigrams all have the same tf-idf, under equal
    # weights, ties 39 features.
    long = " ".join(f"w{i:02d}" for i in range(20))
    texts = ["پیک دیر رسید", "غذا خوب بود", "پیک خوب بود", "غذا دیر رسید", "سرد سرد گرم", long] * 5
    vec = TextVectorizer(min_df=1).fit(texts)
    X = vec.transform(["پیک دیر رسید و غذا سرد بود", "غذا خوب بود", "", "گرم سرد پیک خوب", long])
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(3, X.shape[1])).astype(np.float32)
    coef[1] = 1.0  # every word weighs the same: ties everywhere
    hits = np.array([(i, t) for i in range(X.shape[0]) for t in range(3)])
    for k in (1, 3):
        got = top_word_evidence_batch(vec, X, hits, coef, k=k, skip=frozenset({"بود"}))
        want = [top_word_evidence(vec, X[i], coef[t], k=k, skip=frozenset({"بود"})) for i, t in hits]
        assert got == want
    # ties in column order (an unstable sort gives another answer here)
    assert got[-2] == ["w00 w01", "w01 w02", "w02 w03"]


def test_hstack_dense_onehot_equals_scipy_hstack():
    rng = np.random.default_rng(1)
    X = sp.diags(np.array([1, 1, 1, 0, 1, 1], dtype=np.float32)) @ sp.random(
        6, 30, density=0.2, format="csr", dtype=np.float32, random_state=2)
    X.eliminate_zeros()  # row 3 is empty
    dense = rng.random((6, 3)).astype(np.float32)
    dense[1, 0] = dense[4] = 0.0  # zeros are left out, as scipy does
    topics = [2, 0, 4, 4, 1, 0]
    onehot = sp.csr_matrix((np.ones(6, dtype=np.float32), (np.arange(6), topics)), shape=(6, 5))
    want = sp.hstack([X, sp.csr_matrix(dense), onehot], format="csr")
    got = hstack_dense_onehot(X, dense, topics, 5)
    assert np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)
    assert got.dtype == want.dtype and np.array_equal(got.data, want.data)
    one = hstack_dense_onehot(X[:1], dense[:1], topics[:1], 5)
    assert (one != want[:1]).nnz == 0
