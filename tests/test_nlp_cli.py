"""`bazkhord normalize` / `bazkhord mask`: typer's CliRunner, plus one call of the installed script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from tests.conftest import require

runner = CliRunner()


def test_normalize_argument() -> None:
    result = runner.invoke(app, ["normalize", "كيفيت خیلیییی خوب بود ، قیمت 4.5"])
    assert result.exit_code == 0, result.output
    assert result.output == "کیفیت خیلی خوب بود، قیمت ۴.۵\n"


def test_normalize_json_and_digits() -> None:
    result = runner.invoke(app, ["normalize", "--json", "--digits", "en", "ساعت ١١:٣٠ رسيد 😍"])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.output)
    assert obj["text"] == "ساعت 11:30 رسید 😍"
    assert obj["tokens"] == ["ساعت", "11:30", "رسید", "😍"]
    assert obj["flags"]["emoji"] == 1


def test_normalize_with_mask() -> None:
    result = runner.invoke(app, ["normalize", "--mask", "--json", "شماره ام ۰۹۱۲۱۲۳۴۵۶۷"])
    obj = json.loads(result.output)
    assert obj["text"] == "شماره\u200cام [PHONE]"
    assert obj["pii"] == [{"type": "PHONE", "start": 9, "end": 20}]


def test_normalize_bad_digits_is_a_user_error() -> None:
    result = runner.invoke(app, ["normalize", "--digits", "xx", "سلام"])
    assert result.exit_code != 0


def test_mask_stdin_lines() -> None:
    stdin = "کارتم 6037997483378874 هست\nبدون داده شخصی\n"
    result = runner.invoke(app, ["mask"], input=stdin)
    assert result.exit_code == 0, result.output
    assert result.output == "کارتم [CARD] هست\nبدون داده شخصی\n"
    result = runner.invoke(app, ["mask", "-", "--json"], input=stdin)
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0] == {"text": "کارتم [CARD] هست", "pii": [{"type": "CARD", "start": 6, "end": 22}]}
    assert lines[1] == {"text": "بدون داده شخصی", "pii": []}


def test_installed_script() -> None:
    script = Path(sys.executable).with_name("bazkhord")
    found = str(script) if script.exists() else shutil.which("bazkhord")
    require(found is not None, "the bazkhord console script is not installed (pip install -e .)")
    proc = subprocess.run(
        [found, "mask", "--json"], input="ایمیل ali@gmail.com و ۰۹۱۲ ۱۲۳ ۴۵۶۷\n",
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["text"] == "ایمیل [EMAIL] و [PHONE]"
