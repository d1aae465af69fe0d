"""The analysis of one text: the JSON contract shared by the CLI, the API and the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from nlp.types import PiiSpan

SENTIMENTS = ("neg", "neu", "pos")


@dataclass(slots=True)
class SentimentResult:
    label: str  # one of SENTIMENTS
    scores: dict[str, float]  # calibrated probabilities over SENTIMENTS, summing to 1

    def to_dict(self) -> dict:
        return {"label": self.label, "scores": {k: round(float(v), 4) for k, v in self.scores.items()}}


@dataclass(slots=True)
class TopicResult:
    topic: str
    label_fa: str
    score: float  # calibrated probability that the text is about this topic
    sentiment: str  # polarity about this topic, one of SENTIMENTS
    evidence: list[str] = field(default_factory=list)  # words/phrases of clean_text that drove it

    def to_dict(self) -> dict:
        return {
            "topic": self.topic,
            "label_fa": self.label_fa,
            "score": round(float(self.score), 4),
            "sentiment": self.sentiment,
            "evidence": list(self.evidence),
        }


@dataclass(slots=True)
class Analysis:
    clean_text: str
    pii: list[PiiSpan]
    sentiment: SentimentResult
    topics: list[TopicResult]
    abstained: bool  # True when no topic is confident enough to report
    model: str  # version of the model that produced this analysis

    def to_dict(self) -> dict:
        return {
            "clean_text": self.clean_text,
            "pii": [p.to_dict() for p in self.pii],
            "sentiment": self.sentiment.to_dict(),
            "topics": [t.to_dict() for t in self.topics],
            "abstained": self.abstained,
            "model": self.model,
        }
