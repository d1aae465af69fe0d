"""Engines and sessions for SQLite (WAL mode) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_S = 30.0


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer nor each other (several workers share one file).
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a process crash (kill -9); only an OS crash or power
            # loss may lose the last commits, never corrupt the file.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # a writer waits for the lock instead of failing with "database is locked"
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA temp_store=MEMORY")  # sorts and GROUP BYs of indicator queries
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


def serialized_writes(bind: Any):
    """A context in which this process's write transactions on a SQLite database take turns.

    SQLite has one writer at a time; a thread that finds the write lock taken polls it with sleeps of up
    to 100 ms (its busy handler), so a few concurrent writers in one process wait far longer than the
    writes take (single-record ingestion under load: p99 of a second). Queued on a Python lock, the next
    writer starts the moment the previous one commits. Re-entrant; other processes still meet SQLite's
    busy timeout. PostgreSQL (row locks) needs nothing: a no-op context there.
    """
    engine = getattr(bind, "engine", bind)
    url = getattr(engine, "url", None)
    if url is None or url.get_backend_name() != "sqlite":
        return nullcontext()
    key = str(url)
    lock = _WRITERS.get(key)
    if lock is None:
        with _WRITERS_GUARD:
            lock = _WRITERS.setdefault(key, threading.RLock())
    return lock


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: committed if the block succeeds, rolled back (nothing half-written) if not."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
