"""`bazkhord batch analyze --store`: rows go through the API's ingestion; resumed runs add nothing twice.

On SQLite, and on PostgreSQL when BAZKHORD_TEST_POSTGRES_URL is set (required in CI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from models.analyzer import Analyzer
from store.db import make_engine, make_sessionmaker
from store.schema import Feedback, TopicMention
from tests.apiutil import database_urls
from tests.conftest import dev_sample
from training.batch import BlockStore, analyze_file, iter_rows, read_output, store_settings


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer.load()


@pytest.fixture(scope="module")
def sample(data_dir: Path, tmp_path_factory) -> Path:
    return dev_sample(data_dir, tmp_path_factory.mktemp("store") / "sample.jsonl", 300)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path: Path) -> Iterator[str]:
    yield from database_urls(request.param, tmp_path)


def _stored(url: str) -> dict[str, Feedback]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            return {fb.external_id: fb for fb in s.scalars(select(Feedback))}
    finally:
        engine.dispose()


def test_store_is_the_api_ingestion_and_resumes_without_duplicates(db: str, sample: Path, analyzer: Analyzer,
                                                                   tmp_path: Path) -> None:
    settings = store_settings(db)
    rows = list(iter_rows(sample))
    # A run that stopped after its first block: the input's first 100 rows are already stored.
    head = tmp_path / "head.jsonl"
    head.write_text("".join(sample.read_text(encoding="utf-8").splitlines(keepends=True)[:100]), encoding="utf-8")
    store = BlockStore(settings)
    try:
        first = analyze_file(head, None, analyzer, block_size=100, progress=False, store=store)
        assert first["stored"] == {"created": 100, "existing": 0, "failed": 0}
        result = analyze_file(sample, tmp_path / "parts", analyzer, block_size=100, progress=False, store=store)
        assert result["stored"] == {"created": 200, "existing": 100, "failed": 0}
        again = analyze_file(sample, None, analyzer, block_size=100, progress=False, store=store)
        assert again["stored"] == {"created": 0, "existing": 300, "failed": 0}
    finally:
        store.close()
    stored = _stored(db)
    assert sorted(stored) == sorted(rid for rid, _ in rows)  # every row once, keyed by the input id
    parts = read_output(tmp_path / "parts")  # Parquet and database agree, analysed once
    expected = analyzer.analyze([rows[7][1]])[0]
    fb = stored[rows[7][0]]
    assert fb.text == expected.clean_text and fb.model_version == analyzer.version
    assert fb.sentiment == expected.sentiment.label and fb.abstained == expected.abstained
    by_id = dict(zip(parts.column("id").to_pylist(), parts.column("clean_text").to_pylist(), strict=True))
    assert all(by_id[rid] == stored[rid].text for rid, _ in rows[100:])
    engine = make_engine(db)
    try:
        with make_sessionmaker(engine)() as s:
            mentions = s.scalar(select(func.count()).select_from(TopicMention))
    finally:
        engine.dispose()
    assert mentions == sum(len(a.topics) for a in analyzer.analyze([t for _, t in rows]))


def test_cli_store_reports_progress_counts_and_conflicts(sample: Path, tmp_path: Path) -> None:
    from api.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["batch", "analyze", "--input", str(sample), "--store", "--database-url", url,
            "--block-size", "128", "--no-progress"]
    runner = CliRunner()
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["stored"] == {"created": 300, "existing": 0, "failed": 0}
    # The same ids with a changed text: refused per row as the API refuses it (409 conflict), stored once.
    changed = tmp_path / "changed.jsonl"
    lines = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    lines[3]["text"] += " (ویرایش)"
    changed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    res = runner.invoke(app, [*args[:3], str(changed), *args[4:]])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["stored"] == {"created": 0, "existing": 299, "failed": 1}
    assert len(_stored(url)) == 300
    res = runner.invoke(app, ["batch", "analyze", "--input", str(sample)])
    assert res.exit_code != 0 and "batch.no_destination" in repr(res.exception)
