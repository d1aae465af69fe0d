"""Helpers for API and store tests: databases (SQLite and PostgreSQL), an analyser, a client with keys.

``make_client(database_url, analyzer)`` → ``(TestClient, create_key)`` where ``create_key(role)``
returns a fresh plain API key of that role. Test modules import the fixtures below by name.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import require, shared_data_dir

PG_ENV = "BAZKHORD_TEST_POSTGRES_URL"


def make_client(database_url: str, analyzer: Any, **overrides: Any) -> tuple[TestClient, Callable[[str], str]]:
    """A TestClient on a migrated database; settings overrides as keyword arguments."""
    from api.main import create_app
    from api.settings import Settings
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key as _create
    from store.migrate import upgrade

    upgrade(database_url)
    overrides.setdefault("rate_limit_per_minute", 0)
    settings = Settings(database_url=database_url, **overrides)
    client = TestClient(create_app(settings, analyzer=analyzer), raise_server_exceptions=False)
    factory = make_sessionmaker(make_engine(database_url))

    def create_key(role: str, name: str = "test") -> str:
        with factory() as session:
            _row, plain = _create(session, role, name)
            session.commit()
        return plain

    return client, create_key


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


# ---- databases -------------------------------------------------------------------------------


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _fresh_pg_database(base_url: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on the test server (other test modules share the base one)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bzk_api_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        from api.deps import _engine_for

        _engine_for.cache_clear()  # close pooled connections before dropping
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def database_urls(kind: str, sqlite_dir: Path, name: str = "bazkhord.db") -> Iterator[str]:
    """Yield a fresh database URL of ``kind`` (sqlite | postgres), dropped afterwards (for fixtures)."""
    if kind == "sqlite":
        yield f"sqlite:///{sqlite_dir / name}"
        return
    base = postgres_url()
    require(base is not None, f"PostgreSQL not configured ({PG_ENV})")
    url, drop = _fresh_pg_database(base)  # type: ignore[arg-type]
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated-on-first-use database URL, once for SQLite and once for PostgreSQL."""
    yield from database_urls(request.param, tmp_path_factory.mktemp("db"))


# ---- the analyser ----------------------------------------------------------------------------

_ANALYZER: dict[str, Any] = {}


def load_test_analyzer() -> Any:
    """The bundled model if it loads, else a small model trained on the topic-labelled SnappFood set."""
    if "a" in _ANALYZER:
        return _ANALYZER["a"]
    try:
        from models.analyzer import Analyzer
    except ImportError:
        require(False, "models.analyzer is not available yet")
    try:
        analyzer = Analyzer.load()
    except Exception:
        analyzer = None
    if analyzer is None:
        try:
            from models.training_api import train
            from training.data import load_records
        except ImportError:
            require(False, "no bundled model and no models.training_api to train one")
        data = shared_data_dir()
        require(data is not None, "../shared/data not found")
        records = load_records(Path(data) / "snappfood-topics" / "train.jsonl").records  # type: ignore[operator]
        out = Path(tempfile.mkdtemp(prefix="bzk-api-model-"))
        train(records, seed=0, progress=False, weak_labels=False).save(out)  # small and quick: API tests only
        analyzer = Analyzer.load(out)
    _ANALYZER["a"] = analyzer
    return analyzer


@pytest.fixture(scope="session")
def analyzer() -> Any:
    return load_test_analyzer()


@pytest.fixture(scope="session")
def api(db_url, analyzer) -> tuple[TestClient, Callable[[str], str]]:
    """(client, create_key) on the session's database."""
    client, create_key = make_client(db_url, analyzer)
    return client, create_key


@pytest.fixture(scope="session")
def keys(api) -> dict[str, str]:
    """One key per role (plus a second ingest key), created once per database."""
    _client, create_key = api
    return {role: create_key(role, role) for role in ("ingest", "analyst", "manager", "admin")} | {
        "ingest2": create_key("ingest", "ingest2")
    }


def unique(prefix: str = "t") -> str:
    """A value no other test uses (channels/segments isolate tests that share a database)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
