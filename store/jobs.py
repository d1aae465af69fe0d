"""Background jobs (training, re-analysis): one at a time, progress in the ``jobs`` table.

A job is a function ``fn(ctx) -> dict`` run on a daemon thread. It reports progress through
``ctx.progress(fraction, message)``; whatever it returns becomes the job's ``result``. A job must
make its effects visible only at its very end (one commit, or an atomic rename), so that a job
failing midway leaves everything as it was: the runner only records the failure.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nlp.errors import BazkhordError
from store.db import session_scope
from store.schema import Job

log = logging.getLogger("bazkhord.jobs")
ACTIVE = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class JobCancelled(Exception):
    pass


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
    """Runs at most one job at a time for one service process (and refuses while the DB shows one)."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def recover_orphans(self) -> int:
        """Mark jobs left queued/running by a process that died as failed (call once at start-up)."""
        with session_scope(self.session_factory) as s:
            stale = list(s.scalars(select(Job).where(Job.status.in_(ACTIVE))))
            for job in stale:
                job.status, job.error, job.finished_at = "failed", "interrupted: the service stopped", utcnow()
            return len(stale)

    def running(self) -> str | None:
        with session_scope(self.session_factory) as s:
            return s.scalar(select(Job.id).where(Job.status.in_(ACTIVE)).limit(1))

    def start(self, kind: str, params: dict, fn: Callable[[JobContext], dict | None]) -> dict:
        """Queue ``fn`` on a background thread; a second job while one runs → ``job.conflict`` (409)."""
        # a job that has recorded its end may still be releasing the lock: wait that moment out
        if not self._lock.acquire(blocking=False) and (self.running() is not None or not self._lock.acquire(timeout=5)):
            raise BazkhordError("job.conflict", "Another job is running; try again when it has finished.",
                                {"running": self.running()}, 409)
        try:
            other = self.running()
            if other is not None:
                raise BazkhordError("job.conflict", "Another job is running; try again when it has finished.",
                                    {"running": other}, 409)
            job_id = str(uuid.uuid4())
            with session_scope(self.session_factory) as s:
                s.add(Job(id=job_id, kind=kind, status="queued", progress=0.0, params=params, created_at=utcnow()))
                snapshot = job_to_dict(s.get(Job, job_id))
        except BaseException:
            self._lock.release()
            raise
        self._thread = threading.Thread(target=self._run, args=(job_id, fn), name=f"job-{kind}", daemon=True)
        self._thread.start()
        return snapshot

    def _run(self, job_id: str, fn: Callable[[JobContext], dict | None]) -> None:
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
            self._lock.release()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current job's thread (CLI and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
