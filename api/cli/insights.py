"""CLI: insights — `demo` (a populated database for a first look) and `indicators rebuild|refresh`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from api.cli.app import app
from nlp.errors import BazkhordError

indicators_app = typer.Typer(help="Indicator rollups (daily aggregates behind /v1/indicators).", no_args_is_help=True)
app.add_typer(indicators_app, name="indicators")


def _session_factory():
    from api.settings import get_settings
    from store.db import make_engine, make_sessionmaker
    from store.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    return settings, make_sessionmaker(make_engine(settings.database_url))


def run_demo(factory, settings, analyzer, n: int = 12000, end: date | None = None, seed: int = 7, force: bool = False,
             progress: bool = True) -> dict:
    """Generate, analyse (``analyzer.analyze``) and store the demo year; returns counts and a new manager key."""
    from sqlalchemy import func, select
    from tqdm import tqdm

    from indicators.demo_texts import generate
    from indicators.rollup import ensure_fresh
    from store.feedback import insert_feedback
    from store.keys import create_key
    from store.schema import Feedback

    with factory() as session:
        existing = session.scalar(select(func.count()).select_from(Feedback)) or 0
    if existing and not force:
        raise BazkhordError("demo.not_empty", f"The database already holds {existing} feedback records; use --force to add the demo anyway.")
    items = generate(n, end=end or date.today(), seed=seed)
    batch = 500
    with factory() as session:
        for i in tqdm(range(0, len(items), batch), desc="analysing and storing", unit="batch", disable=not progress):
            chunk = items[i : i + batch]
            analyses = analyzer.analyze([it.text for it in chunk])
            insert_feedback(session, [it.to_feedback() for it in chunk], analyses, None, settings)
            session.commit()
        days = ensure_fresh(session)
        _row, key = create_key(session, "manager", "demo manager")
        session.commit()
    return {"records": len(items), "first": items[0].created_at.date(), "last": items[-1].created_at.date(), "days": days, "key": key}


@app.command("demo")
def demo(
    n: Annotated[int, typer.Option(help="number of feedback records (spread over one year)")] = 12000,
    end: Annotated[str | None, typer.Option(help="last day, ISO date (default: today)")] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same data)")] = 7,
    model: Annotated[str | None, typer.Option(help="model directory (default: active/bundled model)")] = None,
    force: Annotated[bool, typer.Option(help="add the demo data even if the database has feedback")] = False,
) -> None:
    """Fill an empty database with a realistic year of Persian food-delivery feedback, analysed by the real
    model, then print a manager key to open /dashboard with."""
    from models.analyzer import Analyzer

    settings, factory = _session_factory()
    analyzer = Analyzer.load(model)
    out = run_demo(factory, settings, analyzer, n=n, end=date.fromisoformat(end) if end else None, seed=seed, force=force)
    typer.echo(f"stored {out['records']} demo records ({out['first']} .. {out['last']}), model {analyzer.version}, "
               f"{out['days']} days of indicators")
    typer.echo(f"manager key (shown once): {out['key']}")
    typer.echo("open http://127.0.0.1:8000/dashboard and enter the key (run `make run` or `bazkhord serve` first)")


@indicators_app.command("refresh")
def refresh() -> None:
    """Bring the rollups up to date (the API also does this before every indicator query)."""
    from indicators.rollup import ensure_fresh

    _settings, factory = _session_factory()
    with factory() as session:
        typer.echo(f"refreshed {ensure_fresh(session)} days")


@indicators_app.command("rebuild")
def rebuild() -> None:
    """Recompute every rollup row from the raw tables (after bulk SQL edits or deletes outside the ORM)."""
    from indicators.rollup import rebuild as _rebuild

    _settings, factory = _session_factory()
    with factory() as session:
        typer.echo(f"rebuilt {_rebuild(session)} days")
