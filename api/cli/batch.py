"""CLI: `bazkhord batch analyze` — archive-scale analysis to Parquet and/or the database, on one process or Ray."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.app import app

batch_app = typer.Typer(help="Archive-scale analysis: a file of texts in, Parquet parts and/or database rows out "
                             "(resumable).", no_args_is_help=True)
app.add_typer(batch_app, name="batch")


@batch_app.command("analyze")
def analyze_cmd(
    input_path: Path = typer.Option(..., "--input", help="JSONL, CSV or Parquet with columns id and text."),
    output: Path | None = typer.Option(None, "--output", help="Directory of part-NNNNNN.parquet files (resumed if present)."),
    store: bool = typer.Option(False, "--store", help="Store the rows into the database like the API does "
                                                      "(id → external_id: a rerun adds nothing twice)."),
    database_url: str | None = typer.Option(None, "--database-url", help="With --store: this database instead of "
                                                                         "BAZKHORD_DATABASE_URL."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (ray://host:10001 or auto)."),
    workers: int = typer.Option(0, "--workers", help="Ray actors; 0 = single process unless --ray-address is given."),
    model: str | None = typer.Option(None, "--model", help="Model directory or registered version (default: the "
                                                           "registry's active version with --store, else the configured one)."),
    block_size: int = typer.Option(1000, "--block-size", help="Rows per block (the checkpoint unit)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Analyse every row of INPUT; a killed run restarted with the same arguments finishes the rest."""
    from nlp.errors import BazkhordError
    from training.batch import resolve_model, store_settings

    if output is None and not store:
        raise BazkhordError("batch.no_destination", "Give --output, --store or both.", {})
    settings = store_settings(database_url) if store else None
    # Resolved once here: every worker (and every Ray node) then loads the same artifact directory.
    model_path = resolve_model(model, settings.database_url if settings is not None else None, active=store)
    if ray_address or workers > 0:
        from training.batch_ray import analyze_file_ray

        result = analyze_file_ray(input_path, output, model=model_path, workers=max(workers, 1),
                                  address=ray_address, block_size=block_size, settings=settings, progress=progress)
    else:
        from models.analyzer import Analyzer
        from training.batch import BlockStore, analyze_file

        block_store = BlockStore(settings) if settings is not None else None
        try:
            result = analyze_file(input_path, output, Analyzer.load(model_path), block_size=block_size,
                                  progress=progress, store=block_store)
        finally:
            if block_store is not None:
                block_store.close()
    typer.echo(json.dumps(result))
