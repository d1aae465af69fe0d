"""CLI commands: modeling — `train` and `analyze` (evaluate is registered beside them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from api.cli.app import app
from nlp.errors import BazkhordError


@app.command("train")
def train_cmd(
    data: list[Path] = typer.Option([], "--data", help="Labelled file(s): canonical JSONL, CSV or XLSX."),
    out: Path | None = typer.Option(None, "--out", help="Directory to write the model artifact to."),
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: the topics in the data)."),
    unlabelled: list[Path] = typer.Option([], "--unlabelled", help="Unlabelled texts (cold start with seeds)."),
    seed: int = typer.Option(0, "--seed"),
    map_: list[str] = typer.Option([], "--map", help="Column mapping field=column for CSV/XLSX (repeatable)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip invalid rows instead of rejecting the file."),
    backend: str = typer.Option("sklearn", "--backend", help="sklearn | transformer"),
    base_model: str | None = typer.Option(None, "--base-model", help="transformer backend: base encoder directory."),
    device: str = typer.Option("auto", "--device", help="transformer backend: cpu | cuda | auto."),
    epochs: float = typer.Option(3.0, "--epochs", help="transformer backend: passes over the training data."),
    batch_size: int = typer.Option(16, "--batch-size", help="transformer backend: texts per training step."),
    learning_rate: float = typer.Option(5e-5, "--learning-rate", help="transformer backend: encoder learning rate."),
    max_length: int = typer.Option(128, "--max-length", help="transformer backend: tokens kept per text."),
    metrics: Path | None = typer.Option(None, "--metrics", help="JSON of held-out metrics to record in the card."),
    from_db: bool = typer.Option(
        False, "--from-db",
        help="Train from the base data (--data, default: settings) plus the analysts' gold labels in the database, "
             "compare with the active model and register a new version (same as `bazkhord retrain`).",
    ),
    activate: bool = typer.Option(False, "--activate", help="with --from-db: activate the new version when done."),
) -> None:
    """Train a model from labelled files and write it as an artifact directory."""
    if from_db:
        from api.cli.analyst import retrain_cmd

        retrain_cmd(base_data=list(data) or None, holdout=None, seed=seed, activate=activate)
        return
    if not data or out is None:
        raise BazkhordError("train.args_missing", "train needs --data FILE... and --out DIR (or --from-db).", {})
    if backend not in ("sklearn", "transformer"):
        raise BazkhordError("train.backend_unknown", f"Unknown backend {backend!r}.", {"choices": ["sklearn", "transformer"]})
    mapping = None
    if map_:
        from training.data import parse_mapping

        mapping = parse_mapping(map_)
    if backend == "transformer":
        from models.taxonomy import Taxonomy
        from models.transformer import train_cli
        from training.train import load_training_records

        if not base_model:
            raise BazkhordError("train.base_model_missing", "--backend transformer needs --base-model.", {})
        records, _, _ = load_training_records(data, mapping, skip_invalid)
        tax = Taxonomy.load(taxonomy) if taxonomy else None
        predictor = train_cli(records, out, tax, base_model=base_model, device=device, seed=seed, epochs=epochs,
                              batch_size=batch_size, learning_rate=learning_rate, max_length=max_length)
        typer.echo(f"model {predictor.version} written to {out}")
        return
    from training.train import train_files

    measured = None
    if metrics is not None:
        from models.card import flatten_metrics

        try:
            measured = flatten_metrics(json.loads(metrics.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise BazkhordError("train.metrics_invalid", f"Cannot read metrics JSON {metrics}.", {"path": str(metrics)}) from exc
    meta = train_files(data, out, taxonomy=taxonomy, unlabelled=unlabelled, seed=seed, progress=True,
                       mapping=mapping, skip_invalid=skip_invalid, metrics=measured)
    counts = meta["training"]["counts"]
    typer.echo(f"model {meta['version']} written to {out} "
               f"({counts['records']} records, {len(meta['taxonomy']['topics'])} topics)")
    if counts.get("skipped_invalid_rows"):
        typer.echo(f"skipped {counts['skipped_invalid_rows']} invalid rows")


def _read_texts(file: Path) -> list[str]:
    """Texts of a file: canonical JSONL/CSV/XLSX rows (their `text`), else one text per line."""
    if file.suffix.lower() in (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".xlsx", ".xlsm"):
        from training.train import read_unlabelled

        return read_unlabelled([file], skip_invalid=False)
    try:
        return [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise BazkhordError("data.not_found", f"No such file: {file}.", {"path": str(file)}) from None


@app.command("analyze")
def analyze_cmd(
    text: str | None = typer.Argument(None, help="The text to analyse (or use --file)."),
    file: Path | None = typer.Option(None, "--file", "-f", help="File of texts: JSONL/CSV/XLSX rows or one per line."),
    model: Path | None = typer.Option(None, "--model", help="Model directory (default: the bundled model)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per text (the Analysis contract)."),
    batch_size: int = typer.Option(256, "--batch-size"),
) -> None:
    """Sentiment, topics with polarity and evidence, for one text or a file of texts."""
    if (text is None) == (file is None):
        raise BazkhordError("cli.usage", "Give either TEXT or --file.", {})
    texts = [text] if text is not None else _read_texts(file)
    from models.analyzer import Analyzer

    analyzer = Analyzer.load(model)
    if file is not None and len(texts) > batch_size:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="text", file=sys.stderr)
    else:
        bar = None
    for start in range(0, len(texts), batch_size):
        chunk = texts[start: start + batch_size]
        for a in analyzer.analyze(chunk, batch_size=batch_size):
            if as_json:
                typer.echo(json.dumps(a.to_dict(), ensure_ascii=False))
            else:
                topics = ", ".join(f"{t.label_fa} ({t.topic}: {t.sentiment}, {t.score:.2f})" for t in a.topics)
                typer.echo(f"{a.sentiment.label} {a.sentiment.scores[a.sentiment.label]:.2f}\t"
                           f"{topics or '—'}\t{a.clean_text}")
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
