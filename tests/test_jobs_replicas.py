"""Job runners of several processes on one database: a live job is never an orphan, a dead one is.

PostgreSQL (replicas; advisory locks) and SQLite (one host's worker processes; file locks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from nlp.errors import BazkhordError
from store import jobs
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.schema import Job
from tests.apiutil import database_urls


@pytest.fixture(params=["sqlite", "postgres"])
def factories(request, tmp_path) -> Iterator[tuple]:
    """Two session factories on separate engines (connection pools), as two replicas would have."""
    gen = database_urls(request.param, tmp_path)
    url = next(gen)
    upgrade(url)
    engines = [make_engine(url), make_engine(url)]
    try:
        yield tuple(make_sessionmaker(e) for e in engines)
    finally:
        for e in engines:
            e.dispose()
        gen.close()


def _status(factory, job_id: str, want: str, timeout: float = 10.0) -> str:
    end = time.monotonic() + timeout
    while True:
        with factory() as s:
            status = s.get(Job, job_id).status
        if status == want or time.monotonic() > end:
            return status
        time.sleep(0.02)


def test_live_job_survives_another_replicas_recovery_and_blocks_its_start(factories) -> None:
    fa, fb = factories
    gate = threading.Event()
    job = jobs.JobRunner(fa).start("reanalyze", {}, lambda ctx: gate.wait(10) and {"ok": True})
    assert _status(fa, job["id"], "running") == "running"
    replica_b = jobs.JobRunner(fb)
    assert replica_b.recover_orphans() == 0  # A is alive and holds its job's lock
    with pytest.raises(BazkhordError) as err:
        replica_b.start("train", {}, lambda ctx: {})
    assert err.value.code == "job.conflict"
    gate.set()
    assert _status(fa, job["id"], "succeeded") == "succeeded"
    # A job row left active by a process that died (nobody holds its lock) is failed, and does not
    # block the next start on another replica.
    with fa() as s:
        s.add(Job(id="dead", kind="train", status="running", progress=0.1, params={}, created_at=datetime(2024, 1, 1)))
        s.commit()
    nxt = replica_b.start("train", {}, lambda ctx: {"n": 1})
    assert _status(fb, "dead", "failed") == "failed"
    assert _status(fb, nxt["id"], "succeeded") == "succeeded"
