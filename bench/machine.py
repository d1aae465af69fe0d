"""How steady this machine's CPUs are: context for every other figure (a shared VM's vary).

One CPU-bound process per core counts its loop iterations in 100 ms windows, all at the same time.
Prints, per process, the median rate, the ratio of each process's median to the fastest one's, and
how many windows fell below 80 % of its own median (and the lowest): a dip of that size during a load
run becomes a backlog. Python only, no repo code.

Usage: .venv/bin/python bench/machine.py [--seconds 20] [--processes N (default: the cores)]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from multiprocessing import Pool

WINDOW_S = 0.1


def probe(seconds: float) -> list[int]:
    """Loop iterations (of 1,000 empty turns) in each 100 ms window for ``seconds``."""
    end, counts = time.monotonic() + seconds, []
    while time.monotonic() < end:
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < WINDOW_S:
            for _ in range(1000):
                pass
            n += 1
        counts.append(n)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with Pool(args.processes) as pool:
        runs = pool.map(probe, [args.seconds] * args.processes)
    medians = [statistics.median(c) for c in runs]
    fastest = max(medians)
    print(f"{args.processes} CPU-bound processes × {args.seconds:g} s, {WINDOW_S * 1000:.0f} ms windows")
    for i, (counts, med) in enumerate(zip(runs, medians, strict=True)):
        low = [n for n in counts if n < 0.8 * med]
        lowest = min(counts) / med
        print(f"  process {i}: median {med:.0f}/window ({med / fastest:.2f}x the fastest), "
              f"{len(low)} of {len(counts)} windows below 80% of it, lowest {lowest:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
