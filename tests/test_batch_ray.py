"""Ray Data batch analysis on a local Ray: same rows as the single-process path, resume, clear errors."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from models.analyzer import Analyzer
from nlp.errors import BazkhordError
from tests.conftest import require
from training.batch import analyze_file, iter_rows, read_output

try:
    import ray
except ImportError:  # the ray extra is optional outside CI
    ray = None


@pytest.fixture(scope="module")
def local_ray():
    require(ray is not None, "ray is not installed (pip install 'bazkhord[ray]')")
    if not ray.is_initialized():
        ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sample(data_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ray") / "sample.jsonl"
    with open(data_dir / "snappfood" / "dev.jsonl", encoding="utf-8") as src:
        out.write_text("".join(line for _, line in zip(range(3000), src, strict=False)), encoding="utf-8")
    return out


def test_ray_output_equals_single_process_and_resumes(local_ray, sample: Path, tmp_path: Path) -> None:
    from training.batch_ray import analyze_file_ray

    analyze_file(sample, tmp_path / "single", Analyzer.load(), block_size=500, progress=False)
    result = analyze_file_ray(sample, tmp_path / "ray", workers=2, block_size=500)
    assert result["rows_written"] == 3000 and result["rows_skipped"] == 0
    single, distributed = read_output(tmp_path / "single"), read_output(tmp_path / "ray")
    assert distributed.equals(single)  # row for row, column for column
    # A run that died after some parts: the restart writes only the missing ones, no duplicates.
    for index in (1, 4):
        (tmp_path / "ray" / f"part-{index:06d}.parquet").unlink()
    again = analyze_file_ray(sample, tmp_path / "ray", workers=1, block_size=500)
    assert again["rows_written"] == 1000 and again["rows_skipped"] == 2000
    ids = read_output(tmp_path / "ray").column("id").to_pylist()
    assert ids == [rid for rid, _ in iter_rows(sample)] and len(set(ids)) == 3000
    assert read_output(tmp_path / "ray").equals(single)


def test_missing_ray_is_a_clear_error(monkeypatch) -> None:
    from training import batch_ray

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(BazkhordError) as err:
        batch_ray.import_ray()
    assert err.value.code == "batch.ray_missing" and "bazkhord[ray]" in err.value.message


def test_workers_must_be_positive(tmp_path: Path) -> None:
    from training.batch_ray import analyze_file_ray

    with pytest.raises(BazkhordError) as err:
        analyze_file_ray(tmp_path / "x.jsonl", tmp_path / "out", workers=0)
    assert err.value.code == "batch.workers"
