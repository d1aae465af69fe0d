"""`bazkhord analyze` and `bazkhord train` through the typer app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli import app
from nlp.errors import BazkhordError

runner = CliRunner()
KEYS = {"clean_text", "pii", "sentiment", "topics", "abstained", "model"}


def _check_analysis(obj: dict) -> None:
    assert set(obj) == KEYS
    assert obj["sentiment"]["label"] in ("neg", "neu", "pos")
    assert set(obj["sentiment"]["scores"]) == {"neg", "neu", "pos"}
    assert abs(sum(obj["sentiment"]["scores"].values()) - 1) < 1e-3
    assert isinstance(obj["abstained"], bool) and obj["abstained"] == (not obj["topics"])
    for t in obj["topics"]:
        assert set(t) == {"topic", "label_fa", "score", "sentiment", "evidence"}
        assert t["sentiment"] in ("neg", "neu", "pos") and 0 <= t["score"] <= 1


def test_analyze_text_json_with_bundled_model():
    res = runner.invoke(app, ["analyze", "پیک خیلی دیر رسید و غذا سرد بود، شماره من ۰۹۱۲۳۴۵۶۷۸۹ است", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip().splitlines()[-1])
    _check_analysis(obj)
    assert "۰۹۱۲۳۴۵۶۷۸۹" not in obj["clean_text"] and "09123456789" not in obj["clean_text"]
    assert obj["sentiment"]["label"] == "neg"
    topics = {t["topic"]: t for t in obj["topics"]}
    assert "delivery" in topics and topics["delivery"]["sentiment"] == "neg"
    assert topics["delivery"]["label_fa"] == "ارسال و پیک"
    assert topics["delivery"]["evidence"]


def test_analyze_file_one_json_per_line(tmp_path):
    f = tmp_path / "texts.txt"
    f.write_text("غذا خیلی خوشمزه بود\nعالی بود ممنون\nقیمتش خیلی گرون بود\n", encoding="utf-8")
    res = runner.invoke(app, ["analyze", "--file", str(f), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.strip().splitlines()]
    assert len(lines) == 3
    for obj in lines:
        _check_analysis(obj)
    assert lines[0]["sentiment"]["label"] == "pos"
    assert "price" in {t["topic"] for t in lines[2]["topics"]}


def test_analyze_needs_text_or_file():
    res = runner.invoke(app, ["analyze"])
    assert isinstance(res.exception, BazkhordError) and res.exception.code == "cli.usage"


def test_train_cli_writes_a_loadable_model(tmp_path, data_dir):
    rows = []
    for path, n in ((data_dir / "snappfood-topics" / "train.jsonl", 150), (data_dir / "snappfood" / "train.jsonl", 150)):
        with path.open(encoding="utf-8") as fh:
            rows += [next(fh) for _ in range(n)]
    data = tmp_path / "small.jsonl"
    data.write_text("".join(rows), encoding="utf-8")
    out = tmp_path / "model"
    res = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--seed", "1"])
    assert res.exit_code == 0, res.output
    card = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["counts"]["records"] == 300 and card["training"]["seed"] == 1
    res = runner.invoke(app, ["analyze", "غذا سرد رسید", "--model", str(out), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip().splitlines()[-1])
    _check_analysis(obj)
    assert obj["model"] == card["version"]
