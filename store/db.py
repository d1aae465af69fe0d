"""Engines and sessions for SQLite (WAL mode) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: threads of one process take turns; other processes meet SQLite's busy timeout
    fcntl = None  # type: ignore[assignment]

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


class WriteTurn:
    """A re-entrant lock for the write transactions on one SQLite file: a thread lock for this process's
    threads and, around the outermost hold, an exclusive ``flock`` on ``<database>.writers`` for the other
    processes (API workers, a CLI import). The kernel hands a released flock to the next waiter at once,
    where SQLite's busy handler would poll with sleeps of up to 100 ms."""

    def __init__(self, path: str | None) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._path = path
        self._fd: int | None = None
        self._pid = 0  # the process that opened ``_fd`` (a forked child opens its own: flocks follow the open file)
        self._owner: int | None = None  # the thread holding the turn

    def __enter__(self) -> WriteTurn:
        self._lock.acquire()
        try:
            if self._depth == 0 and self._path is not None and fcntl is not None:
                if self._fd is None or self._pid != os.getpid():
                    self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks in C, without the GIL
        except BaseException:
            self._lock.release()
            raise
        self._depth += 1
        self._owner = threading.get_ident()
        return self

    def held(self) -> bool:
        """Whether the calling thread holds the turn."""
        return self._depth > 0 and self._owner == threading.get_ident()

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


_WRITERS: dict[str, WriteTurn] = {}
_WRITERS_GUARD = threading.Lock()


def _lock_path(url: Any) -> str | None:
    """``<database file>.writers``, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return str(Path(database).resolve()) + ".writers"


def serialized_writes(bind: Any):
    """A context in which the write transactions on a SQLite database take turns (``WriteTurn``).

    SQLite has one writer at a time; a writer that finds the write lock taken polls it with sleeps of up
    to 100 ms (its busy handler), so a few concurrent writers wait far longer than the writes take
    (single-record ingestion under load: p99 of a second). Queued on a lock, the next writer starts the
    moment the previous one commits, in this process or another one. Re-entrant. PostgreSQL (row locks)
    needs nothing: a no-op context there.
    """
    engine = getattr(bind, "engine", bind)
    url = getattr(engine, "url", None)
    if url is None or url.get_backend_name() != "sqlite":
        return nullcontext()
    key = str(url)
    lock = _WRITERS.get(key)
    if lock is None:
        with _WRITERS_GUARD:
            lock = _WRITERS.setdefault(key, WriteTurn(_lock_path(url)))
    return lock


def write_turn_held(bind: Any) -> bool:
    """Whether the calling thread holds the write turn of this SQLite database (False elsewhere)."""
    turn = serialized_writes(bind)
    return isinstance(turn, WriteTurn) and turn.held()


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
