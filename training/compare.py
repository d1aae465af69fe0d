"""Compare two models on the same gold records: per-label F1 deltas with paired bootstrap intervals.

Both models are scored on exactly the same examples, and each bootstrap replicate resamples the
examples once for both, so the interval is for the *difference* (it is narrower than comparing two
separate intervals, and honest about how few held-out labels there are).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SENTIMENTS = ("neg", "neu", "pos")


def _counts(gold: Sequence[set[str]], pred: Sequence[set[str]], labels: Sequence[str]) -> np.ndarray:
    """Per-example true-positive / false-positive / false-negative indicators: shape (n, labels, 3)."""
    out = np.zeros((len(gold), len(labels), 3), dtype=np.int32)
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        for j, lab in enumerate(labels):
            out[i, j] = (lab in g and lab in p, lab in p and lab not in g, lab in g and lab not in p)
    return out


def _f1(c: np.ndarray) -> np.ndarray:
    """F1 from summed counts (..., 3); 0 where a label has no gold and no prediction."""
    tp, fp, fn = c[..., 0].astype(float), c[..., 1].astype(float), c[..., 2].astype(float)
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


def label_scores(counts: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-label F1, micro-F1 and macro-F1 for each row of example weights (bootstrap counts)."""
    w = np.ones((1, counts.shape[0])) if weights is None else weights
    summed = np.einsum("bn,nlk->blk", w, counts)  # (B, labels, 3)
    per_label = _f1(summed)
    return {"per_label": per_label, "micro": _f1(summed.sum(axis=1)), "macro": per_label.mean(axis=1)}


def _interval(new: np.ndarray, old: np.ndarray) -> tuple[float, float]:
    d = new - old
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def _entry(new_point: float, old_point: float | None, new_boot, old_boot, support: int | None = None) -> dict:
    e = {"new": round(float(new_point), 4)}
    if old_point is not None:
        lo, hi = _interval(new_boot, old_boot)
        e.update(old=round(float(old_point), 4), delta=round(float(new_point - old_point), 4),
                 ci_low=round(lo, 4), ci_high=round(hi, 4))
    if support is not None:
        e["support"] = int(support)
    return e


def topic_sets(analyses) -> list[set[str]]:
    return [{t.topic for t in a.topics} for a in analyses]


def compare(
    gold: Sequence,
    new: Sequence,
    old: Sequence | None = None,
    topic_ids: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Score ``new`` (and ``old``) analyses against ``gold`` records with paired bootstrap deltas.

    ``gold`` are ``training.data.Record``; ``new``/``old`` are ``models.types.Analysis`` in the
    same order. Topics are scored on records annotated for topics, sentiment on records with one.
    """
    rng = np.random.default_rng(seed)
    out: dict = {"n": len(gold), "bootstrap": n_boot, "interval": "95% paired bootstrap percentile", "metrics": {},
                 "per_label": {}}
    models = {"new": new} | ({"old": old} if old is not None else {})

    # topics (multi-label)
    idx = [i for i, g in enumerate(gold) if g.topics is not None]
    if idx:
        gold_sets = [set(gold[i].topics) for i in idx]
        labels = sorted(set(topic_ids) if topic_ids else set().union(*gold_sets))
        if labels:
            w = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=n_boot)
            res = {}
            for name, analyses in models.items():
                pred = [topic_sets([analyses[i]])[0] for i in idx]
                c = _counts(gold_sets, pred, labels)
                res[name] = (label_scores(c), label_scores(c, w))
            old_r = res.get("old")
            for key in ("micro", "macro"):
                out["metrics"][f"topics.{key}_f1"] = _entry(
                    res["new"][0][key][0], old_r[0][key][0] if old_r else None,
                    res["new"][1][key], old_r[1][key] if old_r else None, len(idx))
            for j, lab in enumerate(labels):
                support = sum(lab in g for g in gold_sets)
                out["per_label"][f"topic:{lab}"] = _entry(
                    res["new"][0]["per_label"][0, j], old_r[0]["per_label"][0, j] if old_r else None,
                    res["new"][1]["per_label"][:, j], old_r[1]["per_label"][:, j] if old_r else None, support)

    # overall sentiment (single-label: per-label F1 one-vs-rest, micro-F1 = accuracy)
    idx = [i for i, g in enumerate(gold) if g.sentiment is not None]
    if idx:
        gold_sets = [{gold[i].sentiment} for i in idx]
        labels = list(SENTIMENTS)
        w = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=n_boot)
        res = {}
        for name, analyses in models.items():
            c = _counts(gold_sets, [{analyses[i].sentiment.label} for i in idx], labels)
            res[name] = (label_scores(c), label_scores(c, w))
        old_r = res.get("old")
        for key, metric in (("micro", "sentiment.accuracy"), ("macro", "sentiment.macro_f1")):
            out["metrics"][metric] = _entry(
                res["new"][0][key][0], old_r[0][key][0] if old_r else None,
                res["new"][1][key], old_r[1][key] if old_r else None, len(idx))
        for j, lab in enumerate(labels):
            support = sum(lab in g for g in gold_sets)
            if support:
                out["per_label"][f"sentiment:{lab}"] = _entry(
                    res["new"][0]["per_label"][0, j], old_r[0]["per_label"][0, j] if old_r else None,
                    res["new"][1]["per_label"][:, j], old_r[1]["per_label"][:, j] if old_r else None, support)
    return out
