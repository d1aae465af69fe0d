"""The HTML evaluation report and `bazkhord evaluate` (fake analyser; the bundled model end to end)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import REPO
from tests.test_training_evaluate import topic_fixture
from training.data import write_jsonl
from training.evaluate import run_evaluation
from training.report import build_context, confusion_table, highlight, reliability_svg, render_report


def cli_args(*args: str) -> list[str]:
    # typer collapses an app with a single command into that command; the real app is a group
    is_group = hasattr(typer.main.get_command(app), "commands")
    return ["evaluate", *args] if is_group else list(args)


# ---------------------------------------------------------------- report pieces


def test_confusion_table_and_highlight() -> None:
    tbl = confusion_table(["neg", "neg", "pos"], ["neg", "pos", "pos"], ["neg", "pos"])
    assert [[c["count"] for c in r["cells"]] for r in tbl["rows"]] == [[1, 1], [0, 1]]
    assert tbl["rows"][0]["cells"][0]["share"] == 0.5 and tbl["rows"][0]["total"] == 2
    assert str(highlight("پیک <دیر> رسید", ["<دیر>"])) == "پیک <mark>&lt;دیر&gt;</mark> رسید"
    assert str(highlight("a & b", [])) == "a &amp; b"


def test_reliability_svg_has_one_bar_per_non_empty_bin() -> None:
    svg = str(reliability_svg([0.95, 0.92, 0.55, 0.15], [True, False, True, False]))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(re.findall(r'fill="#2563eb"', svg)) == 3  # bins 0.9, 0.5, 0.1
    assert "n=2, accuracy 0.500" in svg


def test_report_is_self_contained_rtl_masked_and_escaped() -> None:
    fake, records = topic_fixture()
    records[0].sentiment = "pos"  # make a confident sentiment error to list
    fake.table["<script>alert(1)</script>"] = ({"neg": 0.9, "neu": 0.05, "pos": 0.05}, {})
    records.append(type(records[0])("6", "<script>alert(1)</script>", "pos", {}))
    ev = run_evaluation(fake, records)
    html = render_report(ev, n_boot=200)
    assert '<html lang="fa" dir="rtl">' in html
    assert "<script" not in html and "&lt;script&gt;" in html  # customer text is escaped, never run
    assert not re.search(r'(src|href)=|<link|@import|url\(', html)  # nothing fetched from anywhere
    assert "09121234567" not in html and "[PHONE]" in html  # only the masked clean_text
    assert "<svg" in html and "reliability" in html
    assert "<mark>دیر رسید</mark>" in html  # evidence shown and highlighted in the text
    assert html.count("<table>") >= 5  # per label, confusion, topics, polarity confusion, errors
    ctx = build_context(ev, n_boot=200)
    lo, hi = ctx["sentiment"]["ci"]["accuracy"]
    assert lo <= ctx["summary"]["sentiment"]["accuracy"] <= hi
    assert set(ctx["topics"]["ci"]["per_topic"]) == set(ctx["summary"]["topics"]["per_topic"])


# ---------------------------------------------------------------- CLI with a hand-written analyser


def test_cli_json_is_exactly_one_object_and_report_is_written(tmp_path: Path, monkeypatch) -> None:
    fake, records = topic_fixture()
    data = tmp_path / "gold.jsonl"
    write_jsonl(records, data)
    monkeypatch.setattr("api.cli.evaluation.load_analyzer", lambda path: fake)
    report = tmp_path / "r" / "report.html"
    result = CliRunner().invoke(app, cli_args("--data", str(data), "--json", "--report", str(report),
                                              "--bootstrap", "200"))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert out == run_evaluation(fake, records).summary()
    assert report.read_text(encoding="utf-8").startswith("<!doctype html>")

    table = CliRunner().invoke(app, cli_args("--data", str(data)))
    assert table.exit_code == 0, table.output
    assert "sentiment (pos vs neg scores only): n=4" in table.stdout
    assert "topics: n=4" in table.stdout and "delivery" in table.stdout and "topic polarity: n=3" in table.stdout


def test_cli_csv_with_mapping_and_skip_invalid(tmp_path: Path, monkeypatch) -> None:
    fake, _ = topic_fixture()
    monkeypatch.setattr("api.cli.evaluation.load_analyzer", lambda path: fake)
    data = tmp_path / "gold.csv"
    data.write_text("comment,label\nپیک دیر رسید,neg\nخوب بود,pos\nخوب بود,great\n", encoding="utf-8")
    result = CliRunner().invoke(app, cli_args("--data", str(data), "--map", "text=comment", "--map",
                                              "sentiment=label", "--skip-invalid", "--json"))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 2 and out["sentiment"]["accuracy"] == 1.0
    assert "skipped 1 invalid row(s)" in result.stderr


def test_cli_bad_file_prints_the_error_code_and_exits_1(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "خوب", "sentiment": "pos"}\n{"text": "", "sentiment": "pos"}\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "evaluate", "--data", str(data), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert "error[data.invalid_rows]: 1 invalid row(s) in bad.jsonl; first: line 2, field text" in proc.stderr


# ---------------------------------------------------------------- the bundled model, end to end


def test_cli_bundled_model_on_snappfood_slices(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from api.cli import evaluation
    from models.analyzer import BUNDLED_DIR

    assert (BUNDLED_DIR / "model.json").is_file(), "the bundled model is part of the repo"
    monkeypatch.delenv("BAZKHORD_MODEL_PATH", raising=False)
    rows = []
    for name, k in (("snappfood/dev.jsonl", 300), ("snappfood-topics/train.jsonl", 60)):
        with (data_dir / name).open(encoding="utf-8") as fh:
            rows += [next(fh) for _ in range(k)]
    binary = tmp_path / "dev.jsonl"
    binary.write_text("".join(rows[:300]), encoding="utf-8")
    topics = tmp_path / "topics.jsonl"
    topics.write_text("".join(rows[300:]), encoding="utf-8")
    report = tmp_path / "report.html"
    # the real loader with no --model (the bundled model), loaded once for both runs
    loaded: list = []
    real_load = evaluation.load_analyzer

    def load_once(path):
        assert path is None
        if not loaded:
            loaded.append(real_load(path))
        return loaded[0]

    monkeypatch.setattr(evaluation, "load_analyzer", load_once)
    result = CliRunner().invoke(app, cli_args("--data", str(binary), "--data", str(topics), "--json",
                                              "--report", str(report), "--bootstrap", "200"))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 360
    s = out["sentiment"]
    # the topic slice carries neu labels, so the combined data is scored 3-class
    assert s["labels"] == ["neg", "neu", "pos"] and s["n"] == 360
    assert s["accuracy"] > 0.6 and 0 <= s["ece"] <= 0.3
    assert out["topics"]["n"] == 60 and out["topics"]["micro_f1"] > 0.5
    assert out["topic_polarity"]["n"] > 0
    html = report.read_text(encoding="utf-8")
    assert 'dir="rtl"' in html and "<svg" in html
    # binary data alone: scored by pos vs neg, well above chance
    result = CliRunner().invoke(app, cli_args("--data", str(binary), "--json"))
    assert result.exit_code == 0, result.output
    b = json.loads(result.stdout)["sentiment"]
    assert b["labels"] == ["neg", "pos"] and b["macro_f1"] > 0.75


def test_no_customer_text_in_cli_errors(tmp_path: Path) -> None:
    secret = "کارت ۶۰۳۷۹۹۷۵۱۲۳۴۵۶۷۸"
    data = tmp_path / "e.jsonl"
    data.write_text(json.dumps({"text": secret, "sentiment": "yes"}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, cli_args("--data", str(data), "--json"))
    assert result.exit_code != 0
    assert secret not in result.output and secret not in str(result.exception)
