"""Tabular files → rows of feedback fields: CSV (UTF-8 ± BOM, UTF-16, Windows-1256) and XLSX.

Persian Excel exports are often UTF-16 or Windows-1256 and use ``;`` or tab as separator: the
encoding is found from the BOM, then strict UTF-8, then UTF-16 without BOM, then Windows-1256; the
separator is sniffed. A column mapping (our field → their column header) says where each field is;
``metadata.<key>`` maps a column into ``metadata``. Columns that are not mapped are ignored, so a
file's other columns (names, phone numbers...) never reach the database.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.errors import BazkhordError

FIELDS = ("text", "external_id", "kind", "channel", "segment", "product", "region", "created_at",
          "rating", "rating_scale", "nps", "status")
_STR_FIELDS = frozenset(("text", "external_id", "kind", "channel", "segment", "product", "region", "status"))
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1256", "windows-1256")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class TableRow:
    row: int  # 1-based data row
    line: int  # file line (CSV) or sheet row (XLSX); the header is 1
    values: dict[str, Any]  # our field names → raw cell values (None when empty)


# Decompression-bomb guard: a few MB of XLSX may declare gigabytes of XML. zipfile never inflates a
# member past its declared size (a lying header ends in a CRC error), so summing the directory is enough.
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_XLSX_MEMBERS = 10_000


def check_unpacked_size(zf: zipfile.ZipFile) -> None:
    """Refuse a workbook whose members would unpack past the limits, before reading any of them."""
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    if len(infos) > MAX_XLSX_MEMBERS or total > MAX_XLSX_UNPACKED_BYTES:
        raise BazkhordError("import.too_large_unpacked",
                            f"The workbook would unpack to more than {MAX_XLSX_UNPACKED_BYTES} bytes; split it or send CSV.",
                            {"max_unpacked_bytes": MAX_XLSX_UNPACKED_BYTES, "members": len(infos)}, 413)


def detect_format(data: bytes, filename: str | None = None) -> str:
    """'xlsx' or 'csv'; anything else (XLS, PDF, images, archives, binary) is refused."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if "xl/workbook.xml" in zf.namelist():
                    check_unpacked_size(zf)
                    return "xlsx"
        except zipfile.BadZipFile:
            pass
        raise BazkhordError("import.unsupported_format", "The file is an archive but not an XLSX workbook.",
                            {"accepted": ["csv", "xlsx"]}, 415)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise BazkhordError("import.unsupported_format", "Old Excel (.xls) files are not supported; save as XLSX or CSV.",
                            {"accepted": ["csv", "xlsx"]}, 415)
    for magic in (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf"):
        if data.startswith(magic):
            raise BazkhordError("import.unsupported_format", "The file is not CSV or XLSX.", {"accepted": ["csv", "xlsx"]}, 415)
    return "csv"


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    sample = text[:20000]
    return len(_CONTROL.findall(sample)) <= len(sample) * 0.001


def decode_text(data: bytes, encoding: str | None = None) -> str:
    """Bytes of a CSV → str, trying the encodings Persian exports use (or the one given)."""
    if encoding:
        if encoding.lower() not in ENCODINGS:
            raise BazkhordError("import.unsupported_encoding", f"Unsupported encoding '{encoding}'.",
                                {"accepted": list(ENCODINGS)}, 422)
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise BazkhordError("import.undecodable", f"The file is not valid {encoding}.", {"position": exc.start}, 422) from None
        return text.lstrip("\ufeff")
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8"]
        # UTF-16 without BOM: every other byte of ASCII/Persian text is a NUL or 0x06.
        if len(data) >= 4 and data[1::2].count(0) + data[0::2].count(0) > len(data) * 0.2:
            candidates.insert(0, "utf-16-le" if data[1::2].count(0) >= data[0::2].count(0) else "utf-16-be")
        candidates.append("cp1256")
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text.lstrip("\ufeff")
    raise BazkhordError(
        "import.undecodable",
        "The file's encoding could not be read (accepted: UTF-8 with or without BOM, UTF-16, Windows-1256).",
        {"tried": candidates}, 422,
    )


def _sniff_delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_csv(data: bytes, encoding: str | None = None) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    text = decode_text(data, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BazkhordError("import.empty", "The file is empty.", None, 422) from None
    except csv.Error as exc:
        raise BazkhordError("import.invalid_csv", f"The CSV could not be parsed: {exc}.", None, 422) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for values in reader:
                if any(v.strip() for v in values):
                    yield reader.line_num, values
        except csv.Error as exc:
            raise BazkhordError("import.invalid_csv", f"The CSV could not be parsed near line {reader.line_num}: {exc}.",
                                {"line": reader.line_num}, 422) from None

    return [h.strip() for h in header], rows()


def read_xlsx(data: bytes) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise BazkhordError("import.invalid_xlsx", "The XLSX workbook could not be read.", {"reason": type(exc).__name__}, 422) from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        header = ["" if h is None else str(h).strip() for h in next(it)]
    except StopIteration:
        raise BazkhordError("import.empty", "The workbook's first sheet is empty.", None, 422) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for line, values in enumerate(it, start=2):
            if any(v is not None and str(v).strip() for v in values):
                yield line, list(values)
        wb.close()

    return header, rows()


def parse_mapping(mapping: str | dict[str, str] | None) -> dict[str, str]:
    """The mapping as a dict, from a dict, a JSON object string, or a path to a JSON file."""
    if mapping is None or mapping == "":
        return {}
    if isinstance(mapping, str):
        text = mapping
        if not mapping.lstrip().startswith("{") and Path(mapping).is_file():
            text = Path(mapping).read_text(encoding="utf-8")
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError:
            raise BazkhordError("import.invalid_mapping", "The column mapping is not a JSON object.", None, 422) from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise BazkhordError("import.invalid_mapping", 'The mapping must be {"our_field": "their column"}.', None, 422)
    unknown = [k for k in mapping if k not in FIELDS and not (k.startswith("metadata.") and len(k) > 9)]
    if unknown:
        raise BazkhordError("import.invalid_mapping", "The mapping names fields that do not exist.",
                            {"unknown_fields": unknown, "fields": [*FIELDS, "metadata.<key>"]}, 422)
    return mapping


_ARABIC_TO_PERSIAN = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "\u200c": " ", "\u200f": "", "\u200e": ""})


