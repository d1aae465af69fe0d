"""Batch analyze throughput vs hazm's normalizer alone, on the same texts, in one run.

    .venv/bin/python bench/analyze.py [--n 3000] [--model DIR]

Prints texts/s of ``hazm.Normalizer().normalize`` over the texts, of ``Analyzer.analyze`` (the full
product path: nlp pipeline + sentiment + topics + polarity + evidence) over the same texts, and the
ratio analyze / normalize (target >= 1.0). Texts: SnappFood dev comments from ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_texts(n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "snappfood" / "dev.jsonl"
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if len(texts) >= n:
                break
    return texts


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    from hazm import Normalizer

    from models.analyzer import Analyzer

    texts = load_texts(args.n)
    normalizer = Normalizer()
    analyzer = Analyzer.load(args.model)
    analyzer.analyze(texts[:50])  # warm caches (vectorizer rebuild, stopwords)
    from models.heap import freeze_heap

    # as `bazkhord serve` and `bazkhord batch` run after loading a model; it speeds up both timings (the
    # garbage collector no longer walks the ~400k objects that loading the model and its libraries left)
    freeze_heap()

    # alternated, best of each: a slow spell of the machine hits both sides, not one
    t_norm = t_an = float("inf")
    for _ in range(args.repeats):
        t_norm = min(t_norm, best_of(lambda: [normalizer.normalize(t) for t in texts], 1))
        t_an = min(t_an, best_of(lambda: analyzer.analyze(texts), 1))
    n = len(texts)
    print(f"texts: {n} SnappFood dev comments, model {analyzer.version}")
    print(f"hazm Normalizer.normalize: {n / t_norm:9.0f} texts/s")
    print(f"Analyzer.analyze (batch):  {n / t_an:9.0f} texts/s")
    print(f"ratio analyze / normalize: {t_norm / t_an:.2f}x (target >= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
