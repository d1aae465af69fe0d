"""CLI: `bazkhord batch analyze` — archive-scale analysis to Parquet, on one process or on Ray."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.app import app

batch_app = typer.Typer(help="Archive-scale analysis: a file of texts in, Parquet parts out (resumable).",
                        no_args_is_help=True)
app.add_typer(batch_app, name="batch")


@batch_app.command("analyze")
def analyze_cmd(
    input_path: Path = typer.Option(..., "--input", help="JSONL, CSV or Parquet with columns id and text."),
    output: Path = typer.Option(..., "--output", help="Directory of part-NNNNNN.parquet files (resumed if present)."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (ray://host:10001 or auto)."),
    workers: int = typer.Option(0, "--workers", help="Ray actors; 0 = single process unless --ray-address is given."),
    model: str | None = typer.Option(None, "--model", help="Model directory or registered version (default: bundled)."),
    block_size: int = typer.Option(1000, "--block-size", help="Rows per part file (the checkpoint unit)."),
) -> None:
    """Analyse every row of INPUT; a killed run restarted with the same arguments finishes the rest."""
    if ray_address or workers > 0:
        from training.batch_ray import analyze_file_ray

        result = analyze_file_ray(input_path, output, model=model, workers=max(workers, 1),
                                  address=ray_address, block_size=block_size)
    else:
        from training.batch import analyze_file, load_batch_analyzer

        result = analyze_file(input_path, output, load_batch_analyzer(model), block_size=block_size)
    typer.echo(json.dumps(result))
