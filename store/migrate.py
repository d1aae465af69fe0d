"""Alembic migrations, driven from code (no alembic.ini needed): upgrade, current vs head.

``bazkhord db upgrade`` and ``bazkhord serve`` call :func:`upgrade`; ``/readyz`` calls :func:`is_current`.
The URL comes from the caller (settings) so the same code serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from store.db import make_engine

    # SQLite: make sure the parent folder exists (make_engine creates it) before alembic connects.
    make_engine(url).dispose()
    command.upgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory(str(MIGRATIONS)).get_heads())


def current_revisions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


def is_current(engine: Engine) -> bool:
    return set(current_revisions(engine)) == set(head_revisions())
