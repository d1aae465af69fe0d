"""CLI for the analysts' loop: `bazkhord models list|show|activate|register`, `bazkhord labels
export|import`, `bazkhord retrain` (train from the base data + the gold labels in the database)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.app import app

models_app = typer.Typer(help="The model registry: list, show, activate (rollback = activate an older one).",
                         no_args_is_help=True)
labels_app = typer.Typer(help="Gold labels: export to / import from canonical JSONL.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(labels_app, name="labels")


def _factory():
    from api.settings import get_settings
    from store.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().database_url))


def _print(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Every registered version, newest first (* = active)."""
    from store import registry

    with _factory()() as s:
        rows = [registry.version_to_dict(v) for v in registry.list_versions(s)]
    if as_json:
        _print(rows)
        return
    if not rows:
        typer.echo("no model versions registered (the service serves the bundled model)")
    for r in rows:
        typer.echo(f"{'*' if r['is_active'] else ' '} {r['version']:<28} {r['backend']:<12} {r['created_at'][:19]}")


@models_app.command("show")
def models_show(version: str) -> None:
    """A version's card, metrics and comparison against the model active when it was trained (JSON)."""
    from store import registry

    with _factory()() as s:
        _print(registry.version_to_dict(registry.get_version(s, version), full=True))


@models_app.command("activate")
def models_activate(version: str) -> None:
    """Make VERSION the active model (checked by loading it first). A running service swaps to it on its
    next start; `POST /v1/models/{version}/activate` swaps a running service at once."""
    from store import registry

    with _factory()() as s:
        registry.activate(s, version, holder=_LoadCheck())
    typer.echo(f"active model: {version}")


class _LoadCheck:
    """A holder that only proves the artifact loads (hashes verified) before the registry changes."""

    def get(self):
        return None

    def set(self, analyzer) -> None:
        pass


@models_app.command("register")
def models_register(path: Path, activate: bool = typer.Option(False, help="activate it as well")) -> None:
    """Add a model directory trained elsewhere (`bazkhord train --out DIR`) to the registry."""
    from store import registry

    with _factory()() as s:
        row = registry.register(s, path)
        s.commit()
        if activate:
            registry.activate(s, row.version, holder=_LoadCheck())
    typer.echo(f"registered {row.version}{' (active)' if activate else ''}")


@labels_app.command("export")
def labels_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSONL file (default: stdout)")] = None,
    since: Annotated[str | None, typer.Option(help="records created from this ISO date")] = None,
    until: Annotated[str | None, typer.Option(help="records created until this ISO date (inclusive)")] = None,
) -> None:
    """Current gold labels as canonical JSONL (the format of ../shared/data/README.md)."""
    from api.analyst_runtime import parse_when
    from store.labels import labelled_records
    from training.data import write_jsonl

    with _factory()() as s:
        records = labelled_records(s, parse_when(since, "since"), parse_when(until, "until", end=True))
    if out is None:
        for r in records:
            sys.stdout.write(json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n")
    else:
        n = write_jsonl(records, out)
        typer.echo(f"{n} labelled records → {out}", err=True)


@labels_app.command("import")
def labels_import(
    path: Path,
    author: Annotated[str, typer.Option(help="who made these labels")] = "import",
    mapping: Annotated[list[str] | None, typer.Option("--mapping", "-m", help="field=column (CSV/XLSX)")] = None,
) -> None:
    """Store labels made elsewhere as gold labels, matched to stored records by id or text."""
    from store.labels import import_labels
    from training.data import load_records, parse_mapping

    records = load_records(path, parse_mapping(mapping) if mapping else None).records
    with _factory()() as s:
        result = import_labels(s, records, author=author)
        s.commit()
    _print(result.to_dict())


@app.command("retrain")
def retrain_cmd(
    base_data: Annotated[list[Path] | None, typer.Option("--base-data", help="base data file(s); default: settings")] = None,
    holdout: Annotated[float | None, typer.Option(help="share of gold labels held out (default: settings)")] = None,
    seed: int = 0,
    activate: Annotated[bool, typer.Option(help="activate the new version when done")] = False,
) -> None:
    """Train from the base data plus the gold labels in the database (`train --from-db`), compare with the
    active model on held-out gold labels, and register the new version."""
    from tqdm import tqdm

    from api.settings import get_settings
    from store import registry
    from training.retrain import RetrainConfig, retrain

    settings = get_settings()
    factory = _factory()
    with factory() as s:
        row = registry.active_version(s)
    from models.analyzer import Analyzer

    active = Analyzer.load(row.path if row is not None else settings.model_path)
    config = RetrainConfig(model_dir=settings.model_dir,
                           base_data=list(base_data) if base_data else list(settings.train_base_data),
                           holdout=settings.train_holdout if holdout is None else holdout,
                           min_labels=settings.train_min_labels, seed=seed)
    bar = tqdm(total=100, desc="retrain", unit="%", file=sys.stderr)

    def progress(fraction: float, message: str) -> None:
        bar.n = round(100 * fraction)
        bar.set_postfix_str(message)
        bar.refresh()

    result = retrain(factory, config, active_analyzer=active, progress=progress)
    bar.close()
    if activate:
        with factory() as s:
            registry.activate(s, result["version"], holder=_LoadCheck())
    _print({"version": result["version"], "activated": activate, "metrics": result["comparison"]["metrics"]})
