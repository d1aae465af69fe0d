"""Hostile input: arbitrary Unicode through nlp, and uploads that are huge, truncated, of the wrong
type or decompression bombs; spreadsheet formula injection neutralised in exports."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indicators.report import safe_cell
from tests.apiutil import headers, load_test_analyzer, make_client

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
CONTROL = "".join(chr(c) for c in (*range(0, 32), 127, *range(0x80, 0xA0)))
PERSIAN = "سلامغذاسردبودپیکدیررسیدكيۀءئ۰۱۲۳۴۵۶۷۸۹"
nasty = st.text(alphabet=st.sampled_from(BIDI + ZERO_WIDTH + CONTROL + PERSIAN + " \n\t"), max_size=300)


@pytest.fixture(scope="module")
def pipeline():
    from nlp import get_pipeline

    return get_pipeline()


def _check_clean(raw: str, clean) -> None:
    assert isinstance(clean.text, str)
    for span in clean.pii:
        assert 0 <= span.start <= span.end <= len(raw)
    assert all(isinstance(t, str) and t for t in clean.tokens)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_nlp_survives_arbitrary_unicode(pipeline, raw):
    _check_clean(raw, pipeline.process(raw))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nasty)
def test_nlp_survives_control_bidi_and_zero_width_runs(pipeline, raw):
    clean = pipeline.process(raw)
    _check_clean(raw, clean)
    # bidi overrides are invisible spoofing tools: none survives into a stored token
    assert not any(ch in tok for tok in clean.tokens for ch in "\u202a\u202b\u202c\u202d\u202e")


def test_nlp_very_long_text_is_linear_enough(pipeline):
    unit = "غذا سرد بود و پیک دیر رسید 09121234567 " + "\u200c" * 3
    short, long_ = unit * 50, unit * 2000  # ~100k characters
    t0 = time.perf_counter()
    pipeline.process(short)
    t_short = time.perf_counter() - t0
    t0 = time.perf_counter()
    clean = pipeline.process(long_)
    t_long = time.perf_counter() - t0
    _check_clean(long_, clean)
    assert "09121234567" not in clean.text  # masking still works at length
    assert t_long < max(20.0, t_short * 400)  # 40× the text: no quadratic blow-up


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+98 912", "'+98 912"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("غذا =سرد", "غذا =سرد"),
    ("", ""),
    (-3.5, -3.5),
    (None, None),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


# ---- uploads ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'hostile.db'}"
    client, create_key = make_client(url, load_test_analyzer(), max_upload_bytes=3 * 1024 * 1024)
    return client, create_key("ingest"), create_key("manager")


def _upload(client, key, data: bytes, name: str):
    return client.post("/v1/feedback/import", headers=headers(key), files={"file": (name, data)})


def _xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _bomb(unpacked: int) -> bytes:
    """A valid-looking XLSX whose one sheet inflates from ~0.3 MB to ``unpacked`` bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(unpacked >> 20):
                f.write(chunk)
    return buf.getvalue()


def test_upload_too_large_is_413(api):
    client, ingest, _ = api
    r = _upload(client, ingest, b"text\n" + "نظر خوب\n".encode() * 400_000, "big.csv")
    assert r.status_code == 413 and r.json()["error"]["code"] == "request.too_large"


@pytest.mark.parametrize(("data", "name", "status", "code"), [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "x.csv", 415, "import.unsupported_format"),
    (b"%PDF-1.7\n" + b"x" * 100, "x.xlsx", 415, "import.unsupported_format"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls", 415, "import.unsupported_format"),
    (b"\x00\x01\x02\x03" * 500, "bin.csv", 422, "import.undecodable"),
    (b"", "empty.csv", 422, "import.empty"),
])
def test_upload_wrong_type(api, data, name, status, code):
    client, ingest, _ = api
    r = _upload(client, ingest, data, name)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)


def test_upload_truncated_xlsx_is_422(api):
    client, ingest, _ = api
    data = _xlsx([["text"], ["غذا سرد بود"]])
    for cut in (len(data) // 2, len(data) - 30):
        r = _upload(client, ingest, data[:cut], "cut.xlsx")
        assert r.status_code in (415, 422), r.text
        assert r.json()["error"]["code"] in ("import.invalid_xlsx", "import.unsupported_format")


def test_xlsx_decompression_bomb_is_rejected_cheaply(api):
    client, ingest, _ = api
    bomb = _bomb(400 << 20)
    assert len(bomb) < 3 * 1024 * 1024  # under the upload limit: only the unpack guard can stop it
    t0 = time.perf_counter()
    r = _upload(client, ingest, bomb, "bomb.xlsx")
    elapsed = time.perf_counter() - t0
    assert r.status_code == 413 and r.json()["error"]["code"] == "import.too_large_unpacked"
    assert elapsed < 5.0  # nothing was inflated


def test_formula_injection_neutralised_in_xlsx_report(api):
    from openpyxl import load_workbook

    client, ingest, manager = api
    evil = ["=HYPERLINK(\"http://evil\",\"کلیک\") غذا سرد و بد بود", "@SUM(1+1) پیک خیلی دیر رسید و بد بود",
            "+98 غذا افتضاح بود", "-2+3 کیفیت غذا خیلی بد بود"]
    items = [{"text": t, "kind": "complaint", "rating": 1, "rating_scale": 5} for t in evil * 10]
    assert client.post("/v1/feedback/batch", headers=headers(ingest), json={"items": items}).status_code == 200
    r = client.get("/v1/reports/management-review", params={"format": "xlsx"}, headers=headers(manager))
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells
    assert not [c.value for c in cells if c.data_type == "f"], "a formula reached the export"
    assert not [c.value for c in cells if isinstance(c.value, str) and c.value[:1] in "=+@"]
