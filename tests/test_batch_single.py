"""Single-process batch analysis: blocks, atomic parts, resume, formats, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models.analyzer import Analyzer
from nlp.errors import BazkhordError
from tests.conftest import dev_sample
from training.batch import analyze_file, done_blocks, iter_blocks, iter_rows, read_output

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer.load()


@pytest.fixture(scope="module")
def sample(data_dir: Path, tmp_path_factory) -> Path:
    return dev_sample(data_dir, tmp_path_factory.mktemp("batch") / "sample.jsonl", 600)


def test_blocks_cover_every_row_in_order(sample: Path) -> None:
    blocks = list(iter_blocks(sample, 250))
    assert [len(b.ids) for b in blocks] == [250, 250, 100]
    assert [b.index for b in blocks] == [0, 1, 2]
    assert [i for b in blocks for i in b.ids] == [rid for rid, _ in iter_rows(sample)]


def test_output_matches_analyzer_and_resume_skips_done_parts(sample: Path, analyzer: Analyzer, tmp_path: Path) -> None:
    first = analyze_file(sample, tmp_path, analyzer, block_size=250, progress=False)
    assert first == {"rows_written": 600, "rows_skipped": 0, "output": str(tmp_path)}
    table = read_output(tmp_path)
    rows = list(iter_rows(sample))
    assert table.column("id").to_pylist() == [rid for rid, _ in rows]
    expected = analyzer.analyze([rows[5][1]])[0]
    assert table.column("sentiment")[5].as_py() == expected.sentiment.label
    assert json.loads(table.column("topics")[5].as_py()) == [t.to_dict() for t in expected.topics]
    (tmp_path / "part-000001.parquet").unlink()  # as if the run died during block 1
    second = analyze_file(sample, tmp_path, analyzer, block_size=250, progress=False)
    assert second["rows_written"] == 250 and second["rows_skipped"] == 350
    assert read_output(tmp_path).equals(table)


def test_parquet_and_csv_inputs(sample: Path, analyzer: Analyzer, tmp_path: Path) -> None:
    rows = list(iter_rows(sample))[:40]
    pq.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}), tmp_path / "in.parquet")
    csv_lines = ["id,text"] + [f'{rid},"{text.replace(chr(34), chr(39))}"' for rid, text in rows]
    (tmp_path / "in.csv").write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    assert [r[0] for r in iter_rows(tmp_path / "in.parquet")] == [r[0] for r in rows]
    assert [r[0] for r in iter_rows(tmp_path / "in.csv")] == [r[0] for r in rows]
    analyze_file(tmp_path / "in.parquet", tmp_path / "out", analyzer, block_size=16, progress=False)
    assert done_blocks(tmp_path / "out") == {0, 1, 2}


def test_missing_input_and_bad_columns(tmp_path: Path) -> None:
    with pytest.raises(BazkhordError) as err:
        list(iter_rows(tmp_path / "nope.jsonl"))
    assert err.value.code == "data.file_not_found"
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(BazkhordError) as err:
        list(iter_rows(tmp_path / "bad.parquet"))
    assert err.value.code == "batch.columns_missing"


def test_killed_run_restarts_without_duplicates(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from api.cli import main; main()", "batch", "analyze",
           "--input", str(sample), "--output", str(out), "--block-size", "50"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(done_blocks(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(done_blocks(out)) < 12, "the run must be killed midway"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows_skipped"] >= 100 and result["rows_written"] + result["rows_skipped"] == 600
    ids = read_output(out).column("id").to_pylist()
    assert ids == [rid for rid, _ in iter_rows(sample)] and len(set(ids)) == 600
