"""FastAPI dependencies: settings, database session, the analyser, and key/role checks.

Route modules use only these names:
  - ``SessionDep``: a SQLAlchemy session for the request (commit explicitly)
  - ``require_roles("manager", "analyst")``: dependency returning the calling ``Principal``
    (admin always passes); 401 on a missing/bad/revoked key, 403 on a wrong role
  - ``get_analyzer``: the active analyser (hot-swappable)
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.settings import Settings, get_settings
from nlp.errors import BazkhordError
from store.db import make_engine, make_sessionmaker
from store.schema import ApiKey

SettingsDep = Annotated[Settings, Depends(get_settings)]
LAST_USED_RESOLUTION_S = 60


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(settings: SettingsDep) -> Engine:
    return _engine_for(settings.database_url)


@lru_cache(maxsize=8)
def _sessionmaker_for(url: str) -> sessionmaker[Session]:
    return make_sessionmaker(_engine_for(url))


def get_session(settings: SettingsDep) -> Iterator[Session]:
    session = _sessionmaker_for(settings.database_url)()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


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


def get_principal(request: Request, session: SessionDep) -> Principal:
    key = _bearer(request)
    if not key:
        raise BazkhordError("auth.missing_key", "An API key is required (header X-API-Key or Authorization: Bearer).", http_status=401)
    digest = hash_key(key)
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    hit = cache.get(digest) if cache is not None else None
    if hit is None:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if row is None or row.revoked_at is not None:
            raise BazkhordError("auth.invalid_key", "The API key is not valid or has been revoked.", http_status=401)
        principal, last_used = Principal(key_id=row.id, name=row.name, role=row.role), row.last_used_at
    else:
        principal, last_used = hit
    request.state.principal = principal
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(principal)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    # A write per request would serialise every request on SQLite: record use at most once a minute.
    if last_used is None or (now - last_used).total_seconds() > LAST_USED_RESOLUTION_S:
        session.execute(update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=now))
        session.commit()
        last_used = now
    elif hit is None:
        session.rollback()  # end the read transaction so the route starts a fresh one
    if cache is not None:
        cache.put(digest, principal, last_used)
    return principal


def require_roles(*roles: str):
    """Dependency factory: the caller's key must have one of ``roles`` (admin always may)."""
    allowed = set(roles) | {"admin"}

    def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
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
    """The active analyser held by the app (loaded at startup, swapped on model activation)."""
    holder = getattr(request.app.state, "analyzer_holder", None)
    if holder is None or holder.get() is None:
        raise BazkhordError("model.not_loaded", "No model is loaded yet.", http_status=503)
    return holder.get()
