"""Head outputs (logits, numpy) → SentimentResult / TopicResult / abstained.

Shared by the ONNX Runtime and torch runtimes so both decode identically.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.types import SENTIMENTS, SentimentResult, TopicResult


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Heads:
    """Raw logits of one batch: sentiment (N, 3), topics (N, K), polarity (N, K, 3)."""

    sentiment: np.ndarray
    topics: np.ndarray
    polarity: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Heads], n_topics: int) -> Heads:
        if not parts:
            return cls(np.zeros((0, 3)), np.zeros((0, n_topics)), np.zeros((0, n_topics, 3)))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("sentiment", "topics", "polarity")))

    def take(self, order: np.ndarray) -> Heads:
        return Heads(self.sentiment[order], self.topics[order], self.polarity[order])

    def decisions(self, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Discrete outputs (sentiment label idx, topic present bool (N, K), polarity idx (N, K))."""
        k = thresholds.shape[0]
        present = sigmoid(self.topics[:, :k]) >= thresholds
        return self.sentiment.argmax(1), present, self.polarity[:, :k].argmax(2)


@dataclass(frozen=True)
class TopicInfo:
    id: str
    label_fa: str
    seeds: tuple[str, ...]  # normalized like clean text, used as evidence when present


def evidence_for(text: str, seeds: Sequence[str], limit: int = 3) -> list[str]:
    """Seed phrases of the topic that occur as whole words in the clean text (the network gives no spans)."""
    return [s for s in seeds if s and re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text)][:limit]


def decode(texts: Sequence[str], heads: Heads, topics: Sequence[TopicInfo], thresholds: np.ndarray):
    """list of (SentimentResult, [TopicResult], abstained) in input order."""
    k = len(topics)
    sent_p = softmax(heads.sentiment.astype(np.float64))
    topic_p = sigmoid(heads.topics[:, :k].astype(np.float64))
    pol_p = softmax(heads.polarity[:, :k].astype(np.float64), axis=2)
    out = []
    for i, text in enumerate(texts):
        scores = {s: float(sent_p[i, j]) for j, s in enumerate(SENTIMENTS)}
        sentiment = SentimentResult(label=SENTIMENTS[int(sent_p[i].argmax())], scores=scores)
        found = []
        for j in np.argsort(-topic_p[i], kind="stable"):
            if topic_p[i, j] < thresholds[j]:
                continue
            info = topics[j]
            found.append(
                TopicResult(
                    topic=info.id,
                    label_fa=info.label_fa,
                    score=float(topic_p[i, j]),
                    sentiment=SENTIMENTS[int(pol_p[i, j].argmax())],
                    evidence=evidence_for(text, info.seeds),
                )
            )
        out.append((sentiment, found, not found))
    return out
