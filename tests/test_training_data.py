"""training.data: canonical JSONL, CSV (every encoding we promise), Excel, mappings and row errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.errors import BazkhordError
from training.data import (
    Record,
    detect_encoding,
    iter_records,
    load_records,
    parse_datetime,
    parse_mapping,
    parse_polarity,
    parse_topics,
    write_jsonl,
)

GOOD = {"id": "a1", "text": "پیک خیلی دیر رسید", "sentiment": "neg", "topics": {"delivery": "neg"}}


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


# ---------------------------------------------------------------- canonical JSONL on the shared data


def test_shared_topic_set_loads_with_topics_and_sentiment(data_dir: Path) -> None:
    result = load_records(data_dir / "snappfood-topics" / "train.jsonl")
    assert len(result.records) == 698 and result.skipped == 0 and result.errors == []
    assert all(r.topics is not None and r.sentiment in {"neg", "neu", "pos"} for r in result.records)
    assert any(r.topics == {} for r in result.records)  # "annotated, no topic" survives as {}, not None
    topics = {t for r in result.records for t in r.topics or {}}
    assert {"delivery", "food_quality", "price"} <= topics


def test_shared_stream_rows_carry_rating_date_and_meta(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "snappfood-stream" / "comments.jsonl"
    head = tmp_path / "head.jsonl"
    with src.open(encoding="utf-8") as fh:
        head.write_text("".join(next(fh) for _ in range(200)), encoding="utf-8")
    records = load_records(head).records
    rated = [r for r in records if r.rating is not None]
    assert rated and all(r.rating_scale == 5 and 1 <= r.rating <= 5 for r in rated)
    assert all(isinstance(r.created_at, datetime) for r in records)
    assert all("vendor" in r.meta for r in records)
    # written back canonically, the file loads to the same records
    out = tmp_path / "out.jsonl"
    assert write_jsonl(records, out) == 200
    assert load_records(out).records == records


def test_unknown_keys_go_to_meta_and_topics_none_vs_empty(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "x.jsonl", [
        {"id": "1", "text": "خوب بود", "emotion": "HAPPY"},
        {"id": "2", "text": "معمولی", "topics": {}},
        {"id": "3", "text": "سرد بود", "topics": {"food_quality": "neg"}, "meta": {"vendor": "v1"}, "channel": "app"},
    ])
    r1, r2, r3 = load_records(f).records
    assert r1.topics is None and r1.meta == {"emotion": "HAPPY"} and r1.sentiment is None
    assert r2.topics == {}
    assert r3.topics == {"food_quality": "neg"} and r3.meta == {"channel": "app", "vendor": "v1"}
    assert r2.to_dict() == {"id": "2", "text": "معمولی", "topics": {}}


# ---------------------------------------------------------------- CSV encodings and mapping

# Windows-1256 has no Persian yeh: files in it carry the Arabic letter (ي), as these rows do.
CSV_ROWS = 'شناسه,نظر,برچسب,امتياز,مقياس,کانال\n1,"پيک دير رسيد، سرد بود",منفي,2,5,app\n2,عالي بود,positive,5,5,web\n'
MAPPING = {"id": "شناسه", "text": "نظر", "sentiment": "برچسب", "rating": "امتياز", "rating_scale": "مقياس"}


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),  # with BOM, as Excel's "Unicode text"
        ("utf-16-le", "utf-16-le"),
        ("utf-16-be", "utf-16-be"),
        ("cp1256", "cp1256"),  # Excel "CSV" on Persian Windows
    ],
)
def test_csv_encodings_with_mapping(tmp_path: Path, encoding: str, detected: str) -> None:
    data = CSV_ROWS.encode(encoding)
    assert detect_encoding(data) == detected
    f = tmp_path / "feedback.csv"
    f.write_bytes(data)
    r1, r2 = load_records(f, MAPPING).records
    assert (r1.id, r1.text, r1.sentiment, r1.rating, r1.rating_scale) == ("1", "پيک دير رسيد، سرد بود", "neg", 2, 5)
    assert (r2.id, r2.text, r2.sentiment, r2.rating) == ("2", "عالي بود", "pos", 5.0)
    assert r1.meta == {"کانال": "app"}  # unmapped columns are kept in meta


def test_csv_semicolon_delimiter_and_multiline_cell_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "semi.csv"
    f.write_text('text;sentiment\n"خط اول\nخط دوم";pos\nبد;bad\n', encoding="utf-8")
    with pytest.raises(BazkhordError) as exc:
        load_records(f)
    # the bad row starts on physical line 4, after a two-line cell
    assert exc.value.details == [
        {"file": "semi.csv", "line": 4, "field": "sentiment", "reason": "'bad' is not one of neg, neu, pos"}
    ]
    result = load_records(f, skip_invalid=True)
    assert [r.text for r in result.records] == ["خط اول\nخط دوم"] and result.skipped == 1


def test_csv_mapping_errors(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text("comment,label\nسلام,pos\n", encoding="utf-8")
    with pytest.raises(BazkhordError) as exc:
        load_records(f)
    assert exc.value.code == "data.missing_column" and "text" in exc.value.message
    with pytest.raises(BazkhordError) as exc:
        load_records(f, {"text": "comment", "sentiment": "stars"})
    assert exc.value.code == "data.missing_column" and exc.value.details["columns"] == ["stars"]
    with pytest.raises(BazkhordError) as exc:
        load_records(f, {"txt": "comment"})
    assert exc.value.code == "data.invalid_mapping"
    assert load_records(f, {"text": "comment", "sentiment": "label"}).records[0].sentiment == "pos"
    assert parse_mapping(["text=comment", " sentiment = label "]) == {"text": "comment", "sentiment": "label"}
    with pytest.raises(BazkhordError):
        parse_mapping(["text"])


def test_csv_topics_cells(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text('text,topics\nالف,"{""delivery"": ""neg""}"\nب,delivery=neg; price:pos\nج,{}\nد,\n', encoding="utf-8")
    topics = [r.topics for r in load_records(f).records]
    assert topics == [{"delivery": "neg"}, {"delivery": "neg", "price": "pos"}, {}, None]


# ---------------------------------------------------------------- Excel


def test_xlsx_with_mapping_dates_numbers_and_row_numbers(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "Comment", "Stars", "Date"])
    ws.append([12, "غذا سرد بود", 2, datetime(2024, 3, 20, 14, 5)])
    ws.append([None, None, None, None])  # blank rows are skipped, but keep their number
    ws.append([13, "   ", 9, "فردا"])
    f = tmp_path / "book.xlsx"
    wb.save(f)
    mapping = {"id": "ID", "text": "Comment", "rating": "Stars", "created_at": "Date"}
    with pytest.raises(BazkhordError) as exc:
        load_records(f, mapping)
    fields = {(d["line"], d["field"]) for d in exc.value.details}
    assert fields == {(2, "rating_scale"), (4, "text"), (4, "rating_scale"), (4, "created_at")}
    assert all(d["file"] == "book.xlsx" for d in exc.value.details)
    ws.delete_rows(4)
    ws.cell(row=1, column=5, value="Scale")
    ws.cell(row=2, column=5, value=5)
    wb.save(f)
    [r] = load_records(f, {**mapping, "rating_scale": "Scale"}).records
    assert (r.id, r.text, r.rating, r.rating_scale, r.created_at) == ("12", "غذا سرد بود", 2, 5, datetime(2024, 3, 20, 14, 5))


# ---------------------------------------------------------------- every kind of bad row

BAD_ROWS = [
    ({"id": "b", "text": "   "}, "text", "required and must not be blank"),
    ({"id": "b", "sentiment": "pos"}, "text", "required and must not be blank"),
    ({"id": "b", "text": 42}, "text", "must be a string"),
    ({"id": "b", "text": "x", "sentiment": "good"}, "sentiment", "'good' is not one of neg, neu, pos"),
    ({"id": "b", "text": "x", "topics": ["delivery"]}, "topics", "must be an object of topic -> neg/neu/pos"),
    ({"id": "b", "text": "x", "topics": {"delivery": "bad"}}, "topics", "topic 'delivery' has polarity 'bad'"),
    ({"id": "b", "text": "x", "topics": {"": "neg"}}, "topics", "topic names must be non-empty strings"),
    ({"id": "b", "text": "x", "rating": "five", "rating_scale": 5}, "rating", "'five' is not a number"),
    ({"id": "b", "text": "x", "rating": 6, "rating_scale": 5}, "rating", "6 is outside the scale 1..5"),
    ({"id": "b", "text": "x", "rating": True, "rating_scale": 5}, "rating", "must be a number"),
    ({"id": "b", "text": "x", "rating": 4}, "rating_scale", "required when rating is given"),
    ({"id": "b", "text": "x", "rating": 1, "rating_scale": 0}, "rating_scale", "must be a whole number >= 1"),
    ({"id": "b", "text": "x", "created_at": "20/03/2024"}, "created_at", "is not an ISO 8601 date-time"),
    ({"id": "b", "text": "x", "meta": [1, 2]}, "meta", "must be a JSON object"),
    ({"id": "b", "text": "x", "title": {"a": 1}}, "title", "must be a string"),
    ({"id": ["b"], "text": "x"}, "id", "must be a non-empty string or an integer"),
    ({"id": "a1", "text": "x"}, "id", "duplicate id (first used on line 1)"),
    ('{"id": "b", "text": "x"', "row", "invalid JSON"),
    ('["b", "x"]', "row", "each line must be a JSON object"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS)
def test_bad_row_is_rejected_naming_file_line_and_field(tmp_path: Path, row, field: str, reason: str) -> None:
    f = write_lines(tmp_path / "labels.jsonl", [GOOD, row, {**GOOD, "id": "a3"}])
    with pytest.raises(BazkhordError) as exc:
        load_records(f)
    err = exc.value
    assert err.code == "data.invalid_rows" and err.http_status == 422
    assert len(err.details) == 1
    d = err.details[0]
    assert (d["file"], d["line"], d["field"]) == ("labels.jsonl", 2, field)
    assert reason in d["reason"]
    assert "labels.jsonl" in err.message and "line 2" in err.message and field in err.message
    # the same file with skip_invalid: the good rows load, the bad one is counted and listed
    result = load_records(f, skip_invalid=True)
    assert [r.id for r in result.records] == ["a1", "a3"]
    assert result.skipped == 1 and result.errors[0].line == 2 and result.errors[0].field == field


def test_every_error_of_a_file_is_listed_and_customer_text_is_not_echoed(tmp_path: Path) -> None:
    secret = "شماره کارتم ۶۰۳۷۹۹۷۵۱۲۳۴۵۶۷۸ است"
    f = write_lines(tmp_path / "many.jsonl", [
        {"text": secret, "sentiment": "great"},
        GOOD,
        {"text": "", "rating": 9, "rating_scale": 5},
        "",  # blank lines are ignored, but still counted
        {"text": secret, "created_at": "yesterday"},
    ])
    with pytest.raises(BazkhordError) as exc:
        load_records(f)
    got = [(d["line"], d["field"]) for d in exc.value.details]
    assert got == [(1, "sentiment"), (3, "text"), (3, "rating"), (5, "created_at")]
    assert exc.value.message.startswith("3 invalid row(s) in many.jsonl")
    assert secret not in json.dumps(exc.value.details, ensure_ascii=False) + exc.value.message
    assert load_records(f, skip_invalid=True).skipped == 3


def test_iter_records_streams_and_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "s.jsonl", [GOOD, {"id": "b", "text": ""}, {**GOOD, "id": "c"}])
    it = iter_records(f)
    assert next(it).id == "a1"
    with pytest.raises(BazkhordError) as exc:
        next(it)
    assert exc.value.details[0]["line"] == 2
    assert [r.id for r in iter_records(f, skip_invalid=True)] == ["a1", "c"]


@pytest.mark.parametrize(
    ("name", "code"),
    [("data.parquet", "data.unsupported_format"), ("missing.jsonl", "data.file_not_found")],
)
def test_file_level_errors(tmp_path: Path, name: str, code: str) -> None:
    with pytest.raises(BazkhordError) as exc:
        load_records(tmp_path / name)
    assert exc.value.code == code


def test_empty_csv_and_duplicate_header(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("", encoding="utf-8")
    (tmp_path / "d.csv").write_text("text,text\nا,ب\n", encoding="utf-8")
    with pytest.raises(BazkhordError) as exc:
        load_records(tmp_path / "e.csv")
    assert exc.value.code == "data.empty"
    with pytest.raises(BazkhordError) as exc:
        load_records(tmp_path / "d.csv")
    assert exc.value.code == "data.duplicate_column"


# ---------------------------------------------------------------- value parsers


@pytest.mark.parametrize(
    ("value", "expected"),
    [("neg", "neg"), (" POS ", "pos"), ("neutral", "neu"), ("منفی", "neg"), ("منفي", "neg"), ("مثبت", "pos"),
     ("خنثی", "neu"), ("good", None), (1, None), ("", None)],
)
def test_parse_polarity(value, expected) -> None:
    assert parse_polarity(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"delivery": "neg"}, {"delivery": "neg"}),
        ('{"price": "positive"}', {"price": "pos"}),
        ("delivery=neg; price:pos", {"delivery": "neg", "price": "pos"}),
        ("delivery=منفی؛ price=مثبت", {"delivery": "neg", "price": "pos"}),
        ("{}", {}),
    ],
)
def test_parse_topics(value, expected) -> None:
    assert parse_topics(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-05-08T12:58:48", datetime(2022, 5, 8, 12, 58, 48)),
        ("2022-05-08", datetime(2022, 5, 8)),
        ("2022-05-08T12:58:48Z", datetime(2022, 5, 8, 12, 58, 48, tzinfo=UTC)),
        ("2022-05-08T12:58:48+03:30", datetime(2022, 5, 8, 12, 58, 48, tzinfo=timezone(timedelta(hours=3.5)))),
    ],
)
def test_parse_datetime(value: str, expected: datetime) -> None:
    assert parse_datetime(value) == expected


def test_persian_digits_in_numbers(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "d.jsonl", [{"text": "خوب", "rating": "۴", "rating_scale": "۵"}])
    [r] = load_records(f).records
    assert (r.rating, r.rating_scale, r.id) == (4.0, 5, "d-1")  # id defaults to file stem + line


def test_write_jsonl_is_canonical(tmp_path: Path) -> None:
    rec = Record(id="x", text="سلام", sentiment="pos", topics={}, rating=4.0, rating_scale=5,
                 created_at=datetime(2024, 1, 2, 3, 4, 5), source="s", meta={"k": 1}, title="ع")
    out = tmp_path / "o" / "r.jsonl"
    write_jsonl([rec], out)
    line = out.read_text(encoding="utf-8")
    assert json.loads(line) == {"id": "x", "text": "سلام", "title": "ع", "sentiment": "pos", "topics": {},
                                "rating": 4, "rating_scale": 5, "created_at": "2024-01-02T03:04:05",
                                "source": "s", "meta": {"k": 1}}
    assert "سلام" in line  # UTF-8, not \\u escapes
    assert load_records(out).records == [rec]


_labels = st.sampled_from(["neg", "neu", "pos"])
_records = st.builds(
    Record,
    id=st.text(min_size=1, max_size=8).filter(lambda s: s.strip() == s and s.strip()),
    text=st.text(min_size=1, max_size=40).filter(lambda s: s.strip()),
    sentiment=st.none() | _labels,
    topics=st.none() | st.dictionaries(st.sampled_from(["delivery", "price", "بسته‌بندی"]), _labels, max_size=3),
    rating=st.none(),
    created_at=st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),
    source=st.none() | st.sampled_from(["snappfood", "crm"]),
    meta=st.dictionaries(st.sampled_from(["vendor", "kind"]), st.text(max_size=5), max_size=2),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(_records, max_size=6, unique_by=lambda r: r.id))
def test_write_then_load_round_trips(tmp_path_factory, records: list[Record]) -> None:
    out = tmp_path_factory.mktemp("rt") / "r.jsonl"
    write_jsonl(records, out)
    assert load_records(out).records == records
