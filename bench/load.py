"""Loopback load generator: a mixed workload at a fixed rate against the real server, bounded in time.

Starts ``bazkhord serve`` (uvicorn) on 127.0.0.1 with a fresh SQLite database and the default model,
then sends, open-loop at ``--rate`` requests/s for ``--seconds``: 50 % POST /v1/analyze (one text),
30 % POST /v1/feedback (one record, unique external_id), 20 % GET /v1/indicators. Latency is measured
from each request's *scheduled* time, so a server that falls behind shows it (no coordinated omission).
Stops by itself: at most rate × seconds requests, then a drain of at most 15 s. The clock starts once
every worker is ready (20 readiness answers in a row on new connections); ``--cold`` starts it at the
first ready answer, while the other workers may still be loading their models.
Prints achieved rate, errors, p50/p95/p99 per kind and overall; target: 200 req/s, 0 errors, p99 < 100 ms.
Exit status 1 on any error (so a short run can gate CI: ``--seconds 5 --rate 50``).

Usage: .venv/bin/python bench/load.py [--seconds 60] [--rate 200] [--connections 32] [--workers N] [--cold] [--json] [--log FILE]
Texts are real comments from ../shared/data/snappfood-stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BAZKHORD_SHARED_DATA", REPO.parent / "shared" / "data"))
_CL = re.compile(rb"content-length:\s*(\d+)", re.I)
MIX = (("analyze", 5), ("ingest", 3), ("indicators", 2))  # out of 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def texts(n: int) -> list[str]:
    with (DATA / "snappfood-stream" / "comments.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]
    return [t for t in rows if t.strip()]


def _req(method: str, path: str, key: str, body: object | None = None) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: load\r\nX-API-Key: {key}\r\n"
    if data:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return head.encode() + b"\r\n" + data


def make_requests(n: int, keys: dict[str, str], pool: list[str], run: str) -> list[tuple[str, bytes]]:
    """The whole schedule, built before the clock starts (request i goes out at i / rate)."""
    kinds = [k for k, w in MIX for _ in range(w)]
    out = []
    for i in range(n):
        kind, text = kinds[(i * 7) % len(kinds)], pool[i % len(pool)]
        if kind == "analyze":
            out.append((kind, _req("POST", "/v1/analyze", keys["ingest"], {"texts": [text]})))
        elif kind == "ingest":
            item = {"text": text, "external_id": f"load-{run}-{i}", "channel": "load"}
            out.append((kind, _req("POST", "/v1/feedback", keys["ingest"], item)))
        else:
            out.append((kind, _req("GET", "/v1/indicators?period=day", keys["manager"])))
    return out


async def _worker(port: int, schedule: list[tuple[str, bytes]], rate: float, start: float, cursor: list[int],
                  results: list[tuple[str, int, float]], hard_stop: float) -> None:
    reader = writer = None
    while True:
        i = cursor[0]
        if i >= len(schedule) or time.perf_counter() > hard_stop:
            break
        cursor[0] += 1
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        kind, payload = schedule[i]
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
            m = _CL.search(head)
            await reader.readexactly(int(m.group(1)) if m else 0)
            status = int(head[9:12])
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, writer = 0, None
        results.append((kind, status, time.perf_counter() - due))
    if writer is not None:
        writer.close()


def run_load(port: int, schedule: list[tuple[str, bytes]], rate: float, seconds: float, connections: int) -> dict:
    results: list[tuple[str, int, float]] = []

    async def main() -> float:
        start = time.perf_counter() + 0.05
        cursor = [0]
        await asyncio.gather(*(_worker(port, schedule, rate, start, cursor, results, start + seconds + 15)
                               for _ in range(connections)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    summary = {"elapsed_s": round(elapsed, 2), "sent": len(results), "scheduled": len(schedule),
               "achieved_rps": round(sum(200 <= s < 300 for _, s, _ in results) / min(elapsed, seconds + 15), 1)}
    for kind in ("all", *(k for k, _ in MIX)):
        rows = [r for r in results if kind == "all" or r[0] == kind]
        summary[kind] = {"n": len(rows), "errors": sum(not 200 <= s < 300 for _, s, _ in rows),
                         "statuses": sorted({s for _, s, _ in rows}), **percentiles([lat for _, _, lat in rows])}
    summary["errors"] = summary["all"]["errors"] + (len(schedule) - len(results))
    return summary


def percentiles(lat: list[float]) -> dict:
    if len(lat) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {"p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1), "p99_ms": round(q[98] * 1000, 1)}


def ready_in_a_row(port: int, n: int) -> bool:
    """Whether ``n`` readiness checks in a row, each on a new connection, answer 200. Each worker answers
    for itself (and loads its model after start-up), and a new connection goes to any of them: while one
    of them is still loading, a run of ``n`` is unlikely."""
    for _ in range(n):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status != 200:
                    return False
        except OSError:
            return False
    return True


def start_server(url: str, log_path: Path, workers: int | None = None, in_a_row: int = 1) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "BAZKHORD_DATABASE_URL": url, "BAZKHORD_RATE_LIMIT_PER_MINUTE": "0"}
    log = log_path.open("ab")
    extra = ["--workers", str(workers)] if workers is not None else []
    proc = subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port), *extra],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; log: {log_path}")
        if ready_in_a_row(port, in_a_row):
            return proc, port
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server not ready in 180 s")


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by the server's worker processes; None without /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total = 0
        for child in [str(pid), *children]:
            fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    ap.add_argument("--connections", type=int, default=32, help="keep-alive connections (max in flight)")
    ap.add_argument("--workers", type=int, help="server worker processes (default: `bazkhord serve`'s)")
    ap.add_argument("--cold", action="store_true",
                    help="start at the first ready answer (other workers may still be loading their models)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--log", type=Path, help="keep the server's log here")
    args = ap.parse_args()
    # here, not at import: a test that imports this module must not get bench/'s shadowing names
    # (bench/indicators.py) ahead of the packages
    sys.path.insert(0, str(REPO))

    tmp = Path(tempfile.mkdtemp(prefix="bzk-load-"))
    url = f"sqlite:///{tmp / 'load.db'}"
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key
    from store.migrate import upgrade

    upgrade(url)
    keys = {}
    with make_sessionmaker(make_engine(url))() as s:
        for role in ("ingest", "manager"):
            keys[role] = create_key(s, role, f"load-{role}")[1]
        s.commit()
    schedule = make_requests(int(args.rate * args.seconds), keys, texts(2000), str(os.getpid()))
    # steady state by default: every worker ready (20 readiness answers in a row on new connections)
    proc, port = start_server(url, args.log or tmp / "server.log", args.workers, 1 if args.cold else 20)
    try:
        cpu0 = server_cpu_s(proc.pid)
        summary = run_load(port, schedule, args.rate, args.seconds, args.connections)
        cpu1 = server_cpu_s(proc.pid)
        if cpu0 is not None and cpu1 is not None and summary["sent"]:
            summary["server_cpu_ms_per_request"] = round(1000 * (cpu1 - cpu0) / summary["sent"], 2)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    summary |= {"target_rps": args.rate, "seconds": args.seconds}
    if args.json:
        print(json.dumps(summary))
    else:
        a = summary["all"]
        print(f"mixed load {args.rate:.0f} req/s × {args.seconds:.0f} s: achieved {summary['achieved_rps']} req/s, "
              f"errors {summary['errors']}, p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms, p99 {a['p99_ms']} ms")
        for kind, _ in MIX:
            k = summary[kind]
            print(f"  {kind:<10} n={k['n']:<6} errors={k['errors']:<4} p50 {k['p50_ms']} ms  p95 {k['p95_ms']} ms  "
                  f"p99 {k['p99_ms']} ms")
        if "server_cpu_ms_per_request" in summary:  # how close the machine is to its cores' capacity
            print(f"  server CPU (all workers): {summary['server_cpu_ms_per_request']} ms per request")
        print(f"target: 200 req/s, 0 errors, p99 < 100 ms -> "
              f"{'met' if summary['errors'] == 0 and (a['p99_ms'] or 1e9) < 100 and summary['achieved_rps'] >= 0.98 * 200 else 'not met'}")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
