"""Score an analyser against labelled records: sentiment, topics and per-topic polarity.

``evaluate(analyzer, records)`` returns the JSON of ``bazkhord evaluate --json`` (issue 3):

    {"n", "sentiment": {"n", "labels", "accuracy", "macro_f1", "per_label": {...}, "ece"},
     "topics": {"n", "micro_f1", "macro_f1", "per_topic": {...}},
     "topic_polarity": {"n", "accuracy", "macro_f1"}}

Each section is present only when the records carry those labels. Conventions (stated once here,
used by the CLI, the HTML report and the tests):

- Binary data (gold sentiment only ``neg``/``pos``): the model's ``pos`` and ``neg`` scores are
  compared alone (``p = pos / (pos + neg)``, predicted ``pos`` when ``p > 0.5``, confidence
  ``max(p, 1 - p)``); a 3-class model is not penalised for a ``neu`` it may not choose here.
- Otherwise the model's own label is the prediction and its score for that label the confidence.
- ECE: top-label expected calibration error, 10 equal-width confidence bins.
- Macro averages run over the labels (topics) that occur in the gold data or the predictions;
  a label absent from both says nothing about the model and is left out. Undefined ratios are 0.
- Topics: only records with a ``topics`` key count (``{}`` = annotated, no topic). A predicted
  topic that the data never mentions is a false positive like any other.
- Topic polarity: for each gold topic that the model also found, gold polarity vs predicted polarity.

The metric functions are public and pure so they can be checked against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from models.types import SENTIMENTS, Analysis
from nlp.errors import BazkhordError
from training.data import Record

ECE_BINS = 10


class AnalyzerLike(Protocol):
    version: str

    def analyze(self, texts: Sequence[str], batch_size: int = 256) -> list[Analysis]: ...


# ---------------------------------------------------------------- metric functions


def confusion_matrix(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts ``[i, j]`` = gold ``labels[i]`` predicted as ``labels[j]``; pairs outside ``labels`` are ignored."""
    index = {label: i for i, label in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            m[index[g], index[p]] += 1
    return m


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (0 where undefined)."""
    p = _ratio(tp, tp + fp)
    r = _ratio(tp, tp + fn)
    return p, r, _ratio(2 * p * r, p + r)


def per_label_scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict]:
    """``{label: {precision, recall, f1, support}}`` for single-label classification."""
    m = confusion_matrix(gold, pred, labels)
    out: dict[str, dict] = {}
    for i, label in enumerate(labels):
        tp = m[i, i]
        p, r, f = prf(tp, m[:, i].sum() - tp, m[i, :].sum() - tp)
        out[label] = {"precision": p, "recall": r, "f1": f, "support": int(m[i, :].sum())}
    return out


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Mean F1 over the labels seen in gold or predictions (restricted to ``labels`` when given)."""
    seen = set(gold) | set(pred)
    used = [label for label in (labels if labels is not None else sorted(seen)) if label in seen]
    if not used:
        return 0.0
    scores = per_label_scores(gold, pred, used)
    return float(np.mean([scores[label]["f1"] for label in used]))


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = ECE_BINS) -> list[dict]:
    """Equal-width confidence bins ``[lo, hi)`` (the last one closed): count, mean confidence, accuracy."""
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    ok = np.asarray(correct, dtype=float)
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = idx == b
        n = int(mask.sum())
        bins.append({
            "lo": b / n_bins,
            "hi": (b + 1) / n_bins,
            "n": n,
            "confidence": float(conf[mask].mean()) if n else None,
            "accuracy": float(ok[mask].mean()) if n else None,
        })
    return bins


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = ECE_BINS) -> float:
    """Sum over bins of (bin share of rows) x |accuracy - mean confidence|."""
    total = len(confidence)
    if not total:
        return 0.0
    return float(sum(
        b["n"] / total * abs(b["accuracy"] - b["confidence"])
        for b in reliability_bins(confidence, correct, n_bins) if b["n"]
    ))


