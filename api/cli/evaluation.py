"""CLI: `bazkhord evaluate` — score a model on labelled data (table, JSON, HTML report)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.app import app


def format_summary(summary: dict, model: str = "", binary: bool = False) -> str:
    """The readable table printed without ``--json``."""
    lines = [f"model {model or '?'} · {summary['n']} records"]

    def row(name: str, m: dict) -> str:
        return f"  {name:<16} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} {m['support']:>8}"

    s = summary.get("sentiment")
    if s:
        mode = " (pos vs neg scores only)" if binary else ""
        lines += [
            "",
            f"sentiment{mode}: n={s['n']}  accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}  ECE {s['ece']:.3f}",
            f"  {'label':<16} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
        ]
        lines += [row(label, s["per_label"][label]) for label in s["labels"]]
    t = summary.get("topics")
    if t:
        lines += [
            "",
            f"topics: n={t['n']}  micro-F1 {t['micro_f1']:.3f}  macro-F1 {t['macro_f1']:.3f}",
            f"  {'topic':<16} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
        ]
        lines += [row(name, m) for name, m in t["per_topic"].items()]
    p = summary.get("topic_polarity")
    if p:
        if p["n"]:
            lines += ["", f"topic polarity: n={p['n']}  accuracy {p['accuracy']:.3f}  macro-F1 {p['macro_f1']:.3f}"]
        else:
            lines += ["", "topic polarity: n=0 (the model found none of the gold topics)"]
    if not s and not t:
        lines += ["", "the data carries no sentiment or topic labels: nothing to score"]
    return "\n".join(lines)


def load_analyzer(path: Path | None):
    """The analyser to score (a seam the tests replace with a hand-written one)."""
    from models.analyzer import Analyzer

    return Analyzer.load(path)


@app.command("evaluate")
def evaluate_command(
    data: Annotated[list[Path], typer.Option("--data", help="labelled file (.jsonl, .csv, .xlsx); repeatable")],
    model: Annotated[Path | None, typer.Option("--model", help="model directory (default: the bundled model)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly one JSON object on stdout")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="write a self-contained HTML report here")] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="column mapping field=column, e.g. --map text=comment")
    ] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="skip invalid rows instead of failing")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=100, help="bootstrap resamples for the report")] = 1000,
) -> None:
    """Score a model on labelled data: sentiment, topics, per-topic polarity (issue 3 metrics)."""
    from training.data import load_records, parse_mapping
    from training.evaluate import run_evaluation

    column_map = parse_mapping(mapping or [])
    records = []
    for path in data:
        loaded = load_records(path, column_map, skip_invalid=skip_invalid)
        if loaded.skipped:
            print(f"{path.name}: skipped {loaded.skipped} invalid row(s)", file=sys.stderr)
        records.extend(loaded.records)
    analyzer = load_analyzer(model)  # after the data: a bad file is reported without waiting for the model
    ev = run_evaluation(analyzer, records, batch_size=batch_size, progress=True)
    summary = ev.summary()
    if report is not None:
        from training.report import write_report

        write_report(ev, report, n_boot=bootstrap)
        print(f"report written to {report}", file=sys.stderr)
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        binary = bool(ev.sentiment and ev.sentiment.binary)
        typer.echo(format_summary(summary, model=ev.model, binary=binary))
