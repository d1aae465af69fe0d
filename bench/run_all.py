"""Run every bench/*.py script and write bench/RESULTS.md (machine, date, each script's output).

Usage: .venv/bin/python bench/run_all.py [--only NAME ...] [--timeout SECONDS]
Each script prints its own figures and ratios, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="script names without .py")
    ap.add_argument("--timeout", type=int, default=900, help="per script, seconds")
    args = ap.parse_args()
    scripts = sorted(p for p in BENCH.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    if args.only:
        scripts = [p for p in scripts if p.stem in set(args.only)]
    out = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        "- command: `make bench` (`python bench/run_all.py`)",
        "",
    ]
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, str(script)], capture_output=True, text=True, timeout=args.timeout, cwd=BENCH.parent
            )
            text, rc = proc.stdout + (proc.stderr[-2000:] if proc.returncode else ""), proc.returncode
        except subprocess.TimeoutExpired:
            text, rc = f"timed out after {args.timeout} s", -1
        failed += rc != 0
        print(text, flush=True)
        out += [f"## {script.stem}", "", f"exit {rc}, {time.perf_counter() - t0:.0f} s", "", "```", text.strip(), "```", ""]
    (BENCH / "RESULTS.md").write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {BENCH / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
