"""Topic and sentiment models, the Analyzer, artifacts."""

from __future__ import annotations


def load_analyzer(path=None):
    """The Analyzer for the model at ``path`` (None = configured model, else the bundled one)."""
    from models.analyzer import Analyzer

    return Analyzer.load(path)


__all__ = ["load_analyzer"]
