"""The sklearn backend's Predictor: TF-IDF features → sentiment, topics, per-topic polarity, evidence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.artifacts import CARD_FILE, load_skops, save_skops, write_meta
from models.estimators import SentimentClassifier, TopicClassifier, TopicPolarityClassifier
from models.features import TextVectorizer, top_word_evidence
from models.taxonomy import Taxonomy
from models.types import SENTIMENTS, SentimentResult, TopicResult
from nlp import stopwords
from nlp.errors import BazkhordError
from nlp.types import CleanText

WEIGHTS_FILE = "model.skops"


class SklearnPredictor:
    """Implements the Predictor protocol: ``predict(docs)``, ``version``, ``taxonomy``, ``card``, ``save``."""

    backend = "sklearn"

    def __init__(
        self,
        vectorizer: TextVectorizer,
        sentiment: SentimentClassifier,
        topics: TopicClassifier | None,
        polarity: TopicPolarityClassifier | None,
        taxonomy: Taxonomy,
        meta: dict,
    ):
        self.vectorizer = vectorizer
        self.sentiment = sentiment
        self.topics = topics
        self.polarity = polarity
        self.taxonomy = taxonomy
        self.meta = meta
        self.version: str = meta["version"]
        self.card: dict = dict(meta)

    # -- prediction --------------------------------------------------------------------------
    def sentiment_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.sentiment.predict_proba(self.vectorizer.transform(texts))

    def predict(self, docs: Sequence[CleanText]) -> list[tuple[SentimentResult, list[TopicResult], bool]]:
        texts = [d.text for d in docs]
        if not texts:
            return []
        X = self.vectorizer.transform(texts)
        sent = self.sentiment.predict_proba(X)
        labels = [SENTIMENTS[i] for i in sent.argmax(axis=1)]
        topic_lists: list[list[TopicResult]] = [[] for _ in texts]
        if self.topics is not None:
            proba = self.topics.predict_proba(X)
            hits = np.argwhere((proba >= self.topics.thresholds_) & self.topics.seen_)
            pols = self._polarities(texts, hits, sent, labels)
            ids = self.taxonomy.ids
            skip = stopwords()
            for (i, t), pol in zip(hits, pols, strict=True):
                topic_lists[i].append(
                    TopicResult(
                        topic=ids[t],
                        label_fa=self.taxonomy.label_fa(ids[t]),
                        score=float(proba[i, t]),
                        sentiment=pol,
                        evidence=top_word_evidence(self.vectorizer, (X.indices[X.indptr[i]:X.indptr[i + 1]], X.data[X.indptr[i]:X.indptr[i + 1]]), self.topics.coef_[t], skip=skip),
                    )
                )
        out = []
        for i in range(len(texts)):
            tl = sorted(topic_lists[i], key=lambda r: -r.score)
            scores = {s: float(sent[i, j]) for j, s in enumerate(SENTIMENTS)}
            out.append((SentimentResult(label=labels[i], scores=scores), tl, not tl))
        return out

    def _polarities(self, texts: list[str], hits: np.ndarray, sent: np.ndarray, labels: list[str]) -> list[str]:
        if len(hits) == 0:
            return []
        if self.polarity is None:  # no topic-polarity labels in training: the text's overall sentiment
            return [labels[i] for i, _ in hits]
        F = self.polarity.features(self.vectorizer, [texts[i] for i, _ in hits], [int(t) for _, t in hits],
                                   sent[hits[:, 0]])
        return list(self.polarity.predict(F))

    # -- persistence -------------------------------------------------------------------------
    def save(self, out_dir: str | Path) -> Path:
        from models.card import render_card

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_skops(
            {"vectorizer": self.vectorizer, "sentiment": self.sentiment, "topics": self.topics, "polarity": self.polarity},
            out / WEIGHTS_FILE,
        )
        meta = {**self.meta, "backend": self.backend, "taxonomy": self.taxonomy.to_dict(), "files": {WEIGHTS_FILE: ""}}
        self.meta = write_meta(out, meta, render_card(meta))
        self.card = dict(self.meta)
        return out

    @classmethod
    def from_directory(cls, directory: Path, meta: dict) -> SklearnPredictor:
        """Build from an artifact whose hashes ``models.artifacts.verify`` already checked."""
        parts = load_skops(directory / WEIGHTS_FILE)
        if not isinstance(parts, dict) or "vectorizer" not in parts or "sentiment" not in parts:
            raise BazkhordError("model.invalid", f"{WEIGHTS_FILE} does not hold a sklearn model.",
                                {"path": str(directory)}, 422)
        pred = cls(parts["vectorizer"], parts["sentiment"], parts.get("topics"), parts.get("polarity"),
                   Taxonomy.from_dict(meta["taxonomy"]), meta)
        card = directory / CARD_FILE
        pred.card = {**meta, "model_card": card.read_text(encoding="utf-8") if card.is_file() else ""}
        return pred
