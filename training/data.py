"""Labelled feedback files: read canonical JSONL, CSV and Excel into validated ``Record`` objects.

Analysts bring data in whatever shape their tools export. ``load_records`` reads it, maps their
column names onto our fields, validates every row and either returns the records or rejects the
whole file with one error per bad row (file, line, field, reason) so it can be fixed in one pass.
Reasons never quote the customer's text: only short label values are echoed back.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nlp.errors import BazkhordError

POLARITIES = ("neg", "neu", "pos")
# Our canonical fields (../shared/data/README.md); anything else a row carries goes into ``meta``.
FIELDS = ("id", "text", "sentiment", "topics", "rating", "rating_scale", "created_at", "source", "meta", "title")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# Spreadsheet users write labels in full; these are unambiguous spellings of our three labels.
_POLARITY_ALIASES = {
    "neg": "neg", "negative": "neg", "منفی": "neg",
    "neu": "neu", "neutral": "neu", "خنثی": "neu",
    "pos": "pos", "positive": "pos", "مثبت": "pos",
}


@dataclass(slots=True)
class Record:
    """One labelled (or unlabelled) customer text.

    ``sentiment`` None = not labelled for sentiment; ``topics`` None = not annotated for topics,
    ``{}`` = annotated and mentions no topic.
    """

    id: str
    text: str
    sentiment: str | None = None
    topics: dict[str, str] | None = None
    rating: float | None = None
    rating_scale: int | None = None
    created_at: datetime | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)
    title: str | None = None

    def to_dict(self) -> dict:
        """Canonical JSON object: absent values are left out, ``topics == {}`` is kept (it means something)."""
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.title is not None:
            out["title"] = self.title
        if self.sentiment is not None:
            out["sentiment"] = self.sentiment
        if self.topics is not None:
            out["topics"] = dict(self.topics)
        if self.rating is not None:
            out["rating"] = int(self.rating) if float(self.rating).is_integer() else self.rating
        if self.rating_scale is not None:
            out["rating_scale"] = self.rating_scale
        if self.created_at is not None:
            out["created_at"] = self.created_at.isoformat()
        if self.source is not None:
            out["source"] = self.source
        if self.meta:
            out["meta"] = self.meta
        return out


@dataclass(frozen=True, slots=True)
class RowError:
    file: str
    line: int  # 1-based line (JSONL/CSV physical line where the row starts; Excel row number)
    field: str  # our field name, or "row" for problems with the row as a whole
    reason: str

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


@dataclass(slots=True)
class LoadResult:
    records: list[Record]
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


# ---------------------------------------------------------------- reading raw rows


def detect_encoding(data: bytes) -> str:
    """Name the text encoding of a CSV export: UTF-8 (with or without BOM), UTF-16, or Windows-1256.

    Excel on Persian Windows saves "CSV" as Windows-1256 and "Unicode text" as UTF-16; UTF-8 is
    tried before 1256 because valid UTF-8 Persian is practically never valid-looking 1256 by chance.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # BOM-less UTF-16: Persian, ASCII and ZWNJ put a high byte of 0x06, 0x00 or 0x20 in every other
    # position. UTF-8 never contains 0x00/0x06 in text, so this cannot mistake a UTF-8 file.
    head = data[:4096] if len(data) % 2 == 0 else b""
    if len(head) >= 4:
        for offset, name in ((1, "utf-16-le"), (0, "utf-16-be")):
            high = head[offset::2]
            if sum(b in (0x00, 0x06, 0x20) for b in high) >= 0.9 * len(high) and high.count(0x20) < len(high) / 2:
                try:
                    data.decode(name)
                    return name
                except UnicodeDecodeError:
                    pass
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1256")
        return "cp1256"
    except UnicodeDecodeError as exc:  # cp1256 leaves a few bytes undefined
        raise BazkhordError(
            "data.encoding",
            "could not detect the file's text encoding (tried UTF-8, UTF-16, Windows-1256)",
            {"offset": exc.start},
        ) from None


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    raise BazkhordError(
        "data.unsupported_format",
        f"unsupported data file type {suffix or '(none)'!r}: use .jsonl, .csv or .xlsx",
        {"file": path.name, "supported": [*JSONL_SUFFIXES, *CSV_SUFFIXES, *XLSX_SUFFIXES]},
    )


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict | RowError]]:
    with path.open("r", encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, RowError(path.name, line_no, "row", f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield line_no, RowError(path.name, line_no, "row", "each line must be a JSON object")
                continue
            yield line_no, obj


def _iter_csv(path: Path, encoding: str | None) -> Iterator[tuple[int, dict | RowError]]:
    data = path.read_bytes()
    text = data.decode(encoding or detect_encoding(data))
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise BazkhordError("data.empty", "the file is empty (a header row is required)", {"file": path.name})
    if path.suffix.lower() == ".tsv":
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    _check_header(path, header)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RowError(path.name, start, "row", f"malformed CSV ({exc})")
            return
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            yield start, RowError(path.name, start, "row", f"{len(cells)} cells but the header has {len(header)}")
            continue
        yield start, {h: v for h, v in zip(header, cells, strict=False) if h}


def _iter_xlsx(path: Path, sheet: str | None) -> Iterator[tuple[int, dict | RowError]]:
    import openpyxl  # only Excel users pay for the import

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a corrupt file
        raise BazkhordError("data.unreadable", f"cannot read the Excel file ({type(exc).__name__})",
                            {"file": path.name}) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise BazkhordError("data.missing_sheet", f"no sheet named {sheet!r}",
                                {"file": path.name, "sheets": wb.sheetnames})
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        try:
            first = next(rows)
        except StopIteration:
            raise BazkhordError("data.empty", "the sheet is empty (a header row is required)",
                                {"file": path.name}) from None
        header = ["" if h is None else str(h).strip() for h in first]
        _check_header(path, header)
        for row_no, cells in enumerate(rows, start=2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            yield row_no, {h: v for h, v in zip(header, cells, strict=False) if h}
    finally:
        wb.close()


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for h in header:
        if h and h in seen:
            raise BazkhordError("data.duplicate_column", f"column {h!r} appears twice in the header",
                                {"file": path.name, "column": h})
        seen.add(h)


def iter_raw_rows(
    path: str | Path, *, encoding: str | None = None, sheet: str | None = None
) -> Iterator[tuple[int, dict | RowError]]:
    """(line, raw row dict keyed by the file's own column names) for every non-blank row."""
    p = Path(path)
    kind = _format_of(p)
    if not p.is_file():
        raise BazkhordError("data.file_not_found", f"data file not found: {p}", {"file": str(p)}, 404)
    if kind == "jsonl":
        return _iter_jsonl(p)
    if kind == "csv":
        return _iter_csv(p, encoding)
    return _iter_xlsx(p, sheet)


# ---------------------------------------------------------------- mapping and validation


def check_mapping(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a column mapping (our field -> their column) and return it as a plain dict."""
    if not mapping:
        return {}
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise BazkhordError("data.invalid_mapping", f"unknown field(s) in the column mapping: {', '.join(unknown)}",
                            {"unknown": unknown, "fields": list(FIELDS)})
    columns = list(mapping.values())
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise BazkhordError("data.invalid_mapping", f"column(s) mapped to more than one field: {', '.join(dupes)}",
                            {"columns": dupes})
    return dict(mapping)


def apply_mapping(raw: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Rename the file's columns to our fields; unmapped columns that are not our fields go into ``meta``."""
    out: dict[str, Any] = {}
    taken = set(mapping.values())
    for ours, theirs in mapping.items():
        if theirs in raw:
            out[ours] = raw[theirs]
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in taken:
            continue
        if key in FIELDS and key not in mapping:
            out[key] = value
        elif value is not None and value != "":
            extra[key] = value
    if extra:
        meta = out.get("meta")
        if meta in (None, ""):
            out["meta"] = extra
        elif isinstance(meta, dict):
            out["meta"] = {**extra, **meta}
        # a non-object meta is reported by validate_row; the extras are dropped with the row
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _short(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 24 else s[:21] + "...'"


def parse_polarity(value: Any) -> str | None:
    """'neg'/'neu'/'pos' (also 'negative', 'منفی', ... in any case); None for anything else."""
    if not isinstance(value, str):
        return None
    # Windows-1256 exports carry Arabic yeh/kaf, so منفی arrives as منفي.
    return _POLARITY_ALIASES.get(value.strip().lower().replace("ي", "ی").replace("ك", "ک"))


def parse_topics(value: Any) -> dict[str, str]:
    """Topics as an object ``{topic: polarity}``; spreadsheets may also write ``delivery=neg; price=pos``.

    Raises ValueError with a reason that names the bad topic, never the row's text.
    """
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("{"):
            try:
                value = json.loads(s)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON object ({exc.msg})") from None
        else:
            pairs: dict[str, Any] = {}
            for part in s.replace("؛", ";").split(";"):
                if not part.strip():
                    continue
                if "=" not in part and ":" not in part:
                    raise ValueError("write topics as a JSON object or 'topic=polarity; topic=polarity'")
                name, _, pol = part.replace(":", "=", 1).partition("=")
                pairs[name.strip()] = pol.strip()
            value = pairs
    if not isinstance(value, dict):
        raise ValueError("must be an object of topic -> neg/neu/pos")
    out: dict[str, str] = {}
    for name, pol in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError("topic names must be non-empty strings")
        p = parse_polarity(pol)
        if p is None:
            raise ValueError(f"topic {name.strip()!r} has polarity {_short(pol)}; expected neg, neu or pos")
        out[name.strip()] = p
    return out


def _parse_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int | float):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value.strip().translate(_DIGITS).replace("٫", "."))
        except ValueError:
            raise ValueError(f"{_short(value)} is not a number") from None
    else:
        raise ValueError("must be a number")
    if not math.isfinite(f):
        raise ValueError("must be a finite number")
    return f


# Persian and Arabic-Indic digits, which Persian spreadsheets often use.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 (``2022-05-08``, ``2022-05-08T12:58:48``, ``...Z``, ``...+03:30``) or an Excel date cell."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{_short(value)} is not an ISO 8601 date-time (e.g. 2024-03-20T14:05:00)") from None


def _parse_id(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("must be a string or an integer")
    if isinstance(value, float) and value.is_integer():  # Excel stores 12 as 12.0
        value = int(value)
    if isinstance(value, int | str):
        s = str(value).strip()
        if s:
            return s
    raise ValueError("must be a non-empty string or an integer")


def validate_row(row: Mapping[str, Any], file: str, line: int) -> tuple[Record | None, list[RowError]]:
    """Check one mapped row (our field names) and build its Record; every problem becomes a RowError."""
    errors: list[RowError] = []

    def bad(field_name: str, reason: str) -> None:
        errors.append(RowError(file, line, field_name, reason))

    text = row.get("text")
    if _blank(text):
        bad("text", "required and must not be blank")
    elif not isinstance(text, str):
        bad("text", "must be a string")

    record_id = f"{Path(file).stem}-{line}"  # stable default for files without ids
    if not _blank(row.get("id")):
        try:
            record_id = _parse_id(row["id"])
        except ValueError as exc:
            bad("id", str(exc))

    sentiment = None
    if not _blank(row.get("sentiment")):
        sentiment = parse_polarity(row["sentiment"])
        if sentiment is None:
            bad("sentiment", f"{_short(row['sentiment'])} is not one of neg, neu, pos")

    topics = None
    if row.get("topics") is not None and row.get("topics") != "":
        try:
            topics = parse_topics(row["topics"])
        except ValueError as exc:
            bad("topics", str(exc))

    rating_scale = None
    if not _blank(row.get("rating_scale")):
        try:
            s = _parse_number(row["rating_scale"])
            if not s.is_integer() or s < 1:
                raise ValueError("must be a whole number >= 1")
            rating_scale = int(s)
        except ValueError as exc:
            bad("rating_scale", str(exc))
    rating = None
    if not _blank(row.get("rating")):
        try:
            rating = _parse_number(row["rating"])
        except ValueError as exc:
            bad("rating", str(exc))
        else:
            if rating_scale is None and not any(e.field == "rating_scale" for e in errors):
                bad("rating_scale", "required when rating is given")
            elif rating_scale is not None and not 1 <= rating <= rating_scale:
                bad("rating", f"{rating:g} is outside the scale 1..{rating_scale}")

    created_at = None
    if not _blank(row.get("created_at")):
        try:
            created_at = parse_datetime(row["created_at"])
        except ValueError as exc:
            bad("created_at", str(exc))

    strings: dict[str, str | None] = {}
    for name in ("source", "title"):
        v = row.get(name)
        if _blank(v):
            strings[name] = None
        elif isinstance(v, str | int | float) and not isinstance(v, bool):
            strings[name] = str(v).strip()
        else:
            bad(name, "must be a string")

    meta: dict = {}
    raw_meta = row.get("meta")
    if isinstance(raw_meta, str) and raw_meta.strip():
        try:
            raw_meta = json.loads(raw_meta)
        except json.JSONDecodeError:
            raw_meta = []  # reported just below
    if isinstance(raw_meta, dict):
        meta = raw_meta
    elif not _blank(raw_meta):
        bad("meta", "must be a JSON object")

    if errors:
        return None, errors
    return (
        Record(
            id=record_id,
            text=text,  # type: ignore[arg-type]  # checked above
            sentiment=sentiment,
            topics=topics,
            rating=rating,
            rating_scale=rating_scale,
            created_at=created_at,
            source=strings.get("source"),
            meta=meta,
            title=strings.get("title"),
        ),
        [],
    )


# ---------------------------------------------------------------- public entry points


def _check_columns(path: Path, raw: Mapping[str, Any], mapping: Mapping[str, str], line: int) -> None:
    """For tabular files, a mapped column or the text column missing from the header is a file error."""
    missing = sorted(theirs for theirs in mapping.values() if theirs not in raw)
    if missing:
        raise BazkhordError("data.missing_column", f"column(s) not in the file: {', '.join(missing)}",
                            {"file": path.name, "columns": missing, "found": sorted(raw)})
    if "text" not in mapping and "text" not in raw:
        raise BazkhordError(
            "data.missing_column",
            "no 'text' column: name it 'text' or map it (e.g. --map text=comment)",
            {"file": path.name, "columns": ["text"], "found": sorted(raw), "line": line},
        )


def _validated(
    path: str | Path, mapping: Mapping[str, str] | None, encoding: str | None, sheet: str | None
) -> Iterator[tuple[Record | None, list[RowError]]]:
    p = Path(path)
    m = check_mapping(mapping)
    tabular = _format_of(p) != "jsonl"
    seen_ids: dict[str, int] = {}
    checked = False
    for line, raw in iter_raw_rows(p, encoding=encoding, sheet=sheet):
        if isinstance(raw, RowError):
            yield None, [raw]
            continue
        if tabular and not checked:
            _check_columns(p, raw, m, line)
            checked = True
        record, errors = validate_row(apply_mapping(raw, m), p.name, line)
        if record is not None:
            first = seen_ids.setdefault(record.id, line)
            if first != line:
                record, errors = None, [RowError(p.name, line, "id", f"duplicate id (first used on line {first})")]
        yield record, errors


def iter_records(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    skip_invalid: bool = False,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Iterator[Record]:
    """Stream records; the first invalid row raises ``data.invalid_rows`` unless ``skip_invalid``.

    Use ``load_records`` to reject a file before using any of it and to get every error at once.
    """
    for record, errors in _validated(path, mapping, encoding, sheet):
        if record is not None:
            yield record
        elif not skip_invalid:
            raise _invalid_rows_error(Path(path).name, errors)


def load_records(
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    skip_invalid: bool = False,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
) -> LoadResult:
    """Read a whole JSONL/CSV/XLSX file.

    ``mapping`` maps our field names to the file's column names (e.g. ``{"text": "comment"}``).
    A file with any invalid row raises BazkhordError ``data.invalid_rows`` whose details list every
    row error, unless ``skip_invalid`` (the bad rows are then skipped, counted and listed in ``errors``).
    """
    records: list[Record] = []
    errors: list[RowError] = []
    skipped = 0
    for record, row_errors in _validated(path, mapping, encoding, sheet):
        if record is None:
            skipped += 1
            errors.extend(row_errors)
        else:
            records.append(record)
    if errors and not skip_invalid:
        raise _invalid_rows_error(Path(path).name, errors, rows=skipped)
    return LoadResult(records=records, skipped=skipped, errors=errors)


def _invalid_rows_error(file: str, errors: list[RowError], rows: int = 1) -> BazkhordError:
    first = errors[0]
    return BazkhordError(
        "data.invalid_rows",
        f"{rows} invalid row(s) in {file}; first: line {first.line}, field {first.field}: {first.reason}"
        " (fix them, or use --skip-invalid to skip them)",
        [e.to_dict() for e in errors],
        422,
    )


def write_jsonl(records: Iterable[Record], path: str | Path) -> int:
    """Write records as canonical JSONL (UTF-8, one object per line); returns the number written."""
    n = 0
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record.to_dict(), ensure_ascii=False, default=str))
            fh.write("\n")
            n += 1
    return n


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """CLI helper: ``["text=comment", "sentiment=label"]`` -> ``{"text": "comment", "sentiment": "label"}``."""
    out: dict[str, str] = {}
    for item in items:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise BazkhordError("data.invalid_mapping", f"mapping {item!r} must look like field=column",
                                {"item": item})
        out[ours.strip()] = theirs.strip()
    return check_mapping(out)
