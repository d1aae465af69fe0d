"""Two real `bazkhord serve` processes on one PostgreSQL behave as one service (issue #9).

(a) the same external_id sent to both replicas at once gives exactly one record; (b) a model activated
through replica A is served by replica B within its registry poll interval; (c) a job submitted to both
replicas runs once, and replica B starting up its job runner never fails the job A is running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.apiutil import database_urls

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.3  # BAZKHORD_REGISTRY_POLL_SECONDS of both replicas


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "BAZKHORD_DATABASE_URL": url, "BAZKHORD_REGISTRY_POLL_SECONDS": str(POLL_SECONDS),
           "BAZKHORD_RATE_LIMIT_PER_MINUTE": "0", "BAZKHORD_MIGRATE_ON_START": "false",
           # one worker process per replica (a replica's own workers would be replicas too, only slower to start)
           "BAZKHORD_WORKERS": "1", "BAZKHORD_GRACEFUL_TIMEOUT_S": "2"}
    cmd = [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port),
           "--no-access-log", "--no-migrate"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"replica exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"replica at {base} not ready: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, data_dir: Path) -> Iterator[dict]:
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key
    from store.migrate import upgrade
    from store.registry import register

    tmp = tmp_path_factory.mktemp("replicas")
    gen = database_urls("postgres", tmp)  # skips (or fails in CI) without BAZKHORD_TEST_POSTGRES_URL
    url = next(gen)
    procs: list[subprocess.Popen] = []
    try:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        # A second model version: the bundled artifact under another version name (model.json is not hashed).
        from models.analyzer import BUNDLED_DIR

        v2 = tmp / "model-v2"
        shutil.copytree(BUNDLED_DIR, v2)
        card = json.loads((v2 / "model.json").read_text(encoding="utf-8"))
        card["version"] = "replica-test-v2"
        (v2 / "model.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
        with factory() as session:
            register(session, v2)
            _, ingest_key = create_key(session, "ingest", "replica-ingest")
            _, analyst_key = create_key(session, "analyst", "replica-analyst")
            session.commit()
        ports = [_free_port(), _free_port()]
        logs = [tmp / f"replica-{i}.log" for i in range(2)]
        procs = [_start(url, p, log) for p, log in zip(ports, logs, strict=True)]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc, log in zip(bases, procs, logs, strict=True):
            _wait_ready(base, proc, log)
        with open(data_dir / "snappfood" / "dev.jsonl", encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for _, line in zip(range(300), f, strict=False)]
        yield {"a": bases[0], "b": bases[1], "factory": factory, "texts": texts,
               "ingest": {"X-API-Key": ingest_key}, "analyst": {"X-API-Key": analyst_key}}
        engine.dispose()
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        gen.close()  # drops the database


def _concurrently(calls: list) -> list[httpx.Response]:
    """Run the calls at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def test_same_external_id_on_both_replicas_is_one_record(cluster) -> None:
    from store.schema import Feedback

    item = {"text": cluster["texts"][0], "external_id": "replica-ext-1", "channel": "app"}

    def post(base: str, body: dict):
        return lambda: httpx.post(f"{base}/v1/feedback", json=body, headers=cluster["ingest"], timeout=30)

    calls = [post(cluster["a" if i % 2 else "b"], item) for i in range(8)]
    responses = _concurrently(calls)
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    other = {**item, "channel": "web"}  # same external_id, different payload: refused everywhere
    responses = _concurrently([post(cluster["a"], other), post(cluster["b"], other)])
    assert [r.status_code for r in responses] == [409, 409]
    assert {r.json()["error"]["code"] for r in responses} == {"feedback.conflict"}
    with cluster["factory"]() as s:
        assert s.scalar(select(func.count()).select_from(Feedback).where(Feedback.external_id == "replica-ext-1")) == 1


def _served(base: str, headers: dict) -> str:
    r = httpx.post(f"{base}/v1/analyze", json={"texts": ["غذا سرد بود"]}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["model"]


def test_activation_through_one_replica_reaches_the_other(cluster) -> None:
    a, b, key = cluster["a"], cluster["b"], cluster["analyst"]
    before = _served(b, key)
    assert before != "replica-test-v2"
    r = httpx.post(f"{a}/v1/models/replica-test-v2/activate", headers=key, timeout=60)
    assert r.status_code == 200, r.text
    activated = time.monotonic()
    assert _served(a, key) == "replica-test-v2"
    while _served(b, key) != "replica-test-v2":
        # one poll interval, plus loading the new model's files (seconds on a busy machine)
        assert time.monotonic() - activated < POLL_SECONDS + 20, "replica B never picked up the activation"
        time.sleep(0.1)


def _wait_job(base: str, headers: dict, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_runs_once_across_replicas(cluster) -> None:
    from sqlalchemy import text

    from store.schema import Job

    a, b, key = cluster["a"], cluster["b"], cluster["analyst"]
    items = [{"text": t, "external_id": f"replica-job-{i}"} for i, t in enumerate(cluster["texts"][:300])]
    r = httpx.post(f"{a}/v1/feedback/batch", json={"items": items}, headers=cluster["ingest"], timeout=120)
    assert r.status_code == 200, r.text
    engine = cluster["factory"].kw["bind"]

    def reanalyze(base: str):
        return lambda: httpx.post(f"{base}/v1/feedback/reanalyze", headers=key, timeout=30)

    # While the test holds a write lock on feedback, a started re-analysis cannot finish: "a job is
    # running" does not depend on how fast this machine is.
    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE feedback IN EXCLUSIVE MODE"))
        first = reanalyze(a)()
        assert first.status_code == 202, first.text
        # B's job runner starts now: it must neither fail A's job as an orphan of a dead process
        # nor start a second job.
        second = reanalyze(b)()
        assert second.status_code == 409 and second.json()["error"]["code"] == "job.conflict", second.text
        assert httpx.get(f"{b}/v1/jobs/{first.json()['id']}", headers=key).json()["status"] in ("queued", "running")
        blocker.rollback()
    assert _wait_job(b, key, first.json()["id"])["status"] == "succeeded"
    with engine.connect() as blocker:  # both asked at the same moment: exactly one starts
        blocker.execute(text("LOCK TABLE feedback IN EXCLUSIVE MODE"))
        responses = _concurrently([reanalyze(a), reanalyze(b)])
        blocker.rollback()
    assert sorted(r.status_code for r in responses) == [202, 409], [r.text for r in responses]
    started = next(r.json() for r in responses if r.status_code == 202)
    done = _wait_job(a, key, started["id"])
    assert done["status"] == "succeeded" and done["result"]["reanalyzed"] >= len(items), done
    with cluster["factory"]() as s:
        assert [j.status for j in s.scalars(select(Job))] == ["succeeded", "succeeded"]
