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

from models.features import TOKEN_PATTERN, hstack_dense_onehot
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


def nb_scale(X, y: np.ndarray, alpha: float = 1.0, power: float = 1.0) -> np.ndarray:
    """NB-SVM feature weights: |log-count ratio| of each feature's presence between classes.

    For more than two classes, the largest one-vs-rest ratio. A linear model fitted on ``X * s``
    equals one on ``X`` with ``coef * s``, so the scaling is folded into ``coef_`` after fitting and
    prediction stays one sparse product. Features that separate classes are penalised less.
    """
    Xb = X.copy()
    Xb.data = np.ones_like(Xb.data)
    present = np.unique(y)
    onehot = (y[:, None] == present[None, :]).astype(np.float64)
    counts = np.asarray(Xb.T @ onehot).T  # (n_present, n_features) documents containing the feature
    n = onehot.sum(axis=0)[:, None]
    total = counts.sum(axis=0)
    r = np.zeros(X.shape[1])
    for c in range(len(present) if len(present) > 2 else 1):
        p = (counts[c] + alpha) / (n[c] + alpha)
        q = (total - counts[c] + alpha) / (n.sum() - n[c] + alpha)
        r = np.maximum(r, np.abs(np.log(p / q)))
    return (r ** power).astype(np.float32)


def _scaled(X, scale: np.ndarray | None):
    return X if scale is None else X @ sp.diags(scale.astype(np.float32))


