"""Archive-scale analysis on one machine: a file of texts in, one Parquet part per block out.

The input (JSONL, CSV or Parquet with at least ``id`` and ``text``) is cut into fixed blocks of
``block_size`` rows. Each block's result is written to ``part-NNNNNN.parquet`` through a temporary
file and an atomic rename, so a finished part is the checkpoint: a restarted run skips blocks whose
part exists and never writes a row twice. The Ray path (training/batch_ray.py) uses the same blocks
and the same writer, so both paths give identical output.

With a database (``--store``), every block also goes through the ingestion the API uses
(``api.ingest.ingest``): validation, masked text, analysis with the model's version, one commit per
block, idempotent on ``external_id`` (the input's ``id``). A restarted run finds the rows already
stored and neither analyses nor writes them again: the database is the checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.errors import BazkhordError

DEFAULT_BLOCK_SIZE = 1000
PART_PATTERN = "part-{:06d}.parquet"


@dataclass(frozen=True, slots=True)
class Block:
    index: int
    ids: list[str]
    texts: list[str]


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - pyarrow ships with the ray extra
        raise BazkhordError(
            "batch.pyarrow_missing", "Parquet needs pyarrow: pip install 'bazkhord[ray]'.", {}
        ) from exc
    return pyarrow


def iter_rows(path: str | Path) -> Iterator[tuple[str, str]]:
    """(id, text) for every row of a JSONL, CSV or Parquet file; a row without id/text is an error."""
    p = Path(path)
    if not p.is_file():
        raise BazkhordError("data.file_not_found", f"input file not found: {p}", {"file": str(p)}, 404)
    if p.suffix.lower() == ".parquet":
        pa = _pyarrow()
        table = pa.parquet.read_table(p, columns=None)
        if "id" not in table.column_names or "text" not in table.column_names:
            raise BazkhordError("batch.columns_missing", "Parquet input needs columns id and text.",
                                {"file": p.name, "columns": table.column_names})
        for batch in table.select(["id", "text"]).to_batches():
            for rid, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                yield str(rid), text or ""
        return
    from training.data import iter_records

    for record in iter_records(p):
        yield record.id, record.text


def iter_blocks(path: str | Path, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[Block]:
    if block_size < 1:
        raise BazkhordError("batch.block_size", "block size must be at least 1.", {"block_size": block_size})
    ids: list[str] = []
    texts: list[str] = []
    index = 0
    for rid, text in iter_rows(path):
        ids.append(rid)
        texts.append(text)
        if len(ids) == block_size:
            yield Block(index, ids, texts)
            index, ids, texts = index + 1, [], []
    if ids:
        yield Block(index, ids, texts)


def part_path(out_dir: str | Path, index: int) -> Path:
    return Path(out_dir) / PART_PATTERN.format(index)


def done_blocks(out_dir: str | Path) -> set[int]:
    """Indices of blocks whose part file is complete (temporary files never count)."""
    out = Path(out_dir)
    if not out.is_dir():
        return set()
    return {int(p.stem.split("-")[1]) for p in out.glob("part-*.parquet")}


def analysis_rows(ids: list[str], analyses: list[Any]) -> dict[str, list]:
    """Columns of one output part; nested results are JSON strings so any Parquet reader can read them."""
    cols: dict[str, list] = {k: [] for k in (
        "id", "clean_text", "sentiment", "sentiment_scores", "topics", "abstained", "model")}
    for rid, a in zip(ids, analyses, strict=True):
        d = a.to_dict()
        cols["id"].append(rid)
        cols["clean_text"].append(d["clean_text"])
        cols["sentiment"].append(d["sentiment"]["label"])
        cols["sentiment_scores"].append(json.dumps(d["sentiment"]["scores"], sort_keys=True))
        cols["topics"].append(json.dumps(d["topics"], ensure_ascii=False))
        cols["abstained"].append(bool(d["abstained"]))
        cols["model"].append(d["model"])
    return cols


def write_part(out_dir: str | Path, block: Block, analyzer: Any) -> int:
    """Analyse one block and write its part atomically; returns the number of rows written."""
    return process_block(block, analyzer, out_dir, None)["rows"]


class _Reuse:
    """Hands ingestion the analyses already made for the Parquet part, so no text is analysed twice."""

    def __init__(self, analyzer: Any, texts: list[str], analyses: list[Any]) -> None:
        self._analyzer = analyzer
        self._known = dict(zip(texts, analyses, strict=True))
        self.version = getattr(analyzer, "version", None)

    def analyze(self, texts: list[str]) -> list[Any]:
        missing = [t for t in texts if t not in self._known]
        if missing:
            self._known.update(zip(missing, self._analyzer.analyze(missing), strict=True))
        return [self._known[t] for t in texts]


class BlockStore:
    """Stores blocks into the database through the API's ingestion (see the module doc)."""

    def __init__(self, settings: Any) -> None:
        from store.db import make_engine, make_sessionmaker

        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.factory = make_sessionmaker(self.engine)

    def store(self, block: Block, analyzer: Any, analyses: list[Any] | None = None) -> dict[str, int]:
        from api.ingest import RawRow, ingest

        rows = [RawRow(i, {"text": text, "external_id": rid})
                for i, (rid, text) in enumerate(zip(block.ids, block.texts, strict=True))]
        if analyses is not None:
            analyzer = _Reuse(analyzer, block.texts, analyses)
        with self.factory() as session:
            # partial: a blank or over-long row is reported, it does not hold back the rest of the block
            out = ingest(session, rows, analyzer, self.settings, None, partial=True)
        return {"created": len(out.created), "existing": len(out.existing),
                "failed": len({e["row"] for e in out.errors})}

    def close(self) -> None:
        self.engine.dispose()


