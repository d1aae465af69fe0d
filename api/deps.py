"""FastAPI dependencies: settings, database session, the analyser, and key/role checks.

Route modules use only these names:
  - ``SessionDep``: a SQLAlchemy session for the request (commit explicitly)
  - ``require_roles("manager", "analyst")``: dependency returning the calling ``Principal``
    (admin always passes); 401 on a missing/bad/revoked key, 403 on a wrong role
  - ``get_analyzer``: the active analyser (hot-swappable)
  - ``SessionRoute``: every router's ``route_class`` (a sync route's read transaction ends on its thread)
"""

from __future__ import annotations

import hashlib
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache, wraps
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.settings import Settings, get_settings
from nlp.errors import BazkhordError
from store.db import make_engine, make_sessionmaker
from store.schema import ApiKey

LAST_USED_RESOLUTION_S = 60


def settings_of(request: Request) -> Settings:
    """The settings the app was created with.

    Read from ``app.state`` rather than through ``app.dependency_overrides``: with any override set,
    FastAPI re-analyses every sub-dependency's signature on every request (pydantic schemas rebuilt),
    which cost more than a one-text analysis.
    """
    settings = getattr(request.app.state, "settings", None)
    return settings if settings is not None else get_settings()


async def app_settings(request: Request) -> Settings:
    """``settings_of`` as a dependency (async: no worker-thread hop for a field read)."""
    return settings_of(request)


SettingsDep = Annotated[Settings, Depends(app_settings)]


def pool_size(settings: Settings) -> int:
    """Connections per process: one per request thread, so a request never waits for a connection."""
    return settings.db_pool_size or settings.threads


@lru_cache(maxsize=8)
def _engine_for(url: str, pool: int = 0) -> Engine:
    # pool 0 = SQLAlchemy's default sizes; sqlite :memory: keeps its single-connection pool
    if pool <= 0 or url.endswith(":memory:") or url in ("sqlite://", "sqlite:///"):
        return make_engine(url)
    # Past the request threads' connections, a burst's (an async route's session, an attribute loaded
    # while a response is validated) are opened as needed: a SQLite connection is an open file, never
    # bounded; PostgreSQL's are server processes: bounded, with room for a burst.
    overflow = -1 if url.startswith("sqlite") else 8
    return make_engine(url, pool_size=pool, max_overflow=overflow, pool_timeout=30)


def get_engine(settings: Settings) -> Engine:
    return _engine_for(settings.database_url, pool_size(settings))


@lru_cache(maxsize=8)
def _sessionmaker_for(url: str, pool: int = 0) -> sessionmaker[Session]:
    return make_sessionmaker(_engine_for(url, pool))


def sessionmaker_for(settings: Settings) -> sessionmaker[Session]:
    return _sessionmaker_for(settings.database_url, pool_size(settings))


def dispose_engine(settings: Settings) -> None:
    """Close the pooled connections of this app's engine (at shutdown)."""
    _engine_for(settings.database_url, pool_size(settings)).dispose()


