"""Archive-scale analysis on Ray Data: the blocks of training/batch.py spread over an actor pool.

Each actor loads the analyser once (loading per batch would dominate the cost) and writes whole
blocks with the same atomic writer as the single-process path, so the output is identical row for
row and a restarted run skips the parts already written. Without ``address`` a local Ray is
started; with one, the run joins that cluster (every node needs bazkhord installed and the model
directory reachable at the same path, or a version that is in the shared registry). With ``store``
(``--store``) each actor also stores its blocks through the API's ingestion into the database of the
settings it is given, so on a cluster that database must be reachable from every node (PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nlp.errors import BazkhordError
from training.batch import (
    DEFAULT_BLOCK_SIZE,
    Block,
    BlockStore,
    done_blocks,
    iter_blocks,
    load_batch_analyzer,
    process_block,
    summary,
)

COUNTS = ("created", "existing", "failed")


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
    """Ray actor: holds one analyser (and database engine) and processes every block it is given."""

    def __init__(self, model: str | None, out_dir: str | None, settings: Any = None) -> None:
        self.analyzer = load_batch_analyzer(model)
        self.out_dir = out_dir
        self.store = BlockStore(settings) if settings is not None else None

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {"index": [], "rows": [], **{k: [] for k in COUNTS}}
        for index, ids, texts in zip(batch["index"], batch["ids"], batch["texts"], strict=True):
            counts = process_block(Block(int(index), list(ids), list(texts)), self.analyzer, self.out_dir, self.store)
            out["index"].append(int(index))
            for key in ("rows", *COUNTS):
                out[key].append(counts.get(key, 0))
        return out


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
    out_dir: str | Path | None,
    model: str | None = None,
    workers: int = 2,
    address: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    settings: Any = None,
    progress: bool = False,
) -> dict:
    """Ray run into ``out_dir`` and/or the database of ``settings`` (``--store``); resumable. Counts.

    ``model`` must be resolvable on every node: an artifact directory at the same path, or None.
    """
    if workers < 1:
        raise BazkhordError("batch.workers", "--workers must be at least 1.", {"workers": workers})
    if out_dir is None and settings is None:
        raise BazkhordError("batch.no_destination", "Give --output, --store or both.", {})
    ray = ensure_ray(address)
    out = None
    done: set[int] = set()
    if out_dir is not None:
        out = Path(out_dir).resolve()
        out.mkdir(parents=True, exist_ok=True)
        done = done_blocks(out)
    todo: list[dict] = []
    totals = {"rows_written": 0, "rows_skipped": 0} | {f"rows_{k}": 0 for k in COUNTS}
    # Blocks are cut on the driver so the split (and therefore the output) matches the single-process path.
    for block in iter_blocks(input_path, block_size):
        if block.index in done:
            totals["rows_skipped"] += len(block.ids)
        else:
            todo.append({"index": block.index, "ids": block.ids, "texts": block.texts})
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(t["ids"]) for t in todo), unit="rows", desc=f"analyse (ray, {workers} workers)")
    if todo:
        ds = ray.data.from_items(todo, override_num_blocks=min(len(todo), workers * 4))
        result = ds.map_batches(
            BlockWriter,
            fn_constructor_args=(model, None if out is None else str(out), settings),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),  # a fixed pool: one analyser per worker
            num_cpus=1,
            batch_format="numpy",
        )
        for row in result.iter_rows():  # streamed as blocks finish: progress, not one wait at the end
            totals["rows_written"] += int(row["rows"])
            for k in COUNTS:
                totals[f"rows_{k}"] += int(row[k])
            if bar is not None:
                bar.update(int(row["rows"]))
    if bar is not None:
        bar.close()
    return summary(totals, out, settings is not None)
