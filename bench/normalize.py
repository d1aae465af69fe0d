"""Text-pipeline throughput against hazm, measured side by side on the same SnappFood comments.

Usage: .venv/bin/python bench/normalize.py [--n 10000] [--rounds 3] [--no-informal]

Prints texts/s of the full pipeline (normalize + PII mask + tokenize) and of
``hazm.Normalizer().normalize`` alone, and their ratio (target >= 1.0x); then what each hazm step
costs and how many texts it changes, what each of our parts costs, and whether hazm's
InformalNormalizer (colloquial → formal) earns its cost: its speed, and the accuracy of a small
TF-IDF + logistic-regression sentiment model trained with and without it.
Timings are the best of ``--rounds`` interleaved rounds (the machine may be shared).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def data_dir() -> Path:
    from tests.conftest import shared_data_dir

    found = shared_data_dir()
    if found is None:
        sys.exit("../shared/data not found (set BAZKHORD_SHARED_DATA)")
    return found


def load(path: Path, n: int, with_labels: bool = False) -> list:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in itertools.islice(f, n)]
    return [(r["text"], r.get("sentiment")) for r in rows] if with_labels else [r["text"] for r in rows]


def best_time(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="number of SnappFood texts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-informal", action="store_true", help="skip the InformalNormalizer measurements")
    args = ap.parse_args()

    texts = load(data_dir() / "snappfood" / "train.jsonl", args.n)
    n = len(texts)
    print(f"{n} SnappFood comments (snappfood/train.jsonl), mean {sum(map(len, texts)) / n:.0f} chars")

    t0 = time.perf_counter()
    from hazm import Normalizer as HazmNormalizer
    from hazm import WordTokenizer

    hazm = HazmNormalizer()
    t_hazm_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    from nlp.normalizer import Normalizer
    from nlp.pii import PiiMasker
    from nlp.pipeline import TextPipeline

    pipe = TextPipeline()
    t_pipe_init = time.perf_counter() - t0
    print(f"start-up: hazm Normalizer {t_hazm_init:.1f} s; our TextPipeline {t_pipe_init:.1f} s (built once per process)")
    tokenizer = WordTokenizer()
    masker = PiiMasker()
    normalizer = pipe.normalizer
    with_hazm_spacing = Normalizer(hazm_spacing=True)
    for t in texts[:50]:  # warm caches and lazy lexicons outside the timings
        pipe.process(t), hazm.normalize(t), with_hazm_spacing.normalize(t)

    main_fns = {
        "hazm Normalizer().normalize": lambda: [hazm.normalize(t) for t in texts],
        "our pipeline (normalize+mask+tokenize)": lambda: pipe.process_batch(texts),
    }
    part_fns = {
        "our normalize only": lambda: [normalizer.normalize(t) for t in texts],
        "our normalize, hazm correct_spacing instead of ours": lambda: [with_hazm_spacing.normalize(t) for t in texts],
        "PII masking only": lambda: [masker.mask(t) for t in texts],
        "hazm word_tokenize only": lambda: [tokenizer.tokenize(t) for t in texts],
    }
    best = best_time(main_fns, args.rounds)
    base = best["hazm Normalizer().normalize"]
    print(f"\n## Throughput (best of {args.rounds} rounds)")
    for name, secs in best.items():
        print(f"{name:55s} {n / secs:9.0f} texts/s  {secs:6.2f} s")
    ratio = base / best["our pipeline (normalize+mask+tokenize)"]
    print(f"RATIO full pipeline / hazm normalize: {ratio:.2f}x  (target >= 1.0x)")

    print("\n## Our parts")
    for name, secs in best_time(part_fns, args.rounds).items():
        print(f"{name:55s} {n / secs:9.0f} texts/s  {secs / base:5.2f}x hazm normalize time")

    print("\n## hazm Normalizer steps: cost and texts changed (each step on the raw texts)")
    from hazm.utils import maketrans

    src = getattr(hazm, "translation_src", None)
    dst = getattr(hazm, "translation_dst", None)
    if src is None:
        from hazm import constants

        src, dst = constants.TRANSLATION_SRC, constants.TRANSLATION_DST
    table = maketrans(src, dst)
    steps: dict[str, Callable[[str], str]] = {
        "character table": lambda t: t.translate(table),
        "persian_style": hazm.persian_style,
        "persian_number": hazm.persian_number,
        "remove_diacritics": hazm.remove_diacritics,
        "correct_spacing": hazm.correct_spacing,
        "unicodes_replacement": hazm.unicodes_replacement,
        "remove_specials_chars": hazm.remove_specials_chars,
        "decrease_repeated_chars": hazm.decrease_repeated_chars,
        "seperate_mi": hazm.seperate_mi,
    }
    step_best = best_time({k: (lambda f=f: [f(t) for t in texts]) for k, f in steps.items()}, args.rounds)
    for name, f in steps.items():
        changed = sum(f(t) != t for t in texts)
        print(f"{name:25s} {step_best[name] / base * 100:5.1f}% of normalize time, changes {changed / n * 100:5.1f}% of texts")

    if not args.no_informal:
        informal(texts, n, base)
    return 0


def informal(texts: list[str], n: int, base: float) -> None:
    """Does hazm's InformalNormalizer earn its cost? Speed, and a small sentiment-accuracy check."""
    from hazm import InformalNormalizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from nlp.pipeline import get_pipeline

    print("\n## Colloquial → formal (hazm InformalNormalizer)")
    t0 = time.perf_counter()
    inf = InformalNormalizer()
    print(f"start-up {time.perf_counter() - t0:.1f} s")

    def formal(text: str) -> str:
        return " ".join(tok[0] for sent in inf.normalize(text) for tok in sent if tok)

    sample = texts[:500]
    t0 = time.perf_counter()
    for t in sample:
        formal(t)
    secs = time.perf_counter() - t0
    print(f"{len(sample) / secs:.0f} texts/s = {secs / len(sample) * n / base:.1f}x hazm normalize time")

    rows = load(data_dir() / "snappfood" / "dev.jsonl", 3000, with_labels=True)
    train, test = rows[:2000], rows[2000:]
    pipe = get_pipeline()

    def score(prep: Callable[[str], str]) -> float:
        x_train = [prep(t) for t, _ in train]
        x_test = [prep(t) for t, _ in test]
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        model = LogisticRegression(max_iter=1000).fit(vec.fit_transform(x_train), [y for _, y in train])
        return f1_score([y for _, y in test], model.predict(vec.transform(x_test)), average="macro")

    plain = score(lambda t: " ".join(pipe.process(t).tokens))
    with_inf = score(lambda t: " ".join(pipe.process(formal(t)).tokens))
    print(
        "sentiment macro-F1, TF-IDF+LR, 2000 train / 1000 test (snappfood/dev.jsonl): "
        f"pipeline {plain:.3f}, pipeline + InformalNormalizer {with_inf:.3f} ({with_inf - plain:+.3f})"
    )


if __name__ == "__main__":
    sys.exit(main())