def _linear_multiclass(X, y: np.ndarray, n_classes: int, C: float, sample_weight, max_iter: int,
                       scale: np.ndarray | None = None) -> tuple:
    """Multinomial logistic regression over the classes present; absent classes get -inf logits.

    ``scale``: per-feature weights the model is fitted on (``X * scale``), folded back into the coefficients.
    """
    present = np.unique(y)
    coef = np.zeros((n_classes, X.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, -np.inf)
    if len(present) == 1:
        intercept[present[0]] = 0.0
        return coef, intercept
    lr = LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs")
    lr.fit(_scaled(X, scale), y, sample_weight=sample_weight)
    if scale is not None:
        lr.coef_ = lr.coef_ * scale
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

    def __init__(self, C: float = 0.5, calibration_folds: int = 3, max_iter: int = 2000, random_state: int = 0,
                 nb_scaling: bool = True):
        self.C = C
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state
        self.nb_scaling = nb_scaling

    def fit(self, X, y: Sequence[str], sample_weight=None) -> SentimentClassifier:
        self.classes_ = np.array(SENTIMENTS)
        yi = np.array([SENTIMENTS.index(v) for v in y])
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        scale = self._scale(X, yi)
        self.coef_, self.intercept_ = _linear_multiclass(X, yi, len(SENTIMENTS), self.C, sw, self.max_iter, scale)
        self.temperature_ = 1.0
        if self.calibration_folds >= 2 and len(np.unique(yi)) > 1:
            logits = np.zeros((len(yi), len(SENTIMENTS)))
            folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
            for tr, te in folds.split(np.zeros(len(yi)), yi):
                # NB weights from the fold's own rows: held-out logits must not see their labels
                c, b = _linear_multiclass(X[tr], yi[tr], len(SENTIMENTS), self.C,
                                          None if sw is None else sw[tr], self.max_iter, self._scale(X[tr], yi[tr]))
                logits[te] = X[te] @ c.T + b
            finite = np.isfinite(logits).all(axis=0)
            self.temperature_ = fit_temperature(logits[:, finite], np.searchsorted(np.flatnonzero(finite), yi))
        return self

    def _scale(self, X, yi: np.ndarray) -> np.ndarray | None:
        return nb_scale(X, yi) if self.nb_scaling and len(np.unique(yi)) > 1 else None

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
        nb_scaling: bool = True,
        C_grid: tuple[float, ...] | None = None,
    ):
        self.C = C
        self.folds = folds
        self.class_weight = class_weight
        self.min_threshold = min_threshold
        self.max_iter = max_iter
        self.random_state = random_state
        self.nb_scaling = nb_scaling
        self.C_grid = C_grid

    def _fit_one(self, X, y: np.ndarray, C: float, prior: np.ndarray | None) -> tuple[np.ndarray, float]:
        # per-feature scaling (NB ratios, seed priors) is fitted on X * s and folded into the weights
        scale = prior
        if self.nb_scaling:
            nb = nb_scale(X, y)
            scale = nb if scale is None else nb * scale
        # liblinear (dual) is fast when texts are far fewer than features, as with topic labels
        lr = LogisticRegression(C=C, class_weight=self.class_weight, max_iter=self.max_iter, solver="liblinear")
        lr.fit(_scaled(X, scale), y)
        coef = lr.coef_[0] if scale is None else lr.coef_[0] * scale
        return coef.astype(np.float32), float(lr.intercept_[0])

    def fit(self, X, Y, feature_scale: np.ndarray | None = None) -> TopicClassifier:
        """``feature_scale``: optional (n_topics, n_features) prior weights per topic (e.g. seed n-grams > 1)."""
        Y = np.asarray(Y, dtype=np.int8)
        n, k = Y.shape
        self.n_topics_ = k
        self.coef_ = np.zeros((k, X.shape[1]), dtype=np.float32)
        self.intercept_ = np.zeros(k)
        self.platt_ = np.tile([1.0, 0.0], (k, 1))  # calibrated p = sigmoid(a * z + b)
        self.thresholds_ = np.full(k, 0.5)
        self.seen_ = np.zeros(k, dtype=bool)
        self.C_ = np.full(k, float(self.C))
        for t in range(k):
            y = Y[:, t]
            prior = None if feature_scale is None else np.asarray(feature_scale[t], dtype=np.float32)
            pos = int(y.sum())
            if pos == 0 or pos == n:
                continue
            self.seen_[t] = True
            n_folds = min(self.folds, pos, n - pos)
            if n_folds < 2:
                self.coef_[t], self.intercept_[t] = self._fit_one(X, y, self.C, prior)
                continue
            splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state).split(X, y))
            best = None
            for C in self.C_grid or (self.C,):
                z = np.zeros(n)
                for tr, te in splits:
                    c, b = self._fit_one(X[tr], y[tr], C, prior)
                    z[te] = X[te] @ c + b
                # the C whose out-of-fold scores give the best F1 at their best threshold
                platt = LogisticRegression(C=1e4).fit(z.reshape(-1, 1), y)
                p = sigmoid(platt.coef_[0, 0] * z + platt.intercept_[0])
                th = self._best_threshold(p, y)
                f1 = self._f1(p >= th, y)
                if best is None or f1 > best[0] + 1e-9:
                    best = (f1, C, platt, th)
            _, self.C_[t], platt, self.thresholds_[t] = best
            self.platt_[t] = [platt.coef_[0, 0], platt.intercept_[0]]
            self.coef_[t], self.intercept_[t] = self._fit_one(X, y, self.C_[t], prior)
        return self

    @staticmethod
    def _f1(pred: np.ndarray, y: np.ndarray) -> float:
        tp = float((pred & (y == 1)).sum())
        return 2 * tp / max(pred.sum() + y.sum(), 1)

    def _best_threshold(self, p: np.ndarray, y: np.ndarray) -> float:
        best, best_f1 = 0.5, -1.0
        for th in np.arange(self.min_threshold, 0.81, 0.025):
            f1 = self._f1(p >= th, y)
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


