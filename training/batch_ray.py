"""Archive-scale analysis on Ray Data: the blocks of training/batch.py spread over an actor pool.

Each actor loads the analyser once (loading per batch would dominate the cost) and writes whole
blocks with the same atomic writer as the single-process path, so the output is identical row for
row and a restarted run skips the parts already written. Without ``address`` a local Ray is
started; with one, the run joins that cluster (every node needs bazkhord installed and the model
directory reachable at the same path, or a version that is in the shared registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlp.errors import BazkhordError
from training.batch import (
    DEFAULT_BLOCK_SIZE,
    Block,
    done_blocks,
    iter_blocks,
    load_batch_analyzer,
    write_part,
)


def import_ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BazkhordError(
            "batch.ray_missing",
            "Ray is not installed: pip install 'bazkhord[ray]' (or run without --ray-address/--workers).",
            {"extra": "ray"},
        ) from exc
    return ray


class BlockWriter:
    """Ray actor: holds one analyser and writes every block it is given."""

    def __init__(self, model: str | None, out_dir: str) -> None:
        self.analyzer = load_batch_analyzer(model)
        self.out_dir = out_dir

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows = []
        for index, ids, texts in zip(batch["index"], batch["ids"], batch["texts"], strict=True):
            rows.append(write_part(self.out_dir, Block(int(index), list(ids), list(texts)), self.analyzer))
        return {"index": [int(i) for i in batch["index"]], "rows": rows}


def ensure_ray(address: str | None = None, num_cpus: int | None = None, object_store_memory: int | None = None):
    ray = import_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs.update(num_cpus=num_cpus, object_store_memory=object_store_memory)
        ray.init(**kwargs)
    return ray


def analyze_file_ray(
    input_path: str | Path,
    out_dir: str | Path,
    model: str | None = None,
    workers: int = 2,
    address: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict:
    """Ray run; resumes from the parts already in ``out_dir``. Returns counts."""
    if workers < 1:
        raise BazkhordError("batch.workers", "--workers must be at least 1.", {"workers": workers})
    ray = ensure_ray(address)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    done = done_blocks(out)
    todo: list[dict] = []
    skipped = 0
    # Blocks are cut on the driver so the split (and therefore the output) matches the single-process path.
    for block in iter_blocks(input_path, block_size):
        if block.index in done:
            skipped += len(block.ids)
        else:
            todo.append({"index": block.index, "ids": block.ids, "texts": block.texts})
    written = 0
    if todo:
        ds = ray.data.from_items(todo, override_num_blocks=min(len(todo), workers * 4))
        result = ds.map_batches(
            BlockWriter,
            fn_constructor_args=(model, str(out)),
            batch_size=1,
            concurrency=workers,
            num_cpus=1,
            batch_format="numpy",
        )
        written = sum(int(r["rows"]) for r in result.iter_rows())
    return {"rows_written": written, "rows_skipped": skipped, "output": str(out)}