async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    """A session for the request. Creating one touches no database, so it happens on the event loop;
    closing goes to a worker thread only when a transaction still holds a connection (its rollback
    may wait on the database).

    That thread is not one of the request threads: a close queued behind them would keep its
    connection while they wait for one from the pool (a burst exhausted the pool, and every request
    stalled for the pool timeout, 30 s). Like FastAPI's own exit of ``yield`` dependencies, it runs
    under a limiter of its own."""
    session = sessionmaker_for(settings)()
    try:
        yield session
    finally:
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _ending_transactions(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(endpoint)  # FastAPI reads the signature (dependencies) through the wrapper
    def run(*args: Any, **kwargs: Any) -> Any:
        out = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction():
                value.commit()  # what is left is a read (writes commit in the route): this ends it
        return out

    return run


class SessionRoute(APIRoute):
    """A route whose sync endpoint ends its session's transaction on its own request thread.

    FastAPI validates the response model of a sync endpoint on another request thread; a session still
    in its transaction would hold a pooled connection while it waits for that thread, and the threads
    may be waiting for a connection (a bounded pool, PostgreSQL's, ran dry under a burst). Ended here,
    the connection is back in the pool before the thread is released; an attribute loaded during the
    validation takes one again for that moment. On an error nothing is committed: the session's close
    rolls back."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _ending_transactions(endpoint)
        super().__init__(path, endpoint, **kwargs)


def hash_key(key: str) -> str:
    # API keys are 256-bit random tokens, so a plain SHA-256 is a safe, fast one-way store.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    role: str


def _bearer(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


class KeyCache:
    """Valid keys seen in the last ``ttl_s`` seconds (by hash), so most requests skip the key query.

    Revocation through the API clears the cache at once; a revocation from another process (the CLI)
    takes effect within ``ttl_s``. Unknown and revoked keys are never cached.
    """

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Principal, datetime | None]] = {}

    def get(self, key_hash: str) -> tuple[Principal, datetime | None] | None:
        hit = self._items.get(key_hash)
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            return None
        return hit[1], hit[2]

    def put(self, key_hash: str, principal: Principal, last_used: datetime | None) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key_hash] = (time.monotonic(), principal, last_used)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _lookup_key(settings: Settings, digest: str) -> tuple[Principal, datetime | None]:
    """The key's principal and last use from the database (blocking); 401 when unknown or revoked."""
    with sessionmaker_for(settings)() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if row is None or row.revoked_at is not None:
            raise BazkhordError("auth.invalid_key", "The API key is not valid or has been revoked.", http_status=401)
        return Principal(key_id=row.id, name=row.name, role=row.role), row.last_used_at


def _touch_key(settings: Settings, key_id: int, now: datetime) -> None:
    with sessionmaker_for(settings)() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        session.commit()


def _key_digest(request: Request) -> str:
    key = _bearer(request)
    if not key:
        raise BazkhordError("auth.missing_key", "An API key is required (header X-API-Key or Authorization: Bearer).", http_status=401)
    return hash_key(key)


def _admit(request: Request, principal: Principal) -> None:
    request.state.principal = principal
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(principal)


def _stale(last_used: datetime | None, now: datetime) -> bool:
    # A write per request would serialise every request on SQLite: record use at most once a minute.
    return last_used is None or (now - last_used).total_seconds() > LAST_USED_RESOLUTION_S


async def get_principal(request: Request) -> Principal:
    """The calling key's principal; 401 on a missing, unknown or revoked key, 429 over the rate limit.

    Async on purpose: a cached key whose last use was recorded recently is checked on the event loop
    with no database and no worker-thread hop (the common case); only misses and the once-a-minute
    ``last_used_at`` write go to a worker thread.
    """
    from starlette.concurrency import run_in_threadpool

    digest = _key_digest(request)
    settings = settings_of(request)
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    hit = cache.get(digest) if cache is not None else None
    principal, last_used = hit if hit is not None else await run_in_threadpool(_lookup_key, settings, digest)
    _admit(request, principal)
    now = _utcnow()
    if _stale(last_used, now):
        await run_in_threadpool(_touch_key, settings, principal.key_id, now)
        last_used = now
    if cache is not None and (hit is None or last_used is not hit[1]):
        cache.put(digest, principal, last_used)
    return principal


def require_roles(*roles: str):
    """Dependency factory: the caller's key must have one of ``roles`` (admin always may)."""
    allowed = set(roles) | {"admin"}

    async def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise BazkhordError(
                "auth.forbidden",
                f"This key's role '{principal.role}' may not use this endpoint (needs one of: {', '.join(sorted(allowed))}).",
                http_status=403,
            )
        return principal

    _check.allowed_roles = tuple(sorted(allowed))  # read by the role-matrix tests
    return _check


def get_analyzer(request: Request):
    """The active analyser held by the app (loaded at startup, swapped on model activation).

    While the startup load is still running, a request waits for it (up to ``model_wait_s``) instead of
    failing: a worker that has just started takes connections before its model is in memory.
    """
    holder = getattr(request.app.state, "analyzer_holder", None)
    if holder is None:
        raise BazkhordError("model.not_loaded", "No model is loaded yet.", http_status=503)
    analyzer = holder.get()
    loaded = getattr(request.app.state, "model_load_done", None)
    if analyzer is None and loaded is not None and not loaded.is_set():
        loaded.wait(request.app.state.settings.model_wait_s)
        analyzer = holder.get()
    if analyzer is None:
        raise BazkhordError("model.not_loaded", "No model is loaded yet.", http_status=503)
    return analyzer
