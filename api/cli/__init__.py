"""The `bazkhord` command line: one typer app, sub-commands grouped by module.

Each module below registers its commands on ``app`` (or adds a sub-typer); heavy imports stay
inside the command functions so `bazkhord --help` and `bazkhord normalize` start fast.
"""

from __future__ import annotations

import sys

from api.cli.app import app
from nlp.errors import BazkhordError

# Registration side effects: each module adds its commands to ``app``.
from api.cli import text as _text  # noqa: E402,F401  normalize, mask
from api.cli import modeling as _modeling  # noqa: E402,F401  train, analyze, evaluate
from api.cli import evaluation as _evaluation  # noqa
from api.cli import service as _service  # noqa: E402,F401  serve, import, db, keys
from api.cli import insights as _insights  # noqa: E402,F401  demo
from api.cli import analyst as _analyst  # noqa: E402,F401  models, labels, retrain
from api.cli import complaints as _complaints  # noqa: E402,F401  complaints list|show|status|indicators|triage
from api.cli import batch as _batch  # noqa: E402,F401  batch analyze


def main() -> None:
    try:
        app()
    except BazkhordError as exc:
        print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
        sys.exit(1)


__all__ = ["app", "main"]
