"""Background jobs (training, re-analysis): one at a time, progress in the ``jobs`` table.

A job is a function ``fn(ctx) -> dict`` run on a daemon thread. It reports progress through
``ctx.progress(fraction, message)``; whatever it returns becomes the job's ``result``. A job must
make its effects visible only at its very end (one commit, or an atomic rename), so that a job
failing midway leaves everything as it was: the runner only records the failure.

Replicas (several service processes on one PostgreSQL) run a job once and one at a time:

* starting a job is one transaction serialised by a transaction-level advisory lock (SQLite: the
  database write lock), so two replicas asked at the same moment cannot both see "nothing running";
* the process running a job holds a session-level advisory lock named after the job on a connection
  of its own. PostgreSQL releases it when that process dies, so "queued/running but nobody holds its
  lock" is exactly "orphaned by a dead process": only such jobs are failed by ``recover_orphans``,
  never a job another live replica is running. SQLite (one host, possibly several worker processes)
  does the same with a file lock per job (``<database>.jobs/<id>.lock``, released by the OS when its
  process dies); an in-memory database has one process, so every active job there is an orphan.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from nlp.errors import BazkhordError
from store.db import session_scope
from store.schema import Job

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite job locks fall back to "one process"
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("bazkhord.jobs")
ACTIVE = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class JobCancelled(Exception):
    pass


def advisory_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"bazkhord:{name}".encode()).digest()[:8], "big", signed=True)


START_KEY = advisory_key("jobs.start")


def _conflict(running: str | None) -> BazkhordError:
    return BazkhordError("job.conflict", "Another job is running; try again when it has finished.",
                         {"running": running}, 409)


class JobContext:
    """Handed to a job function: its id and a throttled progress reporter."""

    def __init__(self, runner: JobRunner, job_id: str, min_interval: float = 0.5):
        self.runner = runner
        self.job_id = job_id
        self._min_interval = min_interval
        self._last = 0.0

    def progress(self, fraction: float, message: str | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._min_interval:
            return
        self._last = now
        with session_scope(self.runner.session_factory) as s:
            job = s.get(Job, self.job_id)
            job.progress = max(0.0, min(1.0, float(fraction)))
            if message is not None:
                job.message = message


def job_to_dict(job: Job) -> dict:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(float(job.progress or 0.0), 4),
        "message": job.message,
        "params": job.params,
        "result": job.result,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise BazkhordError("job.not_found", f"No job with id {job_id}.", http_status=404)
    return job


class JobRunner:
    """Runs at most one job at a time across every process on the database (see the module doc)."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def _postgres(self) -> bool:
        bind = self.session_factory.kw.get("bind")
        return bind is not None and bind.dialect.name == "postgresql"

    def _lock_dir(self) -> Path | None:
        """SQLite: where the per-job file locks live (None: in-memory database or no flock)."""
        bind = self.session_factory.kw.get("bind")
        database = bind.url.database if bind is not None else None
        if fcntl is None or not database or database == ":memory:":
            return None
        return Path(f"{database}.jobs")

    def _alive_on_file(self, job_id: str) -> bool:
        lock_dir = self._lock_dir()
        if lock_dir is None:
            return False
        try:
            fd = os.open(lock_dir / f"{job_id}.lock", os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # its process holds it
        finally:
            os.close(fd)  # also drops our probe lock
        return False

    def _orphans(self, s: Session) -> list[str]:
        """Active jobs no live process is running (see the module doc)."""
        active = list(s.scalars(select(Job.id).where(Job.status.in_(ACTIVE))))
        if not self._postgres:
            return [j for j in active if not self._alive_on_file(j)]
        # the xact form is released at commit: probing never keeps a dead job's lock
        probe = text("SELECT pg_try_advisory_xact_lock(:k)")
        return [j for j in active if s.scalar(probe, {"k": advisory_key(f"job:{j}")})]

    def _fail(self, s: Session, job_ids: list[str]) -> int:
        # the status condition makes a job that finished meanwhile keep its real outcome
        n = 0
        for job_id in job_ids:
            n += s.execute(update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE)).values(
                status="failed", error="interrupted: the service stopped", finished_at=utcnow())).rowcount
        return n

    def recover_orphans(self) -> int:
        """Mark jobs left queued/running by a process that died as failed (call once at start-up)."""
        with session_scope(self.session_factory) as s:
            return self._fail(s, self._orphans(s))

    def running(self) -> str | None:
        with session_scope(self.session_factory) as s:
            return s.scalar(select(Job.id).where(Job.status.in_(ACTIVE)).limit(1))

    def _hold(self, job_id: str) -> Any:
        """What marks this process as the job's owner until the job has ended: a connection holding
        the job's advisory lock (PostgreSQL) or a file descriptor holding its file lock (SQLite)."""
        if not self._postgres:
            lock_dir = self._lock_dir()
            if lock_dir is None:
                return None
            lock_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_dir / f"{job_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh uuid: nobody else has it
            return fd
        conn = self.session_factory.kw["bind"].connect()
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key(f"job:{job_id}")})
            conn.commit()  # a session-level lock outlives the transaction
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        return conn

    def _release(self, hold: Any, job_id: str) -> None:
        if hold is None:
            return
        if isinstance(hold, int):
            lock_dir = self._lock_dir()
            if lock_dir is not None:
                (lock_dir / f"{job_id}.lock").unlink(missing_ok=True)
            os.close(hold)
            return
        try:
            hold.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(f"job:{job_id}")})
            hold.commit()
        except Exception:  # closing the real connection releases the lock anyway
            hold.invalidate()
        finally:
            hold.close()

    def start(self, kind: str, params: dict, fn: Callable[[JobContext], dict | None]) -> dict:
        """Queue ``fn`` on a background thread; a second job while one runs → ``job.conflict`` (409)."""
        # a job that has recorded its end may still be releasing the lock: wait that moment out
        if not self._lock.acquire(blocking=False) and (self.running() is not None or not self._lock.acquire(timeout=5)):
            raise _conflict(self.running())
        hold: Any = None
        try:
            job_id = str(uuid.uuid4())
            hold = self._hold(job_id)  # owned before the row is visible: nobody can take it for an orphan
            with session_scope(self.session_factory) as s:
                # one starter at a time across replicas; the check below then sees every committed job
                if self._postgres:
                    s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": START_KEY})
                else:  # a no-op write takes SQLite's write lock
                    s.execute(update(Job).where(Job.id.is_(None)).values(status="queued"))
                self._fail(s, self._orphans(s))  # a dead process's job must not block every start
                other = s.scalar(select(Job.id).where(Job.status.in_(ACTIVE)).limit(1))
                if other is not None:
                    raise _conflict(other)
                s.add(Job(id=job_id, kind=kind, status="queued", progress=0.0, params=params, created_at=utcnow()))
                s.flush()
                snapshot = job_to_dict(s.get(Job, job_id))
        except BaseException:
            self._release(hold, job_id)
            self._lock.release()
            raise
        self._thread = threading.Thread(target=self._run, args=(job_id, fn, hold), name=f"job-{kind}", daemon=True)
        self._thread.start()
        return snapshot

    def _run(self, job_id: str, fn: Callable[[JobContext], dict | None], hold: Any = None) -> None:
        try:
            with session_scope(self.session_factory) as s:
                job = s.get(Job, job_id)
                job.status, job.started_at = "running", utcnow()
            try:
                result = fn(JobContext(self, job_id))
            except BaseException as exc:  # a job's failure is data, not a crash
                if isinstance(exc, BazkhordError):
                    error = f"{exc.code}: {exc.message}"
                else:
                    # exception text may quote customer text: logs get only the type
                    log.error("job %s failed (%s)", job_id, type(exc).__name__)
                    error = f"{type(exc).__name__}: {exc}"[:1000]
                with session_scope(self.session_factory) as s:
                    job = s.get(Job, job_id)
                    job.status, job.error, job.finished_at = "failed", error, utcnow()
                return
            with session_scope(self.session_factory) as s:
                job = s.get(Job, job_id)
                job.status, job.progress, job.result, job.finished_at = "succeeded", 1.0, result or {}, utcnow()
        finally:
            self._release(hold, job_id)  # after the final status is committed
            self._lock.release()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current job's thread (CLI and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
