"""store helpers: Jalali day keys, key hashing and revocation, payload hashes, cursors."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from api.schemas import FeedbackIn, is_blank, parse_datetime
from nlp.errors import BazkhordError
from store.calendar import day_keys, from_jalali, jalali_day, to_utc_naive
from store.db import make_engine, make_sessionmaker
from store.feedback import decode_cursor, encode_cursor, payload_hash
from store.keys import create_key, find_key, hash_key, list_keys, lookup_key, revoke_key
from store.migrate import upgrade


@pytest.mark.parametrize(("g", "j"), [
    (date(2024, 3, 20), 14030101),  # Nowruz 1403
    (date(2024, 3, 19), 14021229),
    (date(2025, 3, 20), 14031230),  # 1403 is a leap year
    (date(2025, 3, 21), 14040101),
    (date(2023, 8, 3), 14020512),
])
def test_jalali_day(g, j):
    assert jalali_day(g) == j
    assert from_jalali(j // 10000, j // 100 % 100, j % 100) == g


@pytest.mark.parametrize(("utc", "tz", "expected"), [
    (datetime(2024, 3, 19, 21, 0), "Asia/Tehran", (date(2024, 3, 20), 14030101)),  # 00:30 Tehran
    (datetime(2024, 3, 19, 20, 29), "Asia/Tehran", (date(2024, 3, 19), 14021229)),  # 23:59 Tehran
    (datetime(2024, 3, 19, 21, 0), "UTC", (date(2024, 3, 19), 14021229)),
])
def test_day_keys_use_the_service_time_zone(utc, tz, expected):
    assert day_keys(utc, tz) == expected


def test_to_utc_naive():
    assert to_utc_naive(datetime(2024, 1, 1, 12, 0), "Asia/Tehran") == datetime(2024, 1, 1, 8, 30)
    aware = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert to_utc_naive(aware, "Asia/Tehran") == datetime(2024, 1, 1, 12, 0)


@pytest.mark.parametrize(("value", "expected"), [
    ("۱۴۰۲/۰۵/۱۲", datetime(2023, 8, 3)),
    ("1402-05-12 14:30", datetime(2023, 8, 3, 14, 30)),
    ("1403/12/30", datetime(2025, 3, 20)),
    ("2024-01-02T10:00:00Z", "2024-01-02T10:00:00Z"),  # ISO is left to pydantic
])
def test_parse_datetime(value, expected):
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(("text", "blank"), [
    ("", True), ("  \n\t", True), ("\u200c\u200f\ufeff", True), ("👍", False), ("!", False), ("خوب", False),
])
def test_is_blank(text, blank):
    assert is_blank(text) is blank


def test_payload_hash_ignores_defaults_but_not_content():
    a = FeedbackIn(text="غذا سرد بود", rating=4).model_dump(mode="json")
    b = FeedbackIn(text="غذا سرد بود", rating=4, rating_scale=5, metadata={}).model_dump(mode="json")
    c = FeedbackIn(text="غذا سرد بود", rating=3).model_dump(mode="json")
    assert payload_hash(a) == payload_hash(b) != payload_hash(c)


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor(12345)) == 12345
    for bad in ("", "abc", encode_cursor(1)[:-2] + "!!", "aWQ6eA"):  # "id:x"
        with pytest.raises(BazkhordError) as exc:
            decode_cursor(bad)
        assert exc.value.code == "request.invalid_cursor"


def test_keys_are_hashed_listed_and_revoked(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    upgrade(url)
    with make_sessionmaker(make_engine(url))() as s:
        row, plain = create_key(s, "analyst", "  ana  ")
        s.commit()
        assert plain.startswith("bzk_") and len(plain) > 40 and row.name == "ana"
        assert row.key_hash == hash_key(plain) and plain not in (row.key_hash, row.prefix) and plain.startswith(row.prefix)
        assert lookup_key(s, plain).id == row.id and lookup_key(s, plain + "x") is None
        assert find_key(s, row.prefix).id == find_key(s, str(row.id)).id == row.id
        revoke_key(s, row.id)
        s.commit()
        first = row.revoked_at
        revoke_key(s, row.prefix)
        assert row.revoked_at == first
        assert list_keys(s, include_revoked=False) == []
        for role, name, code in [("root", "x", "keys.invalid_role"), ("admin", " ", "keys.invalid_name")]:
            with pytest.raises(BazkhordError) as exc:
                create_key(s, role, name)
            assert exc.value.code == code
        with pytest.raises(BazkhordError) as exc:
            find_key(s, "bzk_nothing")
        assert exc.value.http_status == 404
