"""Batch throughput: single process vs local Ray with 1 and 2 workers, side by side in one run.

    .venv/bin/python bench/batch.py [--rows N] [--block-size B]

Texts come from ../shared/data (snappfood, then taaghche/digikala to reach N). Prints rows/s for
each path, the 2-vs-1-worker scaling and Ray's fixed start-up plus per-row overhead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def write_input(path: Path, rows: int) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for src in sorted(DATA.glob("*/*.jsonl")):
            with open(src, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    if not row.get("text"):
                        continue
                    out.write(json.dumps({"id": f"b{n}", "text": row["text"]}, ensure_ascii=False) + "\n")
                    n += 1
                    if n == rows:
                        return n
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--block-size", type=int, default=1000)
    args = ap.parse_args()
    from models.analyzer import Analyzer
    from training.batch import analyze_file
    from training.batch_ray import analyze_file_ray, ensure_ray

    tmp = Path(tempfile.mkdtemp(prefix="bazkhord-bench-"))
    try:
        n = write_input(tmp / "in.jsonl", args.rows)
        analyzer = Analyzer.load()
        t = time.perf_counter()
        analyze_file(tmp / "in.jsonl", tmp / "single", analyzer, block_size=args.block_size, progress=False)
        single = time.perf_counter() - t
        t = time.perf_counter()
        ensure_ray(num_cpus=2)
        start = time.perf_counter() - t
        times = {}
        for workers in (1, 2):
            t = time.perf_counter()
            analyze_file_ray(tmp / "in.jsonl", tmp / f"ray{workers}", workers=workers, block_size=args.block_size)
            times[workers] = time.perf_counter() - t
        print(f"rows: {n}  block size: {args.block_size}  ray start-up: {start:.1f}s")
        print(f"single process : {n / single:8.0f} rows/s ({single:.1f}s)")
        for w, s in times.items():
            print(f"ray {w} worker(s): {n / s:8.0f} rows/s ({s:.1f}s)")
        print(f"scaling ray 2 vs 1 workers: {times[1] / times[2]:.2f}x; ray 2 workers vs single: {single / times[2]:.2f}x")
        print(f"ray 1 worker overhead vs single: {(times[1] - single) / n * 1e3:.3f} ms/row (includes actor model load)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