def multilabel_scores(
    gold: Sequence[set[str]], pred: Sequence[set[str]], topics: Sequence[str] | None = None
) -> dict[str, Any]:
    """Micro/macro F1 and ``per_topic`` {precision, recall, f1, support} for sets of topics per row."""
    if topics is None:
        topics = sorted(set().union(*gold, *pred)) if gold else []
    per: dict[str, dict] = {}
    tp_all = fp_all = fn_all = 0
    for t in topics:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if t in g and t in p)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if t not in g and t in p)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if t in g and t not in p)
        p_, r_, f_ = prf(tp, fp, fn)
        per[t] = {"precision": p_, "recall": r_, "f1": f_, "support": tp + fn}
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    return {
        "micro_f1": prf(tp_all, fp_all, fn_all)[2],
        "macro_f1": float(np.mean([v["f1"] for v in per.values()])) if per else 0.0,
        "per_topic": per,
    }


# ---------------------------------------------------------------- pairing gold with predictions


def binary_probability(scores: dict[str, float]) -> float:
    """P(pos) from the pos and neg scores alone; 0.5 when the model gives both nothing."""
    pos, neg = float(scores.get("pos", 0.0)), float(scores.get("neg", 0.0))
    return pos / (pos + neg) if pos + neg > 0 else 0.5


@dataclass(slots=True)
class SentimentPairs:
    """Gold vs predicted overall sentiment for the records that carry a sentiment label."""

    rows: list[int]  # indexes into Evaluation.records / .analyses
    gold: list[str]
    pred: list[str]
    confidence: list[float]
    labels: list[str]
    binary: bool

    @property
    def correct(self) -> list[bool]:
        return [g == p for g, p in zip(self.gold, self.pred, strict=True)]


@dataclass(slots=True)
class TopicPairs:
    rows: list[int]
    gold: list[set[str]]
    pred: list[set[str]]
    topics: list[str]  # gold ∪ predicted, in a stable order
    # topic polarity: one entry per gold topic that the model also found
    polarity_rows: list[int] = field(default_factory=list)
    polarity_topics: list[str] = field(default_factory=list)
    polarity_gold: list[str] = field(default_factory=list)
    polarity_pred: list[str] = field(default_factory=list)


def sentiment_pairs(records: Sequence[Record], analyses: Sequence[Analysis]) -> SentimentPairs | None:
    rows = [i for i, r in enumerate(records) if r.sentiment is not None]
    if not rows:
        return None
    gold = [records[i].sentiment for i in rows]
    binary = set(gold) <= {"neg", "pos"}
    pred: list[str] = []
    conf: list[float] = []
    for i in rows:
        s = analyses[i].sentiment
        if binary:
            p = binary_probability(s.scores)
            pred.append("pos" if p > 0.5 else "neg")
            conf.append(max(p, 1.0 - p))
        else:
            pred.append(s.label)
            conf.append(float(s.scores.get(s.label, 0.0)))
    labels = ["neg", "pos"] if binary else list(SENTIMENTS)
    return SentimentPairs(rows, gold, pred, conf, labels, binary)  # type: ignore[arg-type]


def topic_pairs(records: Sequence[Record], analyses: Sequence[Analysis]) -> TopicPairs | None:
    rows = [i for i, r in enumerate(records) if r.topics is not None]
    if not rows:
        return None
    gold = [set(records[i].topics or {}) for i in rows]
    pred = [{t.topic for t in analyses[i].topics} for i in rows]
    taxonomy_order: list[str] = []
    for i in rows:  # first-seen order keeps tables readable (gold topics first)
        for t in records[i].topics or {}:
            if t not in taxonomy_order:
                taxonomy_order.append(t)
    for p in pred:
        for t in sorted(p):
            if t not in taxonomy_order:
                taxonomy_order.append(t)
    pairs = TopicPairs(rows, gold, pred, taxonomy_order)
    for i in rows:
        found = {t.topic: t.sentiment for t in analyses[i].topics}
        for topic, polarity in (records[i].topics or {}).items():
            if topic in found:
                pairs.polarity_rows.append(i)
                pairs.polarity_topics.append(topic)
                pairs.polarity_gold.append(polarity)
                pairs.polarity_pred.append(found[topic])
    return pairs


