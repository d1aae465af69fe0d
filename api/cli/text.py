"""CLI commands of the text pipeline: ``bazkhord normalize`` and ``bazkhord mask``.

Both take one TEXT argument, or read lines from stdin when TEXT is ``-`` or omitted (one output line
per input line), and print plain text or, with ``--json``, one JSON object per line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from api.cli.app import app
from nlp.errors import BazkhordError

TextArg = Annotated[
    str | None, typer.Argument(help="Text to process; '-' or nothing reads lines from stdin.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line instead of plain text.")]


def _inputs(text: str | None) -> Iterator[str]:
    if text is not None and text != "-":
        yield text
        return
    for line in sys.stdin:
        yield line.rstrip("\r\n")


def _emit(obj: dict, as_json: bool, plain: str) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False) if as_json else plain)


@app.command("normalize")
def normalize_cmd(
    text: TextArg = None,
    as_json: JsonOpt = False,
    digits: Annotated[str, typer.Option(help="Digit script of the output: fa (۰-۹) or en (0-9).")] = "fa",
    mask: Annotated[bool, typer.Option("--mask", help="Also mask personal data (as the service does).")] = False,
) -> None:
    """Normalize Persian text (hazm-based; URLs, numbers and emoji kept intact)."""
    if digits not in ("fa", "en"):
        raise BazkhordError("cli.invalid_option", "--digits must be 'fa' or 'en'", {"digits": digits})
    from nlp.pipeline import TextPipeline, get_pipeline

    pipeline = get_pipeline() if (digits == "fa" and mask) else TextPipeline(digits=digits, mask_pii=mask)
    for raw in _inputs(text):
        clean = pipeline.process(raw)
        obj = {"text": clean.text, "tokens": list(clean.tokens), "flags": clean.flags}
        if mask:
            obj["pii"] = [s.to_dict() for s in clean.pii]
        _emit(obj, as_json, clean.text)


@app.command("mask")
def mask_cmd(text: TextArg = None, as_json: JsonOpt = False) -> None:
    """Mask personal data (phones, national codes, cards, IBANs, e-mails, URLs) in raw text."""
    from nlp.pii import PiiMasker

    masker = PiiMasker()
    for raw in _inputs(text):
        masked = masker.mask(raw)
        _emit({"text": masked.text, "pii": [s.to_dict() for s in masked.spans]}, as_json, masked.text)
