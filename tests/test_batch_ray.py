"""Ray Data batch analysis on a local Ray: same rows as the single-process path, resume (also after the
driver was SIGKILLed), --store through the ingestion, clear errors."""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.analyzer import Analyzer
from nlp.errors import BazkhordError
from tests.conftest import dev_sample, require
from training.batch import analyze_file, done_blocks, iter_rows, read_output

ROOT = Path(__file__).resolve().parents[1]

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
    return dev_sample(data_dir, tmp_path_factory.mktemp("ray") / "sample.jsonl", 3000)


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


def test_ray_store_goes_through_ingestion_once(local_ray, sample: Path, tmp_path: Path) -> None:
    """Actors store their blocks into PostgreSQL (what a cluster shares; SQLite is covered single-process)."""
    from sqlalchemy import func, select

    from store.db import make_engine, make_sessionmaker
    from store.schema import Feedback
    from tests.apiutil import database_urls
    from training.batch import store_settings
    from training.batch_ray import analyze_file_ray

    gen = database_urls("postgres", tmp_path)
    url = next(gen)
    try:
        settings = store_settings(url)
        result = analyze_file_ray(sample, None, workers=2, block_size=500, settings=settings)
        assert result["stored"] == {"created": 3000, "existing": 0, "failed": 0}
        again = analyze_file_ray(sample, tmp_path / "parts", workers=2, block_size=500, settings=settings)
        assert again["stored"] == {"created": 0, "existing": 3000, "failed": 0} and again["rows_written"] == 3000
        engine = make_engine(url)
        with make_sessionmaker(engine)() as s:
            ids = list(s.scalars(select(Feedback.external_id)))
            fb = s.scalar(select(Feedback).where(Feedback.external_id == ids[0]))
            assert s.scalar(select(func.count()).select_from(Feedback)) == 3000
        engine.dispose()
        assert sorted(ids) == sorted(rid for rid, _ in iter_rows(sample))
        parts = read_output(tmp_path / "parts")
        row = parts.column("id").to_pylist().index(fb.external_id)
        assert fb.text == parts.column("clean_text")[row].as_py() and fb.sentiment == parts.column("sentiment")[row].as_py()
    finally:
        gen.close()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_killed_ray_driver_restarts_without_duplicates_or_gaps(local_ray, sample: Path, tmp_path: Path) -> None:
    from training.batch_ray import analyze_file_ray

    blocks = 30  # of 100 rows: the sample's 3000
    out = tmp_path / "ray"
    cmd = [sys.executable, "-c", "from api.cli import main; main()", "batch", "analyze", "--input", str(sample),
           "--output", str(out), "--workers", "2", "--block-size", "100", "--no-progress"]
    env = {**os.environ, "RAY_ADDRESS": ""}  # always a fresh local Ray, never someone else's cluster
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while len(done_blocks(out)) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its Ray workers are left to die on their own
        proc.wait()
        killed_at = len(done_blocks(out))
        assert 3 <= killed_at < blocks, f"the run must be killed midway ({killed_at} of {blocks} parts)"
    finally:
        _kill_group(proc.pid)  # whatever the killed driver's local Ray left behind
    result = analyze_file_ray(sample, out, workers=2, block_size=100)  # the restart, on this module's Ray
    assert result["rows_skipped"] >= 300 and result["rows_written"] + result["rows_skipped"] == 3000
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-{i:06d}.parquet" for i in range(blocks)]
    ids = read_output(out).column("id").to_pylist()
    assert ids == [rid for rid, _ in iter_rows(sample)] and len(set(ids)) == 3000
    analyze_file(sample, tmp_path / "single", Analyzer.load(), block_size=100, progress=False)
    assert read_output(out).equals(read_output(tmp_path / "single"))