# ---------------------------------------------------------------- the evaluation


@dataclass(slots=True)
class Evaluation:
    """Records, their analyses and the paired labels; ``summary()`` is the ``--json`` object."""

    records: list[Record]
    analyses: list[Analysis]
    model: str
    sentiment: SentimentPairs | None
    topics: TopicPairs | None

    @classmethod
    def from_analyses(cls, records: Sequence[Record], analyses: Sequence[Analysis], model: str = "") -> Evaluation:
        if len(records) != len(analyses):
            raise ValueError(f"{len(records)} records but {len(analyses)} analyses")
        return cls(list(records), list(analyses), model,
                   sentiment_pairs(records, analyses), topic_pairs(records, analyses))

    def summary(self) -> dict:
        out: dict[str, Any] = {"n": len(self.records)}
        s = self.sentiment
        if s is not None:
            out["sentiment"] = {
                "n": len(s.gold),
                "labels": list(s.labels),
                "accuracy": accuracy(s.gold, s.pred),
                "macro_f1": macro_f1(s.gold, s.pred, s.labels),
                "per_label": per_label_scores(s.gold, s.pred, s.labels),
                "ece": expected_calibration_error(s.confidence, s.correct),
            }
        t = self.topics
        if t is not None:
            out["topics"] = {"n": len(t.rows), **multilabel_scores(t.gold, t.pred, t.topics)}
            n_pol = len(t.polarity_gold)
            out["topic_polarity"] = {
                "n": n_pol,
                "accuracy": accuracy(t.polarity_gold, t.polarity_pred) if n_pol else None,
                "macro_f1": macro_f1(t.polarity_gold, t.polarity_pred, SENTIMENTS) if n_pol else None,
            }
        return out


def analyze_records(
    analyzer: AnalyzerLike, records: Sequence[Record], batch_size: int = 256, progress: bool = False
) -> list[Analysis]:
    """Run the analyser over the records' texts in batches (a tqdm bar on stderr when ``progress``)."""
    texts = [r.text for r in records]
    analyses: list[Analysis] = []
    from tqdm import tqdm

    with tqdm(total=len(texts), desc="analyzing", unit="text", disable=not progress, leave=False) as bar:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            analyses.extend(analyzer.analyze(chunk, batch_size=batch_size))
            bar.update(len(chunk))
    if len(analyses) != len(texts):
        raise BazkhordError("model.bad_output", f"the model returned {len(analyses)} analyses for {len(texts)} texts",
                            http_status=500)
    return analyses


def run_evaluation(
    analyzer: AnalyzerLike, records: Sequence[Record], batch_size: int = 256, progress: bool = False
) -> Evaluation:
    if not records:
        raise BazkhordError("data.empty", "no records to evaluate")
    analyses = analyze_records(analyzer, records, batch_size=batch_size, progress=progress)
    return Evaluation.from_analyses(records, analyses, model=str(getattr(analyzer, "version", "")))


def evaluate(analyzer: AnalyzerLike, records: Sequence[Record]) -> dict:
    """The ``bazkhord evaluate --json`` object for ``analyzer`` on ``records``."""
    return run_evaluation(analyzer, records).summary()


# ---------------------------------------------------------------- bootstrap intervals