def context_window(text: str, cues: frozenset[str], width: int = 4, tokens: Sequence[str] | None = None,
                   bigram_firsts: frozenset[str] | None = None) -> str:
    """The words within ``width`` tokens of any cue word or bigram; the whole text when none occurs.

    ``tokens`` (``_TOKEN.findall(text)``) and ``bigram_firsts`` (first words of the bigram cues) may be
    passed in when the caller has them: a text with several topics is then tokenized once, and only the
    pairs that can be a cue are joined into a string.
    """
    if tokens is None:
        tokens = _TOKEN.findall(text)
    if bigram_firsts is None:
        bigram_firsts = frozenset(c.split(" ", 1)[0] for c in cues if " " in c)
    n = len(tokens)
    hits = [i for i, tok in enumerate(tokens) if tok in cues]
    if bigram_firsts:
        hits += [i for i in range(n - 1) if tokens[i] in bigram_firsts and f"{tokens[i]} {tokens[i + 1]}" in cues]
    if not hits:
        return text
    keep = [False] * n  # a list, not numpy: iterating numpy bools costs more than the rest
    for i in hits:
        for j in range(max(0, i - width), min(n, i + width + 2)):
            keep[j] = True
    return " ".join([t for t, k in zip(tokens, keep, strict=True) if k])


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

    def _cue_sets(self) -> list[tuple[frozenset[str], frozenset[str]]]:
        """Per topic: (cue set, first words of its bigram cues)."""
        sets = getattr(self, "_cue_cache", None)
        if sets is None:
            sets = [(frozenset(c), frozenset(w.split(" ", 1)[0] for w in c if " " in w)) for c in self.cues_]
            self._cue_cache = sets
        return sets

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_cue_cache", None)
        return state

    def windows(self, texts: Sequence[str], topics: Sequence[int]) -> list[str]:
        """Each text's context window around the cues of its topic."""
        cue_sets = self._cue_sets()
        tokens: dict[str, list[str]] = {}  # a text with several topics is tokenized once
        out = []
        for t, k in zip(texts, topics, strict=True):
            toks = tokens.get(t)
            if toks is None:
                toks = tokens[t] = _TOKEN.findall(t)
            cues, firsts = cue_sets[k]
            out.append(context_window(t, cues, self.width, toks, firsts))
        return out

    def features(self, vectorizer, texts: Sequence[str], topics: Sequence[int], doc_proba: np.ndarray):
        # [window words | doc sentiment * doc_weight | one-hot topic], as one CSR (sp.hstack of the three
        # blocks, without its per-block conversions: most of a one-text analysis otherwise)
        dense = np.asarray(doc_proba, dtype=np.float32) * self.doc_weight
        return hstack_dense_onehot(vectorizer.transform_words(self.windows(texts, topics)), dense, topics,
                                   len(self._cue_sets()))

    def decision_windows(self, vectorizer, texts: Sequence[str], topics: Sequence[int], doc_proba: np.ndarray) -> np.ndarray:
        """``features(...) @ coef_.T + intercept_`` without building the feature matrix.

        The same operations in the same order as the sparse product over a row of ``features`` (its word
        entries, then the three sentiment columns, then the one-hot column), so the same floats: a
        zero sentiment column, which ``features`` leaves out, adds a signed zero here.
        """
        words = vectorizer.transform_words(self.windows(texts, topics))
        n_word, coef = words.shape[1], self.coef_
        scores = np.asarray(words @ coef[:, :n_word].T)
        dense = np.asarray(doc_proba, dtype=np.float32) * self.doc_weight
        for j in range(dense.shape[1]):
            scores += dense[:, j : j + 1] * coef[:, n_word + j]
        scores += coef[:, n_word + dense.shape[1] + np.asarray(topics, dtype=np.int64)].T
        return scores + self.intercept_

    def predict_windows(self, vectorizer, texts: Sequence[str], topics: Sequence[int], doc_proba: np.ndarray) -> list[str]:
        """``predict(features(...))`` as a list of labels (the predictor's path)."""
        labels = self.classes_.tolist()
        return [labels[i] for i in self.decision_windows(vectorizer, texts, topics, doc_proba).argmax(axis=1).tolist()]

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
