"""Alembic migrations create exactly the schema of store/schema.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store.db import make_engine
from store.migrate import current_revisions, head_revisions, is_current, upgrade
from store.schema import Base
from tests.apiutil import db_url

_FIXTURES = (db_url,)  # pytest finds fixtures by module name


def test_autogenerate_finds_no_difference(db_url):
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], "store/schema.py and store/migrations disagree; add a migration:\n" + "\n".join(map(str, diff))
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        assert is_current(engine) and current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()


def test_empty_database_is_not_current(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert current_revisions(engine) == () and not is_current(engine)
    engine.dispose()