def bootstrap_weights(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` row multiplicities of bootstrap resamples (each row sums to n)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def _interval(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def _prf_arrays(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return p, r, f


def bootstrap_label_intervals(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """95% percentile intervals for accuracy, macro-F1 and each label's precision/recall/F1."""
    g, p = np.asarray(gold), np.asarray(pred)
    w = bootstrap_weights(len(g), n_boot, seed)
    out: dict[str, Any] = {"accuracy": _interval(w @ (g == p).astype(float) / len(g)), "per_label": {}}
    f1s = []
    for label in labels:
        tp = w @ ((g == label) & (p == label)).astype(float)
        fp = w @ ((g != label) & (p == label)).astype(float)
        fn = w @ ((g == label) & (p != label)).astype(float)
        pr, rc, f1 = _prf_arrays(tp, fp, fn)
        out["per_label"][label] = {"precision": _interval(pr), "recall": _interval(rc), "f1": _interval(f1)}
        if (g == label).any() or (p == label).any():
            f1s.append(f1)
    out["macro_f1"] = _interval(np.mean(f1s, axis=0)) if f1s else [0.0, 0.0]
    return out


def bootstrap_topic_intervals(
    gold: Sequence[set[str]], pred: Sequence[set[str]], topics: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """95% percentile intervals for micro/macro F1 and each topic's precision/recall/F1 (rows resampled)."""
    w = bootstrap_weights(len(gold), n_boot, seed)
    out: dict[str, Any] = {"per_topic": {}, "micro_f1": None, "macro_f1": None}
    tps, fps, fns, f1s = [], [], [], []
    for t in topics:
        gi = np.array([t in s for s in gold])
        pi = np.array([t in s for s in pred])
        tp, fp, fn = w @ (gi & pi).astype(float), w @ (~gi & pi).astype(float), w @ (gi & ~pi).astype(float)
        pr, rc, f1 = _prf_arrays(tp, fp, fn)
        out["per_topic"][t] = {"precision": _interval(pr), "recall": _interval(rc), "f1": _interval(f1)}
        tps.append(tp)
        fps.append(fp)
        fns.append(fn)
        f1s.append(f1)
    if topics:
        out["micro_f1"] = _interval(_prf_arrays(sum(tps), sum(fps), sum(fns))[2])
        out["macro_f1"] = _interval(np.mean(f1s, axis=0))
    return out


# ---------------------------------------------------------------- worst errors


def worst_sentiment_errors(ev: Evaluation, k: int = 20) -> list[dict]:
    """The ``k`` most confident wrong sentiment predictions (the ones an analyst should read first)."""
    s = ev.sentiment
    if s is None:
        return []
    wrong = [j for j, ok in enumerate(s.correct) if not ok]
    wrong.sort(key=lambda j: -s.confidence[j])
    out = []
    for j in wrong[:k]:
        a = ev.analyses[s.rows[j]]
        out.append({
            "id": ev.records[s.rows[j]].id,
            "clean_text": a.clean_text,
            "gold": s.gold[j],
            "pred": s.pred[j],
            "confidence": s.confidence[j],
            "scores": dict(a.sentiment.scores),
            "topics": [t.to_dict() for t in a.topics],
        })
    return out


def worst_topic_errors(ev: Evaluation, k: int = 20) -> list[dict]:
    """Rows with the most topic mistakes, spurious topics ranked by the model's score (with evidence)."""
    t = ev.topics
    if t is None:
        return []
    scored = []
    for j, i in enumerate(t.rows):
        missed, spurious = t.gold[j] - t.pred[j], t.pred[j] - t.gold[j]
        if not missed and not spurious:
            continue
        a = ev.analyses[i]
        top_spurious = max((x.score for x in a.topics if x.topic in spurious), default=0.0)
        scored.append((len(missed) + len(spurious), top_spurious, j, i, missed, spurious))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    out = []
    for _, _, _j, i, missed, spurious in scored[:k]:
        a = ev.analyses[i]
        out.append({
            "id": ev.records[i].id,
            "clean_text": a.clean_text,
            "gold": dict(ev.records[i].topics or {}),
            "missed": sorted(missed),
            "spurious": [x.to_dict() for x in a.topics if x.topic in spurious],
            "topics": [x.to_dict() for x in a.topics],
        })
    return out
