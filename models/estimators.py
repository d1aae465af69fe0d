"""The linear models behind the sklearn backend: overall sentiment, topics, per-topic polarity.

All three work on the sparse features of ``models.features.TextVectorizer`` and keep their fitted
state in plain numpy arrays (small artifacts, fast matrix products, nothing exotic to unpickle).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from models.features import TOKEN_PATTERN
from models.types import SENTIMENTS

_TOKEN = re.compile(TOKEN_PATTERN)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the log-loss of softmax(logits / T) (golden-section search)."""
    rows = np.arange(len(y))

    def nll(t: float) -> float:
        p = softmax(logits / t)
        return float(-np.log(np.clip(p[rows, y], 1e-12, None)).mean())

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(60):
        if nll(np.exp(a)) < nll(np.exp(b)):
            hi = b
        else:
            lo = a
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    return float(np.exp((lo + hi) / 2))


def _linear_multiclass(X, y: np.ndarray, n_classes: int, C: float, sample_weight, max_iter: int) -> tuple:
    """Multinomial logistic regression over the classes present; absent classes get -inf logits."""
    present = np.unique(y)
    coef = np.zeros((n_classes, X.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, -np.inf)
    if len(present) == 1:
        intercept[present[0]] = 0.0
        return coef, intercept
    lr = LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs")
    lr.fit(X, y, sample_weight=sample_weight)
    if len(present) == 2:  # sklearn keeps one weight vector for two classes
        coef[present[1]] = lr.coef_[0] / 2
        coef[present[0]] = -lr.coef_[0] / 2
        intercept[present[1]] = lr.intercept_[0] / 2
        intercept[present[0]] = -lr.intercept_[0] / 2
    else:
        coef[present] = lr.coef_
        intercept[present] = lr.intercept_
    return coef, intercept


class SentimentClassifier(ClassifierMixin, BaseEstimator):
    """neg/neu/pos logistic regression with temperature scaling fitted on cross-validated logits.

    ``y`` holds labels from ``SENTIMENTS``; a class absent from training gets probability 0.
    """

    def __init__(self, C: float = 4.0, calibration_folds: int = 3, max_iter: int = 2000, random_state: int = 0):
        self.C = C
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y: Sequence[str], sample_weight=None) -> SentimentClassifier:
        self.classes_ = np.array(SENTIMENTS)
        yi = np.array([SENTIMENTS.index(v) for v in y])
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.coef_, self.intercept_ = _linear_multiclass(X, yi, len(SENTIMENTS), self.C, sw, self.max_iter)
        self.temperature_ = 1.0
        if self.calibration_folds >= 2 and len(np.unique(yi)) > 1:
            logits = np.zeros((len(yi), len(SENTIMENTS)))
            folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
            for tr, te in folds.split(np.zeros(len(yi)), yi):
                c, b = _linear_multiclass(X[tr], yi[tr], len(SENTIMENTS), self.C,
                                          None if sw is None else sw[tr], self.max_iter)
                logits[te] = X[te] @ c.T + b
            finite = np.isfinite(logits).all(axis=0)
            self.temperature_ = fit_temperature(logits[:, finite], np.searchsorted(np.flatnonzero(finite), yi))
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X) / self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class TopicClassifier(BaseEstimator):
    """Multi-label topics: one logistic regression per topic, Platt-calibrated, thresholds tuned by CV.

    ``Y`` is an (n_docs, n_topics) 0/1 matrix. A topic with no positive example is never predicted
    (its score is 0): the model cannot know what it looks like.
    """

    def __init__(
        self,
        C: float = 8.0,
        folds: int = 5,
        class_weight: str | None = "balanced",
        min_threshold: float = 0.2,
        max_iter: int = 2000,
        random_state: int = 0,
    ):
        self.C = C
        self.folds = folds
        self.class_weight = class_weight
        self.min_threshold = min_threshold
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_one(self, X, y: np.ndarray) -> tuple[np.ndarray, float]:
        # liblinear (dual) is fast when texts are far fewer than features, as with topic labels
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, solver="liblinear")
        lr.fit(X, y)
        return lr.coef_[0].astype(np.float32), float(lr.intercept_[0])

    def fit(self, X, Y) -> TopicClassifier:
        Y = np.asarray(Y, dtype=np.int8)
        n, k = Y.shape
        self.n_topics_ = k
        self.coef_ = np.zeros((k, X.shape[1]), dtype=np.float32)
        self.intercept_ = np.zeros(k)
        self.platt_ = np.tile([1.0, 0.0], (k, 1))  # calibrated p = sigmoid(a * z + b)
        self.thresholds_ = np.full(k, 0.5)
        self.seen_ = np.zeros(k, dtype=bool)
        for t in range(k):
            y = Y[:, t]
            pos = int(y.sum())
            if pos == 0 or pos == n:
                continue
            self.seen_[t] = True
            self.coef_[t], self.intercept_[t] = self._fit_one(X, y)
            n_folds = min(self.folds, pos, n - pos)
            if n_folds < 2:
                continue
            z = np.zeros(n)
            for tr, te in StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state).split(X, y):
                c, b = self._fit_one(X[tr], y[tr])
                z[te] = X[te] @ c + b
            platt = LogisticRegression(C=1e4).fit(z.reshape(-1, 1), y)
            self.platt_[t] = [platt.coef_[0, 0], platt.intercept_[0]]
            self.thresholds_[t] = self._best_threshold(sigmoid(platt.coef_[0, 0] * z + platt.intercept_[0]), y)
        return self

    def _best_threshold(self, p: np.ndarray, y: np.ndarray) -> float:
        best, best_f1 = 0.5, -1.0
        for th in np.arange(self.min_threshold, 0.81, 0.025):
            pred = p >= th
            tp = float((pred & (y == 1)).sum())
            f1 = 2 * tp / max(pred.sum() + y.sum(), 1)
            if f1 > best_f1 + 1e-9:
                best, best_f1 = float(th), f1
        return best

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """(n_docs, n_topics) calibrated probability that each topic is mentioned."""
        p = sigmoid(self.decision_function(X) * self.platt_[:, 0] + self.platt_[:, 1])
        p[:, ~self.seen_] = 0.0
        return p

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= self.thresholds_) & self.seen_


