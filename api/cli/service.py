"""CLI: the service — `serve`, `import FILE`, `db upgrade|current`, `keys create|list|revoke`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.app import app

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (create prints the key once; only its hash is stored).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


def _settings():
    from api.settings import get_settings

    return get_settings()


def _session_factory(url: str):
    from store.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply pending migrations (creates the SQLite file if needed)."""
    from store.migrate import upgrade

    url = _settings().database_url
    upgrade(url, revision)
    typer.echo(f"database is at {revision} ({_redact(url)})")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and whether it is the latest."""
    from store.db import make_engine
    from store.migrate import current_revisions, head_revisions

    engine = make_engine(_settings().database_url)
    cur, head = current_revisions(engine), head_revisions()
    typer.echo(f"current: {', '.join(cur) or '(empty)'}; head: {', '.join(head)}; "
               f"{'up to date' if set(cur) == set(head) else 'run `bazkhord db upgrade`'}")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message", help="what the change is")]) -> None:
    """Write a new migration from the difference between store/schema.py and the (upgraded) database."""
    from alembic import command

    from store.migrate import alembic_config

    url = _settings().database_url
    command.revision(alembic_config(url), message=message, autogenerate=True)


def _redact(url: str) -> str:
    # never print a password
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    migrate: Annotated[bool, typer.Option(help="apply pending migrations first")] = True,
    access_log: Annotated[bool, typer.Option(help="log one line per request (no bodies)")] = True,
    log_format: Annotated[str, typer.Option(help="json (one object a line, with request ids) | text")] = "json",
) -> None:
    """Serve the HTTP API (SQLite at var/bazkhord.db unless BAZKHORD_DATABASE_URL says otherwise)."""
    import logging

    import uvicorn

    from api.main import create_app

    settings = _settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":
        from api.observability import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    logging.getLogger("bazkhord.access").disabled = not access_log
    # third-party libraries imported by hazm (gensim) log their own housekeeping at INFO
    for noisy in ("gensim", "smart_open", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if migrate and settings.migrate_on_start:
        from store.migrate import upgrade

        upgrade(settings.database_url)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # /readyz checks the revision on every call
    typer.echo(f"Bazkhord on http://{host}:{port} (docs at /docs), database {_redact(settings.database_url)}")
    # uvicorn's own access log prints query strings; ours prints route templates only.
    # log_config=None: uvicorn's loggers go through ours (JSON, exception type only, never a traceback's values)
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="warning",
                log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG)


def _load_analyzer(settings):
    from api.analyzer_holder import load_startup_analyzer

    return load_startup_analyzer(settings, _session_factory(settings.database_url))


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX with a header row")],
    mapping: Annotated[str | None, typer.Option(help='JSON {"our_field": "their column"} or a JSON file')] = None,
    encoding: Annotated[str | None, typer.Option(help="force an encoding (default: detected)")] = None,
    partial: Annotated[bool, typer.Option(help="store valid rows and report the others")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
) -> None:
    """Import a file straight into the database: same validation as the API, all-or-nothing by default."""
    from tqdm import tqdm

    from api.importing import read_table
    from api.ingest import RawRow, check_count, ingest

    settings = _settings()
    table, _ = read_table(file.read_bytes(), mapping, file.name, encoding, settings.max_import_rows)
    check_count(len(table), settings.max_import_rows, "rows")
    from store.migrate import upgrade

    upgrade(settings.database_url)
    analyzer = _load_analyzer(settings)
    factory = _session_factory(settings.database_url)
    with factory() as session, tqdm(total=len(table), unit="row", desc="analysing") as bar:
        out = ingest(session, [RawRow(t.row, t.values, t.line) for t in table], analyzer, settings, None,
                     partial=partial, progress=bar.update)
    result = out.to_dict()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(f"stored {result['created']} new, {result['existing']} already present, {result['failed']} failed "
               f"(model {result['model']})")
    for e in result["errors"][:20]:
        typer.echo(f"  row {e['row']} (line {e['line']}) {e['field'] or '-'}: {e['code']}: {e['reason']}")
    if len(result["errors"]) > 20:
        typer.echo(f"  ... {len(result['errors']) - 20} more (use --json)")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="ingest | analyst | manager | admin")],
    name: Annotated[str, typer.Option(help="who or what uses the key")],
) -> None:
    """Create a key and print it (it is shown only this once)."""
    from store.keys import create_key
    from store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    with _session_factory(settings.database_url)() as session:
        row, plain = create_key(session, role, name)
        session.commit()
        typer.echo(plain)
        typer.echo(f"(id {row.id}, role {row.role}, name {row.name}; store it now: only its hash is kept)", err=True)


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (prefix, role, name, last use, revoked)."""
    from store.keys import key_to_dict, list_keys

    with _session_factory(_settings().database_url)() as session:
        rows = [key_to_dict(k) for k in list_keys(session)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        typer.echo(f"{r['id']:>4}  {r['prefix']}…  {r['role']:<8} {r['name']:<24} last used {r['last_used_at'] or '-'}  {state}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="key id or prefix")]) -> None:
    """Revoke a key: it stops working at once."""
    from store.keys import revoke_key

    with _session_factory(_settings().database_url)() as session:
        row = revoke_key(session, key)
        session.commit()
        typer.echo(f"revoked key {row.id} ({row.prefix}…, {row.name})")
