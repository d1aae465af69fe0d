"""Archive-scale analysis on one machine: a file of texts in, one Parquet part per block out.

The input (JSONL, CSV or Parquet with at least ``id`` and ``text``) is cut into fixed blocks of
``block_size`` rows. Each block's result is written to ``part-NNNNNN.parquet`` through a temporary
file and an atomic rename, so a finished part is the checkpoint: a restarted run skips blocks whose
part exists and never writes a row twice. The Ray path (training/batch_ray.py) uses the same blocks
and the same writer, so both paths give identical output.
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
    pa = _pyarrow()
    analyses = analyzer.analyze(block.texts)
    table = pa.table(analysis_rows(block.ids, analyses))
    final = part_path(out_dir, block.index)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    pa.parquet.write_table(table, tmp)
    os.replace(tmp, final)  # atomic: a killed run leaves either the whole part or none
    return len(block.ids)


def read_output(out_dir: str | Path):
    """All parts of an output directory as one pyarrow Table, in block order."""
    pa = _pyarrow()
    parts = sorted(Path(out_dir).glob("part-*.parquet"))
    if not parts:
        raise BazkhordError("batch.output_empty", f"no output parts in {out_dir}", {"dir": str(out_dir)})
    return pa.concat_tables([pa.parquet.read_table(p) for p in parts])


def load_batch_analyzer(model: str | None):
    """``--model``: an artifact directory, a registered version (looked up in the database), or None."""
    from models.analyzer import Analyzer

    if model is None or Path(model).is_dir():
        return Analyzer.load(model)
    from api.settings import get_settings
    from store.db import make_engine, make_sessionmaker
    from store.registry import get_version

    engine = make_engine(get_settings().database_url)
    try:
        with make_sessionmaker(engine)() as session:
            path = get_version(session, model).path
    finally:
        engine.dispose()
    return Analyzer.load(path)


def analyze_file(
    input_path: str | Path,
    out_dir: str | Path,
    analyzer: Any,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool = True,
) -> dict:
    """Single-process run; resumes from the parts already in ``out_dir``. Returns counts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = done_blocks(out)
    written = skipped = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="rows", desc="analyse")
    for block in iter_blocks(input_path, block_size):
        if block.index in done:
            skipped += len(block.ids)
        else:
            written += write_part(out, block, analyzer)
        if bar is not None:
            bar.update(len(block.ids))
    if bar is not None:
        bar.close()
    return {"rows_written": written, "rows_skipped": skipped, "output": str(out)}
