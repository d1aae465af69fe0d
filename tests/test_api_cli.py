"""`bazkhord db upgrade|current`, `keys create|list|revoke`, `import FILE` against a SQLite file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings
from store.db import make_engine, make_sessionmaker
from store.keys import lookup_key
from tests.apiutil import analyzer

_FIXTURES = (analyzer,)  # pytest finds fixtures by module name


@pytest.fixture
def cli(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'var' / 'cli.db'}"
    monkeypatch.setenv("BAZKHORD_DATABASE_URL", url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield (lambda *args: runner.invoke(app, list(args))), url
    get_settings.cache_clear()


def test_db_and_keys(cli):
    run, url = cli
    r = run("db", "current")
    assert "run `bazkhord db upgrade`" in r.output
    assert run("db", "upgrade").exit_code == 0
    assert "up to date" in run("db", "current").output
    r = run("keys", "create", "--role", "manager", "--name", "dashboard")
    assert r.exit_code == 0, r.output
    plain = r.stdout.strip().splitlines()[0]
    with make_sessionmaker(make_engine(url))() as s:
        row = lookup_key(s, plain)
        assert row is not None and row.role == "manager" and row.revoked_at is None
    listed = json.loads(run("keys", "list", "--json").stdout)
    assert [(k["name"], k["role"]) for k in listed] == [("dashboard", "manager")]
    assert plain not in run("keys", "list").output  # never shown again
    assert run("keys", "revoke", listed[0]["prefix"]).exit_code == 0
    assert json.loads(run("keys", "list", "--json").stdout)[0]["revoked_at"]
    bad = run("keys", "create", "--role", "root", "--name", "x")
    assert bad.exit_code != 0 and bad.exception is not None and bad.exception.code == "keys.invalid_role"


def test_import_file(cli, tmp_path, monkeypatch, analyzer):
    import api.cli.service as service

    run, url = cli
    monkeypatch.setattr(service, "_load_analyzer", lambda settings: analyzer)
    path = tmp_path / "export.csv"
    path.write_bytes("متن;امتیاز\r\nپیک دیر رسید;2\r\nغذا عالی بود;5\r\n;3\r\n".encode("utf-16"))
    r = run("import", str(path), "--mapping", '{"text": "متن", "rating": "امتیاز"}')
    assert r.exit_code != 0 and r.exception.code == "feedback.invalid_rows"  # all-or-nothing
    r = run("import", str(path), "--mapping", '{"text": "متن", "rating": "امتیاز"}', "--partial", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["created"] == 2 and out["errors"][0]["line"] == 4 and out["errors"][0]["code"] == "field.empty_text"
    from store.feedback import count_feedback

    with make_sessionmaker(make_engine(url))() as s:
        assert count_feedback(s) == 2
