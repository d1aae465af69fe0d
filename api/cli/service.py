"""CLI: the service — `serve`, `import FILE`, `db upgrade|current`, `keys create|list|revoke`."""

from __future__ import annotations

import json
import os
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


def default_workers() -> int:
    """One worker per CPU core this process may use, at least 1, at most 4. The GIL keeps a worker to
    about one core; SQLite writers of all workers take turns on a file lock (``store.db.WriteTurn``), so
    a second worker on 2 cores is a second core at work (bench/load.py, mixed load at 200 req/s for 60 s:
    one worker falls behind and requests time out; two keep up). Each worker holds its own model
    (~0.85 GB, ~30 s of CPU to load on a busy 2-core box)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _supervisor_class():
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's worker supervisor; on stop it first closes its own copy of the listening socket, so
        that once the workers have closed theirs new connections are refused instead of queueing."""

        def terminate_all(self) -> None:
            for sock in self.sockets:
                sock.close()
            super().terminate_all()

    return Supervisor


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    migrate: Annotated[bool, typer.Option(help="apply pending migrations first")] = True,
    access_log: Annotated[bool | None, typer.Option("--access-log/--no-access-log",
                                                    help="log one line per request (no bodies) [default: on]")] = None,
    log_format: Annotated[str | None, typer.Option(help="json (one object a line, with request ids) | text "
                                                        "[default: json]")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes; 0 = one per CPU core, 1 to 4 "
                                                     "[default: BAZKHORD_WORKERS or 0]")] = None,
    threads: Annotated[int | None, typer.Option(help="request threads per worker [default: BAZKHORD_THREADS or 2]")] = None,
    graceful_timeout: Annotated[float | None, typer.Option(
        help="seconds in-flight requests get to finish after SIGTERM/SIGINT [default: BAZKHORD_GRACEFUL_TIMEOUT_S or 30]")] = None,
) -> None:
    """Serve the HTTP API (SQLite at var/bazkhord.db unless BAZKHORD_DATABASE_URL says otherwise).

    SIGTERM or SIGINT stops it gracefully: no new connection is accepted, requests in flight finish
    (up to --graceful-timeout), the model watcher stops, database connections close, exit status 0.
    """
    import logging

    import uvicorn

    from api.main import SUPERVISOR_ENV, GracefulServer
    from api.observability import configure_logging
    from api.settings import get_settings

    # Options travel to the worker processes through the environment (each builds its app from it).
    for name, value in (("ACCESS_LOG", access_log), ("LOG_FORMAT", log_format), ("WORKERS", workers),
                        ("THREADS", threads), ("GRACEFUL_TIMEOUT_S", graceful_timeout)):
        if value is not None:
            os.environ[f"BAZKHORD_{name}"] = str(value).lower() if isinstance(value, bool) else str(value)
    get_settings.cache_clear()
    settings = get_settings()
    if settings.log_format not in ("json", "text"):
        raise typer.BadParameter("--log-format must be json or text")
    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    if migrate and settings.migrate_on_start:
        from store.migrate import upgrade

        logging.getLogger("alembic").setLevel(logging.INFO)
        upgrade(settings.database_url)
        logging.getLogger("alembic").setLevel(logging.WARNING)  # /readyz checks the revision on every call
    n_workers = settings.workers or default_workers()
    typer.echo(f"Bazkhord on http://{host}:{port} (docs at /docs), database {_redact(settings.database_url)}, "
               f"{n_workers} worker{'s' if n_workers > 1 else ''}")
    # uvicorn's own access log prints query strings; ours prints route templates only.
    # log_config=None: uvicorn's loggers go through ours (JSON, exception type only, never a traceback's values)
    config = uvicorn.Config(
        "api.main:serve_app", factory=True, host=host, port=port, workers=n_workers,
        timeout_graceful_shutdown=settings.graceful_timeout_s, access_log=False, log_level="warning",
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        # a worker busy with a long batch on a loaded machine is slow to answer pings, not hung
        timeout_worker_healthcheck=30,
    )
    if n_workers > 1:
        # the supervisor exits 0 once every worker has finished its requests and stopped
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        _supervisor_class()(config, sockets=[config.bind_socket()]).run()
    else:
        server = GracefulServer(config)
        server.run()
        if not server.started:
            raise SystemExit(3)  # uvicorn's status for a server that never started (port taken, app broken)
    logging.getLogger("bazkhord.api").info("server stopped")


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