def column_key(name: str) -> str:
    """Header comparison key: Windows-1256 exports write Arabic yeh/kaf, and spacing varies."""
    return " ".join(name.translate(_ARABIC_TO_PERSIAN).split()).casefold()


def resolve_columns(header: list[str], mapping: dict[str, str]) -> dict[str, int]:
    """Our field → column index. Unmapped fields fall back to a column of the same name."""
    index = {h: i for i, h in enumerate(header) if h}
    lower = {column_key(h): i for h, i in index.items()}
    cols: dict[str, int] = {}
    missing = []
    for field, column in mapping.items():
        i = index.get(column, lower.get(column_key(column)))
        if i is None:
            missing.append(column)
        else:
            cols[field] = i
    if missing:
        raise BazkhordError("import.unknown_column", "The mapping names columns the file does not have.",
                            {"missing": missing, "columns": header}, 422)
    for field in FIELDS:
        if field not in cols and field in lower:
            cols[field] = lower[field]
    if "text" not in cols:
        raise BazkhordError("import.missing_text_column",
                            'No text column: map one with {"text": "<column>"}.', {"columns": header}, 422)
    return cols


def read_table(data: bytes, mapping: str | dict[str, str] | None = None, filename: str | None = None,
               encoding: str | None = None, max_rows: int | None = None) -> tuple[list[TableRow], list[str]]:
    """All data rows of a CSV/XLSX as our fields (raw values; validation is the caller's)."""
    if not data:
        raise BazkhordError("import.empty", "The file is empty.", None, 422)
    fmt = detect_format(data, filename)
    header, rows = read_xlsx(data) if fmt == "xlsx" else read_csv(data, encoding)
    cols = resolve_columns(header, parse_mapping(mapping))
    out: list[TableRow] = []
    for n, (line, values) in enumerate(rows, start=1):
        if max_rows is not None and n > max_rows:
            raise BazkhordError("import.too_many_rows", f"The file has more than {max_rows} rows.", {"max_rows": max_rows}, 413)
        record: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for field, i in cols.items():
            v = values[i] if i < len(values) else None
            if isinstance(v, str):
                v = v.strip() or None
            if v is None:
                if field == "text":
                    record["text"] = ""  # reported as an empty text, not as a missing column
                continue
            if field in _STR_FIELDS and not isinstance(v, str):
                # Excel stores ids and codes as numbers: 1042.0 → "1042"
                v = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            if field.startswith("metadata."):
                meta[field[9:]] = v if isinstance(v, (str, int, float, bool)) else str(v)
            else:
                record[field] = v
        if meta:
            record["metadata"] = meta
        out.append(TableRow(row=n, line=line, values=record))
    return out, header
