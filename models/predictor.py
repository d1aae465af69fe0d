"""The sklearn backend's Predictor: TF-IDF features → sentiment, topics, per-topic polarity, evidence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.artifacts import CARD_FILE, load_skops, save_skops, write_meta
from models.estimators import SentimentClassifier, TopicClassifier, TopicPolarityClassifier
from models.features import TextVectorizer, top_word_evidence_batch
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
    def _prepare(self) -> None:
        """Lay each linear model's weights out so that ``X @ coef_.T`` reads them in place.

        scipy's sparse × dense product wants a C-contiguous right operand and copies (``ravel``) a
        transposed C-ordered ``coef_`` on every call: ~0.4 MB per class, several ms per request.
        A Fortran-ordered ``coef_`` has a C-contiguous transpose; the values are unchanged.
        """
        for est in (self.sentiment, self.topics, self.polarity):
            coef = getattr(est, "coef_", None)
            if isinstance(coef, np.ndarray) and coef.ndim == 2 and not coef.T.flags.c_contiguous:
                est.coef_ = np.asfortranarray(coef)
        if hasattr(self.vectorizer, "warm"):  # its lookup tables are built now, not in the first request
            self.vectorizer.warm()
            self.vectorizer.skip_only_mask(stopwords())
        ids = list(self.taxonomy.ids)
        self._labels = (ids, [self.taxonomy.label_fa(t) for t in ids])
        self._prepared = True

    def sentiment_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not getattr(self, "_prepared", False):
            self._prepare()
        return self.sentiment.predict_proba(self.vectorizer.transform(texts))

    def predict(self, docs: Sequence[CleanText]) -> list[tuple[SentimentResult, list[TopicResult], bool]]:
        texts = [d.text for d in docs]
        if not texts:
            return []
        if not getattr(self, "_prepared", False):
            self._prepare()
        X = self.vectorizer.transform(texts)
        sent = self.sentiment.predict_proba(X)
        labels = [SENTIMENTS[i] for i in sent.argmax(axis=1).tolist()]
        topic_lists: list[list[TopicResult]] = [[] for _ in texts]
        if self.topics is not None:
            proba = self.topics.predict_proba(X)
            hits = np.argwhere((proba >= self.topics.thresholds_) & self.topics.seen_)
            pols = self._polarities(texts, hits, sent, labels)
            ids, label_fa = self._labels
            evidence = top_word_evidence_batch(self.vectorizer, X, hits, self.topics.coef_, skip=stopwords())
            for (i, t), pol, ev in zip(hits.tolist(), pols, evidence, strict=True):
                topic_lists[i].append(TopicResult(topic=ids[t], label_fa=label_fa[t], score=float(proba[i, t]),
                                                  sentiment=pol, evidence=ev))
        out = []
        for i, row in enumerate(sent.tolist()):
            tl = topic_lists[i]
            if len(tl) > 1:
                tl.sort(key=lambda r: -r.score)
            out.append((SentimentResult(label=labels[i], scores=dict(zip(SENTIMENTS, row, strict=True))), tl, not tl))
        return out

    def _polarities(self, texts: list[str], hits: np.ndarray, sent: np.ndarray, labels: list[str]) -> list[str]:
        if len(hits) == 0:
            return []
        pairs = hits.tolist()  # Python ints: iterating the numpy rows costs more than the lookups
        if self.polarity is None:  # no topic-polarity labels in training: the text's overall sentiment
            return [labels[i] for i, _ in pairs]
        return self.polarity.predict_windows(self.vectorizer, [texts[i] for i, _ in pairs], [t for _, t in pairs],
                                             sent[hits[:, 0]])

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
        pred._prepare()
        return pred
