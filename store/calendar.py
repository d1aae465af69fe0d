"""Calendar keys written with every record: the local day and its Jalali yyyymmdd.

Records are stored with ``created_at`` in UTC (naive); the day they count for is the day in the
service's time zone (Asia/Tehran by default), so a comment written at 01:00 Tehran time is counted
on that Tehran day, not the previous UTC one.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import jdatetime


def jalali_day(d: date) -> int:
    """``date`` → yyyymmdd in the Jalali calendar, e.g. 2024-03-20 → 14030101."""
    j = jdatetime.date.fromgregorian(date=d)
    return j.year * 10000 + j.month * 100 + j.day


def from_jalali(year: int, month: int, day: int) -> date:
    """A Jalali date → the Gregorian ``date`` (ValueError when it does not exist)."""
    return jdatetime.date(year, month, day).togregorian()


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc_naive(dt: datetime, tz: str = "UTC") -> datetime:
    """Aware → UTC; naive values are read as wall-clock time in ``tz``. Result is naive UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_zone(tz))
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def local_day(created_at_utc: datetime, tz: str = "UTC") -> date:
    """The calendar day in ``tz`` of a naive-UTC timestamp."""
    return created_at_utc.replace(tzinfo=timezone.utc).astimezone(_zone(tz)).date()


def day_keys(created_at_utc: datetime, tz: str = "UTC") -> tuple[date, int]:
    """(local day, Jalali yyyymmdd of that day) for a naive-UTC timestamp."""
    d = local_day(created_at_utc, tz)
    return d, jalali_day(d)
