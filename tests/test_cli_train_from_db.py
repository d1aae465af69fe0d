"""`bazkhord train --from-db` is the same verb as `bazkhord retrain` (issue 6's CLI verbs)."""

from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings


def test_train_without_data_names_the_missing_arguments():
    result = CliRunner().invoke(app, ["train", "--out", "x"])
    assert result.exit_code == 1
    assert isinstance(result.exception, Exception) and "train.args_missing" in str(result.exception)


def test_train_from_db_refuses_an_empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("BAZKHORD_DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
    monkeypatch.setenv("BAZKHORD_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke
        assert run(app, ["db", "upgrade"]).exit_code == 0
        result = run(app, ["train", "--from-db"])
        assert result.exit_code == 1
        # no gold labels yet: the retrain path refuses before training anything
        assert "train.not_enough_labels" in str(result.exception)
        assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
    finally:
        get_settings.cache_clear()
