"""Train a sklearn-backend predictor from labelled records (and optional unlabelled texts).

``train(records, taxonomy=None, unlabelled=None, seed=0, progress=True)`` is the one entry point the
CLI, the retraining jobs and the tests call. ``records`` are ``training.data.Record``-like objects
(``text``, ``sentiment``, ``topics``, ``source``).
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import numpy as np

from models.coldstart import SeedLabeler
from models.estimators import SentimentClassifier, TopicClassifier, TopicPolarityClassifier
from models.features import TOKEN_PATTERN, TextVectorizer
from models.predictor import SklearnPredictor
from models.taxonomy import Taxonomy
from models.types import SENTIMENTS
from nlp.errors import BazkhordError

# Below this many topic-annotated texts, a taxonomy with seeds is completed with weak seed labels.
COLDSTART_BELOW = 200
# Weak "no topic" examples kept per weak positive (unmatched texts are the large majority).
WEAK_NEGATIVE_RATIO = 1.0
# Prior weight of a taxonomy's seed n-grams in the topic models (None: seeds only label weak examples).
SEED_PRIOR: float | None = None


def _libraries() -> dict[str, str]:
    import hazm
    import numpy
    import scipy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
        "hazm": getattr(hazm, "__version__", "unknown"),
    }


def new_version(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y.%m.%d-%H%M%S")


def clean_texts(texts: Sequence[str], progress: bool = False, desc: str = "normalizing") -> list[str]:
    from nlp import get_pipeline

    pipeline = get_pipeline()
    if not progress or len(texts) < 2000:
        return [c.text for c in pipeline.process_batch(texts, tokenize=False)]
    from tqdm import tqdm

    out: list[str] = []
    step = 1000
    for i in tqdm(range(0, len(texts), step), desc=desc, unit="k texts"):
        out.extend(c.text for c in pipeline.process_batch(texts[i: i + step], tokenize=False))
    return out


def topic_cues(vectorizer: TextVectorizer, topics: TopicClassifier, taxonomy: Taxonomy, n_cues: int,
               normalize) -> list[list[str]]:
    """Per topic: its strongest word n-grams in the topic model, plus its seeds (normalized)."""
    import re

    tok = re.compile(TOKEN_PATTERN)
    names = vectorizer.word_names()
    n_word = vectorizer.n_word_features_
    cues = []
    for t, topic in enumerate(taxonomy.topics):
        w = topics.coef_[t, :n_word]
        top = [str(names[j]) for j in np.argsort(-w)[:n_cues] if w[j] > 0]
        seeds = [" ".join(tok.findall(normalize(s))) for s in topic.seeds]
        cues.append(top + [s for s in seeds if s])
    return cues


def seed_scale(vectorizer: TextVectorizer, taxonomy: Taxonomy, normalize, factor: float) -> np.ndarray | None:
    """(n_topics, n_features) prior weights: ``factor`` on each topic's seed n-grams, 1 elsewhere.

    A topic model fitted on features scaled this way penalises seed weights less (L2 on w / factor),
    so a seed seen in few annotated texts still counts; the scaling is folded into the weights.
    """
    import re

    tok = re.compile(TOKEN_PATTERN)
    index = {str(t): j for j, t in enumerate(vectorizer.word_names())}
    n_features = vectorizer.n_word_features_ + len(vectorizer.char_terms_)
    scale = np.ones((len(taxonomy.topics), n_features), dtype=np.float32)
    found = False
    for t, topic in enumerate(taxonomy.topics):
        for s in topic.seeds:
            j = index.get(" ".join(tok.findall(normalize(s))).lower())
            if j is not None:
                scale[t, j] = factor
                found = True
    return scale if found else None


def fit_topics(
    vectorizer: TextVectorizer,
    sentiment: SentimentClassifier,
    texts: Sequence[str],
    topic_labels: Sequence[dict[str, str]],
    taxonomy: Taxonomy,
    weak_texts: Sequence[str] = (),
    seed: int = 0,
    topic_C: float = 8.0,
    normalize=None,
    seed_prior: float | None = SEED_PRIOR,
) -> tuple[TopicClassifier | None, TopicPolarityClassifier | None, int]:
    """Topic and topic-polarity models from annotated (clean) texts, plus seed-labelled ``weak_texts``.

    Returns (topics, polarity, number of weak examples used); None where there is nothing to learn.
    """
    import scipy.sparse as sp

    normalize = normalize or (lambda s: s)
    k = len(taxonomy.topics)
    if not k or (not texts and not weak_texts):
        return None, None, 0
    X_parts, Y_list = [], []
    X = vectorizer.transform(texts) if texts else None
    if texts:
        Y_gold = np.array([[tid in labels for tid in taxonomy.ids] for labels in topic_labels], dtype=np.int8)
        X_parts.append(X)
        Y_list.append(Y_gold)
    weak_count = 0
    if weak_texts:
        Yw = SeedLabeler(taxonomy, normalize).label(weak_texts)
        pos = np.flatnonzero(Yw.any(axis=1))
        neg = np.flatnonzero(~Yw.any(axis=1))
        rng = np.random.default_rng(seed)
        neg = rng.choice(neg, size=min(len(neg), int(len(pos) * WEAK_NEGATIVE_RATIO) + 1), replace=False)
        keep = np.concatenate([pos, neg])
        weak_count = len(keep)
        X_parts.append(vectorizer.transform([weak_texts[j] for j in keep]))
        Y_list.append(Yw[keep])
    prior = seed_scale(vectorizer, taxonomy, normalize, seed_prior) if seed_prior else None
    topics = TopicClassifier(C=topic_C, random_state=seed).fit(sp.vstack(X_parts, format="csr"), np.vstack(Y_list),
                                                              feature_scale=prior)
    pairs = [(i, t, labels[tid]) for i, labels in enumerate(topic_labels) for t, tid in enumerate(taxonomy.ids)
             if labels.get(tid) in SENTIMENTS]
    polarity = TopicPolarityClassifier()
    polarity.set_cues(topic_cues(vectorizer, topics, taxonomy, polarity.n_cues, normalize))
    if not pairs or len({p for _, _, p in pairs}) < 2:
        return topics, None, weak_count
    idx = [i for i, _, _ in pairs]
    F = polarity.features(vectorizer, [texts[i] for i in idx], [t for _, t, _ in pairs],
                          sentiment.predict_proba(X[idx]))
    polarity.fit(F, [p for _, _, p in pairs])
    return topics, polarity, weak_count


def train(
    records: Iterable,
    taxonomy: Taxonomy | None = None,
    unlabelled: Iterable[str] | None = None,
    seed: int = 0,
    progress: bool = True,
    sources: dict[str, int] | None = None,
    weak_labels: bool | None = None,
    sentiment_C: float = 0.5,
    topic_C: float = 8.0,
) -> SklearnPredictor:
    """Fit vectorizer, sentiment, topic and topic-polarity models; return an unsaved predictor.

    ``weak_labels`` None = automatic: seed labels on the unlabelled texts when the taxonomy has seeds
    and fewer than ``COLDSTART_BELOW`` texts are annotated for topics.
    """
    from nlp import get_pipeline

    records = list(records)
    if not records:
        raise BazkhordError("train.no_data", "No training records.", {})
    raw_unlabelled = [u for u in (unlabelled or []) if u and u.strip()]
    normalize = lambda s: get_pipeline().process(s, tokenize=False).text  # noqa: E731

    texts = clean_texts([r.text for r in records], progress)
    topic_rows = [i for i, r in enumerate(records) if r.topics is not None]
    if taxonomy is None:
        ids = sorted({t for i in topic_rows for t in records[i].topics})
        taxonomy = Taxonomy.from_ids(ids)
    known = set(taxonomy.ids)
    dropped_topics = Counter(t for i in topic_rows for t in records[i].topics if t not in known)

    labeler = SeedLabeler(taxonomy, normalize)
    use_weak = weak_labels if weak_labels is not None else (
        labeler.has_seeds() and len(topic_rows) < COLDSTART_BELOW and bool(raw_unlabelled)
    )
    unl_texts = clean_texts(raw_unlabelled, progress, "normalizing unlabelled") if raw_unlabelled else []

    sent_rows = [i for i, r in enumerate(records) if r.sentiment in SENTIMENTS]
    if not sent_rows:
        raise BazkhordError("train.no_sentiment", "No record carries a sentiment label (neg/neu/pos).", {})

    vectorizer = TextVectorizer().fit(texts + unl_texts)
    X = vectorizer.transform(texts)
    sentiment = SentimentClassifier(C=sentiment_C, random_state=seed).fit(
        X[sent_rows], [records[i].sentiment for i in sent_rows]
    )

    topic_labels = [records[i].topics for i in topic_rows]
    topics, polarity, weak_count = fit_topics(
        vectorizer, sentiment, [texts[i] for i in topic_rows], topic_labels, taxonomy,
        unl_texts if use_weak else [], seed=seed, topic_C=topic_C, normalize=normalize,
    )

    now = datetime.now(timezone.utc)
    counts = {
        "records": len(records),
        "sentiment": len(sent_rows),
        "sentiment_labels": dict(Counter(records[i].sentiment for i in sent_rows)),
        "topics_annotated": len(topic_rows),
        "topic_mentions": dict(Counter(t for i in topic_rows for t in records[i].topics if t in known)),
        "unlabelled": len(unl_texts),
        "weak_labelled": weak_count,
    }
    if dropped_topics:
        counts["ignored_topics_outside_taxonomy"] = dict(dropped_topics)
    meta = {
        "version": new_version(now),
        "backend": "sklearn",
        "created": now.isoformat(timespec="seconds"),
        "taxonomy": taxonomy.to_dict(),
        "training": {
            "sets": sources or dict(Counter(getattr(r, "source", None) or "unknown" for r in records)),
            "counts": counts,
            "seed": seed,
            "cold_start": bool(use_weak),
            "params": {"sentiment_C": sentiment_C, "sentiment_nb_scaling": sentiment.nb_scaling, "topic_C": topic_C,
                       "topic_nb_scaling": topics.nb_scaling if topics is not None else None,
                       "topic_seed_prior": SEED_PRIOR if taxonomy.topics and labeler.has_seeds() else None},
        },
        "metrics": {},
        "libraries": _libraries(),
    }
    return SklearnPredictor(vectorizer, sentiment, topics, polarity, taxonomy, meta)