def context_window(text: str, cues: frozenset[str], width: int = 4) -> str:
    """The words within ``width`` tokens of any cue word or bigram; the whole text when none occurs."""
    tokens = _TOKEN.findall(text)
    hits = [i for i, tok in enumerate(tokens) if tok in cues]
    hits += [i for i in range(len(tokens) - 1) if f"{tokens[i]} {tokens[i + 1]}" in cues]
    if not hits:
        return text
    keep = np.zeros(len(tokens), dtype=bool)
    for i in hits:
        keep[max(0, i - width): i + width + 2] = True
    return " ".join(t for t, k in zip(tokens, keep, strict=True) if k)


class TopicPolarityClassifier(BaseEstimator):
    """Polarity (neg/neu/pos) about one topic inside a text: aspect-based sentiment.

    Each (text, topic) pair is represented by the word n-gram TF-IDF of the words around that topic's cue words
    (its strongest topic-model n-grams and seeds), by the whole text's sentiment probabilities and
    by the topic's identity, so one model serves every topic and shares what polarity looks like.
    """

    def __init__(self, C: float = 4.0, width: int = 4, n_cues: int = 60, doc_weight: float = 2.0, max_iter: int = 2000):
        self.C = C
        self.width = width
        self.n_cues = n_cues
        self.doc_weight = doc_weight
        self.max_iter = max_iter

    def set_cues(self, cues: list[list[str]]) -> TopicPolarityClassifier:
        self.cues_ = [sorted(set(c)) for c in cues]
        return self

    def _cue_sets(self) -> list[frozenset[str]]:
        sets = getattr(self, "_cue_cache", None)
        if sets is None:
            sets = [frozenset(c) for c in self.cues_]
            self._cue_cache = sets
        return sets

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_cue_cache", None)
        return state

    def features(self, vectorizer, texts: Sequence[str], topics: Sequence[int], doc_proba: np.ndarray):
        cue_sets = self._cue_sets()
        windows = [context_window(t, cue_sets[k], self.width) for t, k in zip(texts, topics, strict=True)]
        onehot = sp.csr_matrix(
            (np.ones(len(topics), dtype=np.float32), (np.arange(len(topics)), np.asarray(topics, dtype=int))),
            shape=(len(topics), len(cue_sets)),
        )
        dense = sp.csr_matrix(np.asarray(doc_proba, dtype=np.float32) * self.doc_weight)
        return sp.hstack([vectorizer.transform_words(windows), dense, onehot], format="csr")

    def fit(self, F, y: Sequence[str]) -> TopicPolarityClassifier:
        yi = np.array([SENTIMENTS.index(v) for v in y])
        self.classes_ = np.array(SENTIMENTS)
        self.coef_, self.intercept_ = _linear_multiclass(F, yi, len(SENTIMENTS), self.C, None, self.max_iter)
        return self

    def predict_proba(self, F) -> np.ndarray:
        return softmax(np.asarray(F @ self.coef_.T) + self.intercept_)

    def predict(self, F) -> np.ndarray:
        return self.classes_[self.predict_proba(F).argmax(axis=1)]


__all__ = [
    "SentimentClassifier",
    "TopicClassifier",
    "TopicPolarityClassifier",
    "context_window",
    "fit_temperature",
    "sigmoid",
    "softmax",
]
