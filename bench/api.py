"""API throughput on loopback: the real server (`bazkhord serve`, uvicorn) and a keep-alive load generator.

Measured side by side in one run, bounded in time:
  1. requests/s of POST /v1/analyze with one text vs GET /healthz (a trivial endpoint of the same app);
     target: analyze >= 0.5x trivial;
  2. bulk ingestion: records/s through POST /v1/feedback/batch (1,000 records a request) into SQLite;
     target >= 2,000 records/s;
with p50/p99 latencies. Texts are real comments from ../shared/data/snappfood-stream.

Usage: .venv/bin/python bench/api.py [--seconds 8] [--connections 8] [--batches 10]
The model is the bundled one (or BAZKHORD_MODEL_PATH); without either, a quick model is trained first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("BAZKHORD_SHARED_DATA", REPO.parent / "shared" / "data"))
_CL = re.compile(rb"content-length:\s*(\d+)", re.I)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def texts(n: int) -> list[str]:
    path = DATA / "snappfood-stream" / "comments.jsonl"
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]
    return [t for t in rows if t.strip()]


def model_path(tmp: Path) -> str | None:
    """None when the bundled model loads; else the directory of a quickly trained one."""
    if os.environ.get("BAZKHORD_MODEL_PATH"):
        return os.environ["BAZKHORD_MODEL_PATH"]
    from models.analyzer import Analyzer

    try:
        Analyzer.load().analyze(["غذا خوب بود"])
        return None
    except Exception as exc:
        print(f"bundled model unusable ({type(exc).__name__})", flush=True)
    from models.training_api import train
    from training.data import load_records

    print("no bundled model: training a quick one on snappfood-topics (not counted)", flush=True)
    out = tmp / "model"
    train(load_records(DATA / "snappfood-topics" / "train.jsonl").records, seed=0, progress=False,
          weak_labels=False).save(out)
    return str(out)


def request_bytes(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _conn_loop(port: int, make_req, deadline: float, lat: list[float], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(make_req())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            m = _CL.search(head)
            await reader.readexactly(int(m.group(1)) if m else 0)
            lat.append(time.perf_counter() - t0)
            statuses.append(int(head[9:12]))
    finally:
        writer.close()


def load(port: int, make_req, seconds: float, connections: int) -> dict:
    lat: list[float] = []
    statuses: list[int] = []

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_conn_loop(port, make_req, start + seconds, lat, statuses) for _ in range(connections)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    ok = sum(200 <= s < 300 for s in statuses)
    return {"rps": ok / elapsed, "n": len(lat), "errors": len(statuses) - ok, **percentiles(lat)}


def percentiles(lat: list[float]) -> dict:
    if not lat:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0]] * 99
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="per endpoint")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--batches", type=int, default=10, help="batch requests of --batch-size records")
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bzk-bench-api-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "BAZKHORD_DATABASE_URL": url, "BAZKHORD_RATE_LIMIT_PER_MINUTE": "0", "BAZKHORD_LOG_LEVEL": "WARNING"}
    mp = model_path(tmp)
    if mp:
        env["BAZKHORD_MODEL_PATH"] = mp

    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key
    from store.migrate import upgrade

    upgrade(url)
    with make_sessionmaker(make_engine(url))() as s:
        _, key = create_key(s, "admin", "bench")
        s.commit()

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "bazkhord"), "serve", "--port", str(port), "--no-access-log"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if server.poll() is not None or time.time() > deadline:
                print("server did not become ready:", server.stderr.read().decode()[-2000:] if server.stderr else "")
                return 1
            time.sleep(0.5)

        corpus = texts(args.batches * args.batch_size + 2000)
        rnd = random.Random(0)
        one = [json.dumps({"texts": [t]}, ensure_ascii=False).encode() for t in corpus[:2000]]
        trivial = request_bytes("GET", "/healthz", key)
        # warm-up (first analysis builds caches)
        load(port, lambda: request_bytes("POST", "/v1/analyze", key, rnd.choice(one)), 1.0, 2)
        load(port, lambda: trivial, 1.0, 2)

        res_triv = load(port, lambda: trivial, args.seconds, args.connections)
        res_an = load(port, lambda: request_bytes("POST", "/v1/analyze", key, rnd.choice(one)), args.seconds,
                      args.connections)
        res_triv2 = load(port, lambda: trivial, args.seconds, args.connections)  # drift check
        triv = (res_triv["rps"] + res_triv2["rps"]) / 2

        # bulk ingestion: sequential batches, the way a sync job sends them
        stream = corpus[2000:] or corpus
        lat: list[float] = []
        stored = 0
        t_start = time.perf_counter()
        for b in range(args.batches):
            items = [{"text": stream[(b * args.batch_size + i) % len(stream)], "external_id": f"bench-{b}-{i}",
                      "channel": "bench", "created_at": "2024-05-01T12:00:00Z"} for i in range(args.batch_size)]
            body = json.dumps({"items": items}, ensure_ascii=False).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/feedback/batch", data=body, method="POST",
                                         headers={"X-API-Key": key, "Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=300) as r:
                out = json.loads(r.read())
            lat.append(time.perf_counter() - t0)
            stored += out["created"]
        bulk_s = time.perf_counter() - t_start
        bulk = {"records_per_s": stored / bulk_s, "stored": stored, **percentiles(lat)}
    finally:
        server.terminate()
        server.wait(timeout=20)

    # Context: the model alone on the same texts, in this process (what the service cannot beat).
    from models.analyzer import Analyzer

    analyzer = Analyzer.load(mp) if mp else Analyzer.load()
    sample = stream[: args.batch_size]
    analyzer.analyze(sample[:50])
    t0 = time.perf_counter()
    analyzer.analyze(sample)
    model_rps = len(sample) / (time.perf_counter() - t0)
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < 2.0:
        analyzer.analyze([sample[k % len(sample)]])
        k += 1
    model_one_ms = (time.perf_counter() - t0) / k * 1000

    ratio = res_an["rps"] / triv if triv else float("nan")
    print(f"machine: {os.cpu_count()} cores (client and server share them); {args.connections} connections, "
          f"{args.seconds:.0f} s per endpoint")
    print(f"GET /healthz (trivial)        {triv:8.0f} req/s  p50 {res_triv['p50_ms']:6.1f} ms  p99 {res_triv['p99_ms']:6.1f} ms"
          f"  (runs: {res_triv['rps']:.0f}, {res_triv2['rps']:.0f})")
    print(f"POST /v1/analyze (1 text)     {res_an['rps']:8.0f} req/s  p50 {res_an['p50_ms']:6.1f} ms  p99 {res_an['p99_ms']:6.1f} ms"
          f"  errors {res_an['errors']}")
    print(f"ratio analyze/trivial         {ratio:8.2f}x  (target >= 0.5x: {'PASS' if ratio >= 0.5 else 'FAIL'})")
    print(f"POST /v1/feedback/batch       {bulk['records_per_s']:8.0f} records/s into SQLite ({bulk['stored']} records, "
          f"{args.batch_size}/request)  p50 {bulk['p50_ms']:.0f} ms  p99 {bulk['p99_ms']:.0f} ms per request  "
          f"(target >= 2000/s: {'PASS' if bulk['records_per_s'] >= 2000 else 'FAIL'})")
    print(f"model alone, in process:      {model_rps:8.0f} texts/s in batches of {len(sample)}; "
          f"{model_one_ms:.1f} ms per call with one text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
