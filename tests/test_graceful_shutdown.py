"""Graceful shutdown of the real server (``bazkhord serve`` in a subprocess, as in the crash test).

SIGTERM lands while a large batch ingestion, several analyses and single records are in flight, and
while a client keeps sending: every request that was in flight gets its full response; a request sent
after the signal is either answered in full or refused at the connection (and then stored nowhere);
the process exits 0 after the lifespan shutdown ran in every worker; the database holds every
acknowledged record exactly once. Also: SIGTERM while the model is still loading (/readyz says so)
exits 0 at once. On SQLite with two workers, and on PostgreSQL with one.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.apiutil import database_urls
from tests.test_crash_safety import Server, _ingest_key, _texts

BATCH = 5000  # records in the big batch: seconds of work, so it is surely in flight at the signal
ANALYZE_CALLS, ANALYZE_TEXTS = 4, 150
SINGLES = 6


@pytest.fixture(params=[("sqlite", 2), ("postgres", 1)], ids=["sqlite-2-workers", "postgres-1-worker"])
def deployment(request, tmp_path, monkeypatch):
    kind, workers = request.param
    monkeypatch.setenv("BAZKHORD_WORKERS", str(workers))
    monkeypatch.setenv("BAZKHORD_GRACEFUL_TIMEOUT_S", "120")
    monkeypatch.setenv("BAZKHORD_REGISTRY_POLL_SECONDS", "1")  # a watcher runs and must stop too
    for url in database_urls(kind, tmp_path, "graceful.db"):
        yield url, workers


def _stored(url: str, prefix: str) -> Counter:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT external_id FROM feedback WHERE external_id LIKE :p"), {"p": f"{prefix}%"}).all()
    engine.dispose()
    return Counter(r[0] for r in rows)


class Call:
    """One request on its own connection (raw HTTP/1.1, so the test knows when it is fully sent)."""

    def __init__(self, name: str, method: str, path: str, body: dict | None, key: str) -> None:
        self.name, self.body = name, body
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        self.payload = (f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-API-Key: {key}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data
        self.sent = self.done = 0.0
        self.status: int | None = None
        self.json: dict | None = None
        self.error: str | None = None

    def run(self, port: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
                sock.sendall(self.payload)
                self.sent = time.monotonic()
                raw = b""
                while chunk := sock.recv(1 << 16):
                    raw += chunk
            head, _, body = raw.partition(b"\r\n\r\n")
            if not head:
                raise ConnectionResetError("closed without a response")
            self.status = int(head[9:12])
            self.json = json.loads(body)
        except (OSError, ValueError) as exc:  # refused, reset, or cut mid-response
            self.error = type(exc).__name__
        self.done = time.monotonic()


def test_sigterm_lets_in_flight_requests_finish(deployment, data_dir, tmp_path):
    url, workers = deployment
    key = _ingest_key(url)
    texts = _texts(data_dir, 400)
    server = Server(url, tmp_path / "server.log").start(timeout=300)
    # warm every worker's model (a worker answers /readyz before its model is in memory)
    for _ in range(2 * workers):
        assert httpx.post(f"{server.url}/v1/analyze", json={"texts": ["سلام"]}, headers={"X-API-Key": key},
                          timeout=120).status_code == 200
    batch = [{"text": texts[i % len(texts)], "external_id": f"gs-batch-{i}"} for i in range(BATCH)]
    calls = [Call("batch", "POST", "/v1/feedback/batch", {"items": batch}, key)]
    calls += [Call(f"analyze-{i}", "POST", "/v1/analyze", {"texts": texts[i * 50:i * 50 + ANALYZE_TEXTS]}, key)
              for i in range(ANALYZE_CALLS)]
    calls += [Call(f"one-{i}", "POST", "/v1/feedback", {"text": texts[300 + i], "external_id": f"gs-one-{i}"}, key)
              for i in range(SINGLES)]
    late: list[Call] = []
    stop_late = threading.Event()

    def keep_sending() -> None:  # a client that does not know the server is stopping
        i = 0
        while not stop_late.is_set() and i < 200:
            c = Call(f"late-{i}", "POST", "/v1/feedback", {"text": texts[i % 300], "external_id": f"gs-late-{i}"}, key)
            late.append(c)
            c.run(server.port)
            if c.error is not None:
                return  # refused: the server has stopped listening
            i += 1
            time.sleep(0.05)

    sigterm_at: list[float] = []
    threads = [threading.Thread(target=c.run, args=(server.port,)) for c in calls]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while not all(c.sent or c.error for c in calls) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(c.sent for c in calls), [(c.name, c.error) for c in calls]
        time.sleep(1.0)  # every request is sent: give the server a moment to read them all
        assert calls[0].done == 0.0, "the batch finished before the signal: make BATCH larger"
        sender = threading.Thread(target=keep_sending)
        sender.start()
        time.sleep(0.3)
        assert server.proc is not None
        sigterm_at.append(time.monotonic())
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(300)
        sender.join(300)
        stop_late.set()
        code = server.proc.wait(180)
    finally:
        stop_late.set()
        server.kill()
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert code == 0, log[-3000:]

    # every request that was in flight got its whole response, some of them after the signal
    for c in calls:
        assert c.error is None and c.status in (200, 201), (c.name, c.status, c.error, c.json)
    assert any(c.done > sigterm_at[0] for c in calls), "nothing was in flight at the signal"
    assert calls[0].json["created"] == BATCH and calls[0].json["failed"] == 0
    for c in calls[1:1 + ANALYZE_CALLS]:
        assert len(c.json["results"]) == ANALYZE_TEXTS
    # late requests: answered in full, or refused at the connection (never a 5xx, never cut mid-response)
    # (one sent in the last instant before the signal may still be unread: closed unanswered, stored nowhere)
    assert all(c.status in (200, 201) for c in late if c.sent and c.sent < sigterm_at[0] - 0.2), "failed before the signal"
    answered = {c.body["external_id"] for c in late if c.status in (200, 201)}
    refused = {c.body["external_id"] for c in late if c.error is not None}
    assert answered | refused == {c.body["external_id"] for c in late}, [(c.name, c.status, c.error) for c in late]
    assert refused, "the server kept accepting requests after SIGTERM"

    # the lifespan shutdown ran in every worker (model watcher stopped, connections closed)
    assert log.count('"application stopped"') == workers, log[-3000:]

    counts = _stored(url, "gs-")
    acknowledged = {f"gs-batch-{i}" for i in range(BATCH)} | {f"gs-one-{i}" for i in range(SINGLES)} | answered
    assert {k for k, v in counts.items() if v > 1} == set(), "a record was stored twice"
    assert acknowledged <= counts.keys(), f"acknowledged but lost: {sorted(acknowledged - counts.keys())[:5]}"
    assert not (refused & counts.keys()), "a refused request left a record behind"
    assert counts.keys() == acknowledged
    print(f"\ngraceful[{url.split(':')[0]}, {workers} workers]: in flight {len(calls)} (all answered, "
          f"{sum(c.done > sigterm_at[0] for c in calls)} after SIGTERM), late answered {len(answered)}, "
          f"late refused {len(refused)}, records acknowledged {len(acknowledged)}, stored {sum(counts.values())}")


def test_sigterm_while_the_model_loads_exits_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'early.db'}"
    server = Server(url, tmp_path / "early.log").launch()
    assert server.proc is not None
    try:
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{server.url}/readyz", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            body = r.json()
            break
        if body is None or body.get("status") == "ready":
            pytest.skip("the model loaded before the first /readyz answer")
        assert body["status"] == "not_ready" and body["reason"] == "model loading", body
        t = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(60) == 0, Path(server.log_path).read_text()[-2000:]
        assert time.monotonic() - t < 30  # not held up by the model load
    finally:
        server.kill()
