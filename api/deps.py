"""FastAPI dependencies: settings, database session, the analyser, and key/role checks.

Route modules use only these names:
  - ``SessionDep``: a SQLAlchemy session for the request (commit explicitly)
  - ``require_roles("manager", "analyst")``: dependency returning the calling ``Principal``
    (admin always passes); 401 on a missing/bad/revoked key, 403 on a wrong role
  - ``get_analyzer``: the active analyser (hot-swappable)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, select
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


def get_principal(request: Request, session: SessionDep) -> Principal:
    key = _bearer(request)
    if not key:
        raise BazkhordError("auth.missing_key", "An API key is required (header X-API-Key or Authorization: Bearer).", http_status=401)
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        raise BazkhordError("auth.invalid_key", "The API key is not valid or has been revoked.", http_status=401)
    principal = Principal(key_id=row.id, name=row.name, role=row.role)
    request.state.principal = principal
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(principal)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    # A write per request would serialise every request on SQLite: record use at most once a minute.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S:
        row.last_used_at = now
        session.commit()
    else:
        session.rollback()  # end the read transaction so the route starts a fresh one
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
