"""Batch throughput: single process vs local Ray with 1 and 2 workers, side by side in one run.

    .venv/bin/python bench/batch.py [--n 200000] [--block-size 1000] [--workers 1,2]

Texts come from ../shared/data (every non-empty text of every *.jsonl, about 85k; cycled with fresh
ids when --n asks for more: the analyser caches nothing per text, so repeats cost the same). Prints
rows/s for each path, the 2-vs-1-worker scaling, Ray's start-up and Ray's overhead: a fixed cost per
run (a 1-worker run on one block, minus that block's single-process time: actor start, model load,
scheduling) and a marginal cost per row (the 1-worker run without that fixed cost, against single).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def write_input(path: Path, rows: int) -> tuple[int, int]:
    """Write ``rows`` JSONL rows; returns (rows written, distinct texts used)."""
    texts: list[str] = []
    for src in sorted(DATA.glob("*/*.jsonl")):
        with open(src, encoding="utf-8") as f:
            for line in f:
                text = json.loads(line).get("text")
                if text:
                    texts.append(text)
    if not texts:
        raise SystemExit(f"no texts under {DATA}")
    with open(path, "w", encoding="utf-8") as out:
        for n in range(rows):
            out.write(json.dumps({"id": f"b{n}", "text": texts[n % len(texts)]}, ensure_ascii=False) + "\n")
    return rows, min(rows, len(texts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", "--rows", dest="n", type=int, default=200_000, help="rows to analyse (default 200000)")
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--workers", default="1,2", help="Ray worker counts to run, comma-separated")
    args = ap.parse_args()
    from models.analyzer import Analyzer
    from training.batch import analyze_file
    from training.batch_ray import analyze_file_ray, ensure_ray

    workers = [int(w) for w in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bazkhord-bench-"))
    try:
        n, distinct = write_input(tmp / "in.jsonl", args.n)
        t = time.perf_counter()
        analyzer = Analyzer.load()
        load = time.perf_counter() - t  # what each Ray actor pays once before its first block
        t = time.perf_counter()
        analyze_file(tmp / "in.jsonl", tmp / "single", analyzer, block_size=args.block_size, progress=False)
        single = time.perf_counter() - t
        t = time.perf_counter()
        ensure_ray(num_cpus=max(workers))
        start = time.perf_counter() - t
        with open(tmp / "in.jsonl", encoding="utf-8") as f, open(tmp / "one.jsonl", "w", encoding="utf-8") as one:
            one.writelines(line for _, line in zip(range(args.block_size), f, strict=False))
        t = time.perf_counter()
        analyze_file_ray(tmp / "one.jsonl", tmp / "ray-one", workers=1, block_size=args.block_size)
        fixed = time.perf_counter() - t - single * args.block_size / n
        times = {}
        for w in workers:
            t = time.perf_counter()
            analyze_file_ray(tmp / "in.jsonl", tmp / f"ray{w}", workers=w, block_size=args.block_size)
            times[w] = time.perf_counter() - t
        print(f"rows: {n} ({distinct} distinct texts)  block size: {args.block_size}  cpus: {os.cpu_count()}  "
              f"load avg: {os.getloadavg()[0]:.1f}")
        print(f"model load: {load:.1f}s  ray start-up: {start:.1f}s (not in the Ray times below)")
        print(f"single process : {n / single:8.0f} rows/s ({single:.1f}s)")
        for w, s in times.items():
            print(f"ray {w} worker(s): {n / s:8.0f} rows/s ({s:.1f}s)")
        if 1 in times:
            print(f"ray 1 worker overhead vs single: {(times[1] - single) / n * 1e3:.3f} ms/row in all = "
                  f"fixed {fixed:.1f}s per run (actor start + model load) + "
                  f"{(times[1] - fixed - single) / n * 1e3:.3f} ms/row marginal")
        if 1 in times and 2 in times:
            print(f"scaling ray 2 vs 1 workers: {times[1] / times[2]:.2f}x; "
                  f"ray 2 workers vs single: {single / times[2]:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
