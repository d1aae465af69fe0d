"""POST /v1/feedback/import and the file reader: CSV in each encoding Persian exports use, XLSX, mappings."""

from __future__ import annotations

import codecs
import io

import pytest
from openpyxl import Workbook

from api.importing import decode_text, detect_format, read_table
from nlp.errors import BazkhordError
from tests.apiutil import analyzer, api, db_url, headers, keys, unique

_FIXTURES = (analyzer, api, db_url, keys)  # pytest finds fixtures by module name

ROWS = [("سفارش دیر رسید و غذا سرد بود", "۴", "1402/05/12 14:30", "A-1"),
        ("کیفیت عالی، بسته‌بندی تمیز", "5", "2024-01-02T10:00:00Z", "A-2"),
        ("قیمت‌ها گران است", "2", "", "A-3")]
MAPPING = '{"text": "نظر مشتری", "rating": "امتیاز", "created_at": "تاریخ", "metadata.order": "سفارش", "channel": "کانال"}'


def _csv(sep: str, channel: str) -> str:
    lines = [sep.join(["نظر مشتری", "امتیاز", "تاریخ", "سفارش", "کانال", "تلفن"])]
    lines += [sep.join([t, r, d, o, channel, "09120000000"]) for t, r, d, o in ROWS]
    return "\r\n".join(lines) + "\r\n"


ENCODINGS = [
    ("utf-8", lambda s: s.encode("utf-8")),
    ("utf-8-bom", lambda s: codecs.BOM_UTF8 + s.encode("utf-8")),
    ("utf-16", lambda s: s.encode("utf-16")),  # with BOM, as Excel's "Unicode text"
    ("utf-16-le-no-bom", lambda s: s.encode("utf-16-le")),
    # Windows-1256 has no Persian yeh or digits: exports write Arabic yeh (ي) and ASCII digits
    ("windows-1256", lambda s: as_1256(s).encode("cp1256")),
]


def as_1256(s: str) -> str:
    return s.replace("ی", "ي").replace("۴", "4")



@pytest.mark.parametrize(("name", "encode"), ENCODINGS)
@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_decode_and_read_every_encoding(name, encode, sep):
    same = as_1256 if name == "windows-1256" else (lambda s: s)
    rows, header = read_table(encode(_csv(sep, "app")), MAPPING)
    assert header[:2] == [same("نظر مشتری"), same("امتیاز")]
    assert [r.values["text"] for r in rows] == [same(t) for t, *_ in ROWS]
    assert rows[0].values == {"text": same(ROWS[0][0]), "rating": same("۴"), "created_at": "1402/05/12 14:30",
                              "channel": "app", "metadata": {"order": "A-1"}}
    assert "created_at" not in rows[2].values  # empty cell → absent
    assert [(r.row, r.line) for r in rows] == [(1, 2), (2, 3), (3, 4)]


@pytest.mark.parametrize(("data", "code"), [
    (b"%PDF-1.4 binary", "import.unsupported_format"),
    (b"\x89PNG\r\n\x1a\n....", "import.unsupported_format"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old-excel", "import.unsupported_format"),
    (b"PK\x03\x04not-really-a-zip", "import.unsupported_format"),
    (bytes(range(256)) * 8, "import.undecodable"),
    (b"", "import.empty"),
])
def test_refused_files(data, code):
    with pytest.raises(BazkhordError) as exc:
        read_table(data, None)
    assert exc.value.code == code and 400 <= exc.value.http_status < 500


def test_formats_and_forced_encoding():
    assert detect_format("text\r\nسلام\r\n".encode()) == "csv"
    assert decode_text("سلام".encode("cp1256"), "windows-1256") == "سلام"
    with pytest.raises(BazkhordError) as exc:
        decode_text(b"\xff\xfe\xfd", "utf-8")
    assert exc.value.code == "import.undecodable"
    with pytest.raises(BazkhordError):
        decode_text(b"x", "latin-9")


@pytest.mark.parametrize(("mapping", "code"), [
    ('{"text": "نیست"}', "import.unknown_column"),
    ('{"txt": "نظر مشتری"}', "import.invalid_mapping"),
    ("[1, 2]", "import.invalid_mapping"),
    ("{not json", "import.invalid_mapping"),
    ('{"rating": "امتیاز"}', "import.missing_text_column"),
])
def test_bad_mappings(mapping, code):
    with pytest.raises(BazkhordError) as exc:
        read_table(_csv(",", "x").encode(), mapping)
    assert exc.value.code == code


def _xlsx(channel: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["نظر مشتری", "امتیاز", "تاریخ", "سفارش", "کانال"])
    ws.append([ROWS[0][0], 4, "1402/05/12", 1042, channel])
    ws.append([ROWS[1][0], 5, None, 1043.0, channel])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(client, key, data, name, mapping=MAPPING, partial=False):
    return client.post("/v1/feedback/import" + ("?partial=true" if partial else ""), files={"file": (name, data)},
                       data={"mapping": mapping}, headers=headers(key))


@pytest.mark.parametrize(("name", "encode"), ENCODINGS)
def test_import_csv_each_encoding(api, keys, name, encode):
    client, _ = api
    ch = unique(name)
    r = _upload(client, keys["ingest"], encode(_csv(";", ch)), "export.csv")
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 3 and r.json()["errors"] == []
    items = client.get("/v1/feedback", params={"channel": ch}, headers=headers(keys["ingest"])).json()["items"]
    assert sorted(i["rating"] for i in items) == [2.0, 4.0, 5.0]
    first = next(i for i in items if i["metadata"] == {"order": "A-1"})
    assert first["created_at"] == "2023-08-03T11:00:00Z"  # 1402/05/12 14:30 Tehran
    assert all("09120000000" not in str(i) for i in items)  # unmapped columns are not stored


def test_import_xlsx(api, keys):
    client, _ = api
    ch = unique("xlsx")
    r = _upload(client, keys["admin"], _xlsx(ch), "export.xlsx")
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    items = client.get("/v1/feedback", params={"channel": ch}, headers=headers(keys["admin"])).json()["items"]
    assert sorted(i["metadata"]["order"] for i in items) == [1042, 1043]  # numbers stay numbers


def test_import_rejects_bad_rows_with_line_numbers(api, keys):
    client, _ = api
    ch = unique("bad")
    text = _csv(",", ch).replace("۴,", "هفت,").replace("قیمت‌ها گران است", "  ")
    r = _upload(client, keys["ingest"], text.encode(), "x.csv")
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert {(d["row"], d["line"], d["field"], d["code"]) for d in details} == {
        (1, 2, "rating", "field.wrong_type"), (3, 4, "text", "field.empty_text")}
    assert client.get("/v1/feedback", params={"channel": ch}, headers=headers(keys["ingest"])).json()["items"] == []
    r = _upload(client, keys["ingest"], text.encode(), "x.csv", partial=True)
    assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["failed"] == 2


def test_import_refuses_other_files(api, keys):
    client, _ = api
    r = _upload(client, keys["ingest"], b"%PDF-1.7\n...", "report.pdf")
    assert r.status_code == 415 and r.json()["error"]["code"] == "import.unsupported_format"
    r = _upload(client, keys["ingest"], bytes(range(256)) * 4, "data.csv")
    assert r.status_code == 422 and r.json()["error"]["code"] == "import.undecodable"
    r = client.post("/v1/feedback/import", headers=headers(keys["ingest"]))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "file"
    assert _upload(client, keys["manager"], b"text\n", "a.csv").status_code == 403
