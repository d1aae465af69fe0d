"""The review queue: which stored comments most deserve an analyst's look, and in what order.

Each candidate gets a priority from four signals, all in [0, 1]:

* ``abstained``: the model found no confident topic;
* ``low_margin``: the model was torn (sentiment top-two gap small, or a topic score near 0.5);
* ``rating_disagreement``: the customer's own star rating points one way, the text's sentiment the other;
* ``new_vocabulary``: share of the comment's words the model has never seen (not in its vocabulary
  nor in any labelled text), i.e. language the labels do not cover yet.

Then the selection is made diverse with maximal marginal relevance (MMR) over character n-gram
TF-IDF, so the queue is not fifty near-copies of one complaint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

_WORD = re.compile(r"[\w\u200c]+", re.UNICODE)
SIGNALS = ("abstained", "low_margin", "rating_disagreement", "new_vocabulary")


def words(text: str) -> list[str]:
    """Word tokens for vocabulary checks (placeholders like [PHONE] and digits are not words)."""
    return [w for w in _WORD.findall(text) if len(w) > 1 and not w.isdigit() and not w.isupper()]


@dataclass
class Candidate:
    id: int
    text: str
    analysis: dict | None  # models.types.Analysis.to_dict() as stored
    rating: float | None = None
    rating_scale: int | None = None
    created_at: datetime | None = None
    segment: str | None = None


@dataclass
class QueueItem:
    candidate: Candidate
    priority: float
    signals: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        c = self.candidate
        analysis = c.analysis or {}
        evidence = sorted({e for t in analysis.get("topics", []) for e in t.get("evidence", [])}, key=len, reverse=True)
        return {
            "feedback_id": c.id,
            "text": c.text,
            "created_at": c.created_at.isoformat() if c.created_at else None,
            "segment": c.segment,
            "rating": c.rating,
            "rating_scale": c.rating_scale,
            "analysis": c.analysis,
            "evidence": evidence,
            "priority": round(self.priority, 4),
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
            "reasons": self.reasons,
        }


class ReviewQueue:
    """Rank and diversify candidates for review.

    Args:
        limit: how many items to return.
        diversity: MMR trade-off in [0, 1]; 0 = by priority only, 1 = by novelty w.r.t. chosen items only.
        max_similarity: candidates at least this similar (cosine) to a chosen one are taken only when
            nothing else is left.
        weights: weight per signal (see ``SIGNALS``).
        reason_threshold: a signal at least this strong is listed in the item's ``reasons``.
        vocabulary: words the model is known to cover; empty = the new-vocabulary signal is off.
    """

    def __init__(
        self,
        limit: int = 20,
        diversity: float = 0.3,
        max_similarity: float = 0.8,
        weights: dict[str, float] | None = None,
        reason_threshold: float = 0.5,
        vocabulary: Iterable[str] = (),
    ):
        self.limit = limit
        self.diversity = diversity
        self.max_similarity = max_similarity
        self.weights = {"abstained": 1.0, "low_margin": 1.0, "rating_disagreement": 1.0, "new_vocabulary": 0.5}
        self.weights.update(weights or {})
        self.reason_threshold = reason_threshold
        self.vocabulary = frozenset(vocabulary)

    # --- signals -----------------------------------------------------------------------------
    @staticmethod
    def abstained(analysis: dict | None) -> float:
        return 1.0 if analysis is None or analysis.get("abstained") else 0.0

    @staticmethod
    def low_margin(analysis: dict | None) -> float:
        """1 − the smallest decision margin: sentiment top-two gap, or |topic score − 0.5| × 2."""
        if not analysis:
            return 1.0
        scores = sorted((analysis.get("sentiment") or {}).get("scores", {}).values(), reverse=True)
        margins = [scores[0] - scores[1]] if len(scores) >= 2 else []
        margins += [abs(float(t.get("score", 1.0)) - 0.5) * 2 for t in analysis.get("topics", [])]
        return 1.0 - min(margins) if margins else 0.0

    @staticmethod
    def rating_disagreement(analysis: dict | None, rating: float | None, rating_scale: int | None) -> float:
        """|rating position − text sentiment position|, both on 0 (negative) … 1 (positive)."""
        if not analysis or rating is None or not rating_scale or rating_scale < 2:
            return 0.0
        scores = (analysis.get("sentiment") or {}).get("scores", {})
        if not scores:
            return 0.0
        by_rating = min(1.0, max(0.0, (float(rating) - 1.0) / (rating_scale - 1.0)))
        by_text = (float(scores.get("pos", 0.0)) - float(scores.get("neg", 0.0)) + 1.0) / 2.0
        return abs(by_rating - by_text)

    def new_vocabulary(self, text: str) -> float:
        if not self.vocabulary:
            return 0.0
        toks = words(text)
        if not toks:
            return 0.0
        return sum(t not in self.vocabulary for t in toks) / len(toks)

    def signals(self, c: Candidate) -> dict[str, float]:
        return {
            "abstained": self.abstained(c.analysis),
            "low_margin": self.low_margin(c.analysis),
            "rating_disagreement": self.rating_disagreement(c.analysis, c.rating, c.rating_scale),
            "new_vocabulary": self.new_vocabulary(c.text),
        }

    def priority(self, signals: dict[str, float]) -> float:
        total = sum(self.weights.values()) or 1.0
        return sum(self.weights[k] * signals[k] for k in SIGNALS) / total

    # --- diversity ---------------------------------------------------------------------------
    @staticmethod
    def similarity(texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of character 2–4-gram TF-IDF vectors (robust to Persian spelling variants)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(texts) < 2:
            return np.ones((len(texts), len(texts)))
        try:
            x = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit_transform(texts)
        except ValueError:  # nothing but empty texts
            return np.eye(len(texts))
        return (x @ x.T).toarray()

    def diversify(self, priorities: Sequence[float], sim: np.ndarray, k: int) -> list[int]:
        """Greedy MMR: argmax (1 − diversity)·priority − diversity·max similarity to the chosen."""
        n = len(priorities)
        prio = np.asarray(priorities, dtype=float)
        chosen: list[int] = []
        max_sim = np.zeros(n)
        free = np.ones(n, dtype=bool)
        while len(chosen) < min(k, n):
            score = (1 - self.diversity) * prio - self.diversity * max_sim
            near_copy = max_sim >= self.max_similarity
            pool = free & ~near_copy
            if not pool.any():
                pool = free
            i = int(np.flatnonzero(pool)[np.argmax(score[pool])])
            chosen.append(i)
            free[i] = False
            max_sim = np.maximum(max_sim, sim[i])
        return chosen

    # --- main ----------------------------------------------------------------------------------
    def select(self, candidates: Sequence[Candidate]) -> list[QueueItem]:
        """The ``limit`` candidates most worth a human look, diverse, most useful first."""
        if not candidates:
            return []
        sigs = [self.signals(c) for c in candidates]
        prios = [self.priority(s) for s in sigs]
        order = self.diversify(prios, self.similarity([c.text for c in candidates]), self.limit)
        return [
            QueueItem(
                candidate=candidates[i],
                priority=prios[i],
                signals=sigs[i],
                reasons=[k for k in SIGNALS if sigs[i][k] >= self.reason_threshold],
            )
            for i in order
        ]


def model_vocabulary(analyzer) -> frozenset[str]:
    """Words the analyser's model was trained on, when the backend exposes them (else empty)."""
    for obj in (analyzer, getattr(analyzer, "predictor", None)):
        vocab = getattr(obj, "vocabulary", None) if obj is not None else None
        if callable(vocab):
            vocab = vocab()
        if vocab:
            return frozenset(vocab)
    # the sklearn backend: unigrams of the word TF-IDF vocabulary
    word = getattr(getattr(getattr(analyzer, "predictor", None), "vectorizer", None), "word_", None)
    vocab = getattr(word, "vocabulary_", None)
    if vocab:
        return frozenset(w for w in vocab if " " not in w)
    return frozenset()