def store_settings(database_url: str | None = None) -> Any:
    """The service settings, with ``database_url`` overriding the configured database; migrated."""
    from api.settings import get_settings
    from store.migrate import upgrade

    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    upgrade(settings.database_url)
    return settings


def process_block(block: Block, analyzer: Any, out_dir: str | Path | None, store: BlockStore | None) -> dict[str, int]:
    """One block: its Parquet part and/or its database rows. Counts for the run's summary."""
    counts = {"rows": len(block.ids)}
    analyses = None
    if out_dir is not None:
        pa = _pyarrow()
        analyses = analyzer.analyze(block.texts)
        final = part_path(out_dir, block.index)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            pa.parquet.write_table(pa.table(analysis_rows(block.ids, analyses)), tmp)
            # the database goes first: a part on disk then means "this block is completely done"
            if store is not None:
                counts |= store.store(block, analyzer, analyses)
            os.replace(tmp, final)  # atomic: a killed run leaves either the whole part or none
        finally:
            tmp.unlink(missing_ok=True)
    elif store is not None:
        counts |= store.store(block, analyzer)
    return counts


def read_output(out_dir: str | Path):
    """All parts of an output directory as one pyarrow Table, in block order."""
    pa = _pyarrow()
    parts = sorted(Path(out_dir).glob("part-*.parquet"))
    if not parts:
        raise BazkhordError("batch.output_empty", f"no output parts in {out_dir}", {"dir": str(out_dir)})
    return pa.concat_tables([pa.parquet.read_table(p) for p in parts])


def resolve_model(model: str | None, database_url: str | None = None, active: bool = False) -> str | None:
    """``--model`` as an artifact directory (None = the configured/bundled model).

    ``model`` may be a directory or a registered version (looked up in ``database_url``, default the
    configured database). With ``active`` and no ``model``, the registry's active version is used, as
    the API would: rows stored into the database carry the model the service serves.
    """
    if model is not None and Path(model).is_dir():
        return model
    if model is None and not active:
        return None
    from store.db import make_engine, make_sessionmaker
    from store.registry import active_version, get_version

    if database_url is None:
        from api.settings import get_settings

        database_url = get_settings().database_url
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if model is not None:
                return get_version(session, model).path
            row = active_version(session)
            return row.path if row is not None and Path(row.path).is_dir() else None
    finally:
        engine.dispose()


def load_batch_analyzer(model: str | None, database_url: str | None = None, active: bool = False):
    """The analyser for ``--model`` (see ``resolve_model``)."""
    from models.analyzer import Analyzer
    from models.heap import freeze_heap

    analyzer = Analyzer.load(resolve_model(model, database_url, active))
    freeze_heap()  # a batch process lives for the whole file: keep the model out of the GC's walks
    return analyzer


def analyze_file(
    input_path: str | Path,
    out_dir: str | Path | None,
    analyzer: Any,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool = True,
    store: BlockStore | None = None,
) -> dict:
    """Single-process run into ``out_dir`` (Parquet) and/or ``store`` (the database); resumable. Counts."""
    if out_dir is None and store is None:
        raise BazkhordError("batch.no_destination", "Give --output, --store or both.", {})
    done: set[int] = set()
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        done = done_blocks(out_dir)
    totals = {"rows_written": 0, "rows_skipped": 0}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="rows", desc="analyse")
    for block in iter_blocks(input_path, block_size):
        if block.index in done:
            totals["rows_skipped"] += len(block.ids)
        else:
            counts = process_block(block, analyzer, out_dir, store)
            totals["rows_written"] += counts.pop("rows")
            for key, n in counts.items():
                totals[f"rows_{key}"] = totals.get(f"rows_{key}", 0) + n
        if bar is not None:
            bar.update(len(block.ids))
    if bar is not None:
        bar.close()
    return summary(totals, out_dir, store is not None)


def summary(totals: dict[str, int], out_dir: str | Path | None, stored: bool) -> dict:
    """The run's JSON result: rows analysed now / skipped (finished parts), and what the database got."""
    out: dict[str, Any] = dict(totals)
    out["output"] = str(out_dir) if out_dir is not None else None
    counts = {k: out.pop(f"rows_{k}", 0) for k in ("created", "existing", "failed")}
    if stored:  # created now, already there (a resumed or repeated run), invalid rows
        out["stored"] = counts
    return out
