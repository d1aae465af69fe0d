"""`bazkhord train`: labelled files (+ taxonomy, unlabelled texts) → a saved model artifact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from nlp.errors import BazkhordError


def read_unlabelled(paths: Sequence[str | Path], skip_invalid: bool = True) -> list[str]:
    """Texts of unlabelled files (any format ``load_records`` reads; labels, if any, are ignored)."""
    from training.data import load_records

    texts: list[str] = []
    for p in paths:
        texts.extend(r.text for r in load_records(p, skip_invalid=skip_invalid).records)
    return texts


def source_name(path: Path) -> str:
    """A readable set name for the card: ``snappfood/train.jsonl`` → ``snappfood/train``."""
    return f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem


def load_training_records(paths: Sequence[str | Path], mapping: dict[str, str] | None = None,
                          skip_invalid: bool = False) -> tuple[list, dict[str, int], int]:
    from training.data import load_records

    records, sets, skipped = [], Counter(), 0
    for p in paths:
        res = load_records(p, mapping=mapping, skip_invalid=skip_invalid)
        skipped += res.skipped
        records.extend(res.records)
        sets[source_name(Path(p))] += len(res.records)
    return records, dict(sets), skipped


def train_files(
    data: Sequence[str | Path],
    out: str | Path,
    taxonomy: str | Path | None = None,
    unlabelled: Sequence[str | Path] = (),
    seed: int = 0,
    progress: bool = True,
    mapping: dict[str, str] | None = None,
    skip_invalid: bool = False,
    metrics: dict | None = None,
) -> dict:
    """Train the sklearn backend on ``data`` and save it to ``out``; returns the written model.json."""
    from models.taxonomy import Taxonomy
    from models.training_api import train

    if not data:
        raise BazkhordError("train.no_data", "Give at least one --data file.", {})
    records, sets, skipped = load_training_records(data, mapping, skip_invalid)
    tax = Taxonomy.load(taxonomy) if taxonomy else None
    unl = read_unlabelled(unlabelled) if unlabelled else None
    predictor = train(records, taxonomy=tax, unlabelled=unl, seed=seed, progress=progress, sources=sets)
    if skipped:
        predictor.meta["training"]["counts"]["skipped_invalid_rows"] = skipped
    if metrics:
        predictor.meta["metrics"] = metrics
    predictor.save(out)
    return predictor.meta