def candidates_from_db(
    session,
    topic: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    segment: str | None = None,
    pool: int = 2000,
    include_labelled: bool = False,
) -> list[Candidate]:
    """Newest analysed records matching the filters (topic = a topic the model found), unlabelled only."""
    from sqlalchemy import select

    from store.schema import Feedback, GoldLabel, TopicMention

    q = select(Feedback).where(Feedback.analysis.is_not(None))
    if topic:
        q = q.where(Feedback.id.in_(select(TopicMention.feedback_id).where(TopicMention.topic == topic)))
    if since is not None:
        q = q.where(Feedback.created_at >= since)
    if until is not None:
        q = q.where(Feedback.created_at < until)
    if segment:
        q = q.where(Feedback.segment == segment)
    if not include_labelled:
        q = q.where(~Feedback.id.in_(select(GoldLabel.feedback_id)))
    q = q.order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(pool)
    return [
        Candidate(id=f.id, text=f.text, analysis=f.analysis, rating=f.rating, rating_scale=f.rating_scale,
                  created_at=f.created_at, segment=f.segment)
        for f in session.scalars(q)
    ]


def labelled_vocabulary(session) -> set[str]:
    """Words of every text an analyst has labelled (covered by the next training run)."""
    from sqlalchemy import select

    from store.schema import Feedback, GoldLabel

    vocab: set[str] = set()
    for text in session.scalars(select(Feedback.text).where(Feedback.id.in_(select(GoldLabel.feedback_id)))):
        vocab.update(words(text))
    return vocab
