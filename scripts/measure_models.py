"""Measure the sklearn backend on the data we may look at (dev splits and cross-validation only).

    .venv/bin/python scripts/measure_models.py [--only sentiment topics parsinlu coldstart] [--json OUT]

- sentiment: train on snappfood/train (+ --extra sets), score snappfood/dev comparing pos vs neg scores
  (macro-F1, accuracy, ECE of the binary confidence); texts also in dev are dropped from training;
- topics: 5-fold CV on snappfood-topics/train (micro/macro-F1, per-topic polarity accuracy on gold topics
  the model also found), with the sentiment model and vectorizer of the first step;
- parsinlu: 5-fold CV on parsinlu-food/train, a second taxonomy, trained end to end by ``train()``;
- coldstart: the snappfood taxonomy's seeds on unlabelled snappfood/train texts, no topic labels,
  scored on all of snappfood-topics/train (compare with the CV figures).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.estimators import SentimentClassifier  # noqa: E402
from models.features import TextVectorizer  # noqa: E402
from models.taxonomy import Taxonomy  # noqa: E402
from models.training_api import clean_texts, fit_topics, train  # noqa: E402
from models.types import SENTIMENTS  # noqa: E402
from training.data import load_records  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FOLDS = 5


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


def f1s(gold: list[set[str]], pred: list[set[str]], ids: list[str]) -> dict:
    tp = fp = fn = 0
    per = {}
    for t in ids:
        a = sum(1 for g, p in zip(gold, pred, strict=True) if t in g and t in p)
        b = sum(1 for g, p in zip(gold, pred, strict=True) if t not in g and t in p)
        c = sum(1 for g, p in zip(gold, pred, strict=True) if t in g and t not in p)
        tp, fp, fn = tp + a, fp + b, fn + c
        if a + c:
            per[t] = round(2 * a / max(2 * a + b + c, 1), 4)
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    return {"micro_f1": round(micro, 4), "macro_f1": round(float(np.mean(list(per.values()))), 4), "per_topic": per}


def macro_f1_binary(gold: np.ndarray, pred: np.ndarray) -> float:
    out = []
    for c in (0, 1):
        tp = np.sum((pred == c) & (gold == c))
        out.append(2 * tp / max(np.sum(pred == c) + np.sum(gold == c), 1))
    return float(np.mean(out))


def measure_sentiment(extra: list[str], C: float) -> tuple[dict, TextVectorizer, SentimentClassifier]:
    dev = load_records(DATA / "snappfood" / "dev.jsonl").records
    dev_texts = clean_texts([r.text for r in dev])
    dev_set = set(dev_texts)
    records = []
    for name in ["snappfood/train.jsonl", *extra]:
        records.extend(r for r in load_records(DATA / name).records if r.sentiment in SENTIMENTS)
    texts = clean_texts([r.text for r in records])
    keep = [i for i, t in enumerate(texts) if t not in dev_set]
    texts = [texts[i] for i in keep]
    labels = [records[i].sentiment for i in keep]
    t0 = time.time()
    vec = TextVectorizer().fit(texts)
    sent = SentimentClassifier(C=C).fit(vec.transform(texts), labels)
    fit_s = time.time() - t0
    p = sent.predict_proba(vec.transform(dev_texts))
    pos, neg = p[:, SENTIMENTS.index("pos")], p[:, SENTIMENTS.index("neg")]
    gold = np.array([1 if r.sentiment == "pos" else 0 for r in dev])
    pred = (pos > neg).astype(int)
    conf = np.maximum(pos, neg) / (pos + neg)
    res = {
        "train_rows": len(texts),
        "dev_rows": len(dev),
        "macro_f1": round(macro_f1_binary(gold, pred), 4),
        "accuracy": round(float((gold == pred).mean()), 4),
        "ece_binary": round(ece(conf, (gold == pred).astype(float)), 4),
        "temperature": round(sent.temperature_, 3),
        "fit_seconds": round(fit_s, 1),
    }
    return res, vec, sent


def cv_topics(vec, sent, C: float, weak: int = 0) -> dict:
    recs = load_records(DATA / "snappfood-topics" / "train.jsonl").records
    tax = Taxonomy.load(ROOT / "models" / "taxonomies" / "snappfood.yaml")
    texts = clean_texts([r.text for r in recs])
    weak_texts = []
    if weak:
        weak_texts = clean_texts([r.text for r in load_records(DATA / "snappfood" / "train.jsonl").records[:weak]])
    from nlp import get_pipeline

    normalize = lambda s: get_pipeline().process(s).text  # noqa: E731
    rng = np.random.default_rng(0)
    fold = rng.permutation(len(recs)) % FOLDS
    gold, pred = [], []
    pol_ok = pol_n = 0
    base_ok = 0
    for f in range(FOLDS):
        tr = np.flatnonzero(fold != f)
        te = np.flatnonzero(fold == f)
        topics, polarity, _ = fit_topics(vec, sent, [texts[i] for i in tr], [recs[i].topics for i in tr], tax,
                                         weak_texts, topic_C=C, normalize=normalize)
        from models.predictor import SklearnPredictor
        from nlp.types import CleanText

        pr = SklearnPredictor(vec, sent, topics, polarity, tax, {"version": "cv"})
        out = pr.predict([CleanText(text=texts[i]) for i in te])
        for i, (s, tl, _) in zip(te, out, strict=True):
            g = recs[i].topics
            gold.append(set(g))
            pred.append({t.topic for t in tl})
            for t in tl:
                if t.topic in g:
                    pol_n += 1
                    pol_ok += t.sentiment == g[t.topic]
                    base_ok += s.label == g[t.topic]
    res = f1s(gold, pred, tax.ids)
    res["polarity_accuracy"] = round(pol_ok / max(pol_n, 1), 4)
    res["polarity_accuracy_overall_label_baseline"] = round(base_ok / max(pol_n, 1), 4)
    res["polarity_n"] = pol_n
    return res


def cv_parsinlu() -> dict:
    recs = load_records(DATA / "parsinlu-food" / "train.jsonl").records
    ids = sorted({t for r in recs for t in (r.topics or {})})
    rng = np.random.default_rng(0)
    fold = rng.permutation(len(recs)) % FOLDS
    gold, pred = [], []
    pol_ok = pol_n = 0
    for f in range(FOLDS):
        tr = [recs[i] for i in np.flatnonzero(fold != f)]
        te = [recs[i] for i in np.flatnonzero(fold == f)]
        predictor = train(tr, progress=False)
        from nlp import get_pipeline

        out = predictor.predict(get_pipeline().process_batch([r.text for r in te]))
        for r, (_, tl, _) in zip(te, out, strict=True):
            gold.append(set(r.topics or {}))
            pred.append({t.topic for t in tl})
            for t in tl:
                if t.topic in (r.topics or {}):
                    pol_n += 1
                    pol_ok += t.sentiment == r.topics[t.topic]
    res = f1s(gold, pred, ids)
    res["polarity_accuracy"] = round(pol_ok / max(pol_n, 1), 4)
    return res


def coldstart(vec, sent, n_unlabelled: int = 8000) -> dict:
    tax = Taxonomy.load(ROOT / "models" / "taxonomies" / "snappfood.yaml")
    unl = [r.text for r in load_records(DATA / "snappfood" / "train.jsonl").records[:n_unlabelled]]
    from nlp import get_pipeline

    normalize = lambda s: get_pipeline().process(s).text  # noqa: E731
    topics, _, weak = fit_topics(vec, sent, [], [], tax, clean_texts(unl), normalize=normalize)
    recs = load_records(DATA / "snappfood-topics" / "train.jsonl").records
    texts = clean_texts([r.text for r in recs])
    P = topics.predict(vec.transform(texts))
    pred = [{tax.ids[t] for t in np.flatnonzero(row)} for row in P]
    res = f1s([set(r.topics) for r in recs], pred, tax.ids)
    res["weak_examples"] = weak
    # the seeds alone, as a rule-based tagger, for reference
    from models.coldstart import SeedLabeler

    Y = SeedLabeler(tax, normalize).label(texts)
    res["seeds_only"] = f1s([set(r.topics) for r in recs], [{tax.ids[t] for t in np.flatnonzero(y)} for y in Y],
                            tax.ids)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=["sentiment", "topics", "parsinlu", "coldstart"])
    ap.add_argument("--extra", nargs="*", default=[], help="more sentiment sets, e.g. taaghche/reviews.jsonl")
    ap.add_argument("--sentiment-C", type=float, default=0.5)
    ap.add_argument("--topic-C", type=float, default=8.0)
    ap.add_argument("--weak", type=int, default=0, help="topics: add N seed-labelled snappfood/train texts")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict = {}
    vec = sent = None
    if {"sentiment", "topics", "coldstart"} & set(args.only):
        results["sentiment_snappfood_dev"], vec, sent = measure_sentiment(args.extra, args.sentiment_C)
        print(json.dumps({"sentiment_snappfood_dev": results["sentiment_snappfood_dev"]}), flush=True)
    if "topics" in args.only:
        results["topics_snappfood_cv5"] = cv_topics(vec, sent, args.topic_C, args.weak)
        print(json.dumps({"topics_snappfood_cv5": results["topics_snappfood_cv5"]}, ensure_ascii=False), flush=True)
    if "parsinlu" in args.only:
        results["topics_parsinlu_cv5"] = cv_parsinlu()
        print(json.dumps({"topics_parsinlu_cv5": results["topics_parsinlu_cv5"]}, ensure_ascii=False), flush=True)
    if "coldstart" in args.only:
        results["coldstart_snappfood"] = coldstart(vec, sent)
        print(json.dumps({"coldstart_snappfood": results["coldstart_snappfood"]}, ensure_ascii=False), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
