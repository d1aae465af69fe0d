"""Reporting periods (day, week, month, quarter, year) in the Gregorian or the Jalali calendar.

Jalali dates come from ``jdatetime``. A Jalali week runs Saturday..Friday (the Iranian week) and
week 1 is the week holding 1 Farvardin; a Gregorian week is the ISO week (Monday..Sunday).
Every period has a sortable ``key`` (``1403-01``, ``2024-Q1``, ``1403-W05``...), Gregorian
``start``/``end`` dates (inclusive) and a Persian label for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import jdatetime

from nlp.errors import BazkhordError

PERIODS = ("day", "week", "month", "quarter", "year")
CALENDARS = ("jalali", "gregorian")
JALALI_MONTHS = (
    "فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
    "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند",
)
GREGORIAN_MONTHS = (
    "ژانویه", "فوریه", "مارس", "آوریل", "مه", "ژوئن",
    "ژوئیه", "اوت", "سپتامبر", "اکتبر", "نوامبر", "دسامبر",
)
_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def fa_digits(text: object) -> str:
    return str(text).translate(_FA_DIGITS)


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    start: date
    end: date
    label_fa: str

    def to_dict(self) -> dict:
        return {"period": self.key, "start": self.start.isoformat(), "end": self.end.isoformat(), "label_fa": self.label_fa}


def check(period: str, calendar: str) -> None:
    if period not in PERIODS:
        raise BazkhordError("indicators.bad_period", f"period must be one of {', '.join(PERIODS)}", {"period": period}, 422)
    if calendar not in CALENDARS:
        raise BazkhordError("indicators.bad_calendar", f"calendar must be one of {', '.join(CALENDARS)}", {"calendar": calendar}, 422)


@lru_cache(maxsize=65536)
def jalali_day(d: date) -> int:
    """yyyymmdd in the Jalali calendar (cached: jdatetime conversions are slow, days repeat)."""
    j = jdatetime.date.fromgregorian(date=d)
    return j.year * 10000 + j.month * 100 + j.day


def from_jalali(y: int, m: int, d: int) -> date:
    return jdatetime.date(y, m, d).togregorian()


def _jalali_month_len(y: int, m: int) -> int:
    if m <= 6:
        return 31
    if m <= 11:
        return 30
    return 30 if jdatetime.date(y, 1, 1).isleap() else 29


@lru_cache(maxsize=65536)
def period_of(d: date, period: str, calendar: str) -> Period:
    """The period of ``calendar`` that holds the Gregorian date ``d``."""
    if calendar == "gregorian":
        return _gregorian(d, period)
    return _jalali(d, period)


def _gregorian(d: date, period: str) -> Period:
    if period == "day":
        return Period(d.isoformat(), d, d, fa_digits(f"{d.day} {GREGORIAN_MONTHS[d.month - 1]} {d.year}"))
    if period == "week":
        y, w, wd = d.isocalendar()
        start = d - timedelta(days=wd - 1)
        return Period(f"{y}-W{w:02d}", start, start + timedelta(days=6), fa_digits(f"هفته {w} سال {y}"))
    if period == "month":
        start = d.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return Period(f"{d.year}-{d.month:02d}", start, nxt - timedelta(days=1), fa_digits(f"{GREGORIAN_MONTHS[d.month - 1]} {d.year}"))
    if period == "quarter":
        q = (d.month - 1) // 3 + 1
        start = date(d.year, 3 * q - 2, 1)
        nxt = date(d.year + 1, 1, 1) if q == 4 else date(d.year, 3 * q + 1, 1)
        return Period(f"{d.year}-Q{q}", start, nxt - timedelta(days=1), fa_digits(f"فصل {q} سال {d.year}"))
    if period == "year":
        return Period(str(d.year), date(d.year, 1, 1), date(d.year, 12, 31), fa_digits(f"سال {d.year}"))
    raise ValueError(period)


def _jalali(d: date, period: str) -> Period:
    j = jdatetime.date.fromgregorian(date=d)
    if period == "day":
        return Period(f"{j.year}-{j.month:02d}-{j.day:02d}", d, d, fa_digits(f"{j.day} {JALALI_MONTHS[j.month - 1]} {j.year}"))
    if period == "week":
        first = from_jalali(j.year, 1, 1)
        # jdatetime: weekday() is 0 on Saturday; week 1 is the Saturday..Friday week holding 1 Farvardin
        offset = jdatetime.date(j.year, 1, 1).weekday()
        w = ((d - first).days + offset) // 7 + 1
        start = d - timedelta(days=j.weekday())
        return Period(f"{j.year}-W{w:02d}", start, start + timedelta(days=6), fa_digits(f"هفته {w} سال {j.year}"))
    if period == "month":
        start = from_jalali(j.year, j.month, 1)
        end = from_jalali(j.year, j.month, _jalali_month_len(j.year, j.month))
        return Period(f"{j.year}-{j.month:02d}", start, end, fa_digits(f"{JALALI_MONTHS[j.month - 1]} {j.year}"))
    if period == "quarter":
        q = (j.month - 1) // 3 + 1
        start = from_jalali(j.year, 3 * q - 2, 1)
        end = from_jalali(j.year, 3 * q, _jalali_month_len(j.year, 3 * q))
        names = ("بهار", "تابستان", "پاییز", "زمستان")
        return Period(f"{j.year}-Q{q}", start, end, fa_digits(f"{names[q - 1]} {j.year}"))
    if period == "year":
        return Period(str(j.year), from_jalali(j.year, 1, 1), from_jalali(j.year, 12, _jalali_month_len(j.year, 12)), fa_digits(f"سال {j.year}"))
    raise ValueError(period)


@lru_cache(maxsize=65536)
def date_of_key(key: int | date | str, calendar: str) -> date:
    """A date inside the bucket that a SQL group key names: yyyymmdd, yyyymm or yyyy integers, or a date."""
    if isinstance(key, date):
        return key
    if isinstance(key, str):
        return date.fromisoformat(key[:10])
    k = int(key)
    if k >= 10_000_000:
        y, m, dd = k // 10000, k // 100 % 100, k % 100
    elif k >= 100_000:
        y, m, dd = k // 100, k % 100, 1
    else:
        y, m, dd = k, 1, 1
    return date(y, m, dd) if calendar == "gregorian" else from_jalali(y, m, dd)


def previous(p: Period, period: str, calendar: str, k: int = 1) -> Period:
    """The period ``k`` steps before ``p``."""
    for _ in range(k):
        p = period_of(p.start - timedelta(days=1), period, calendar)
    return p


def periods_between(start: date, end: date, period: str, calendar: str) -> list[Period]:
    """Every period overlapping [start, end], in order (so empty periods show as gaps, not vanish)."""
    out: list[Period] = []
    d = start
    while d <= end:
        p = period_of(d, period, calendar)
        out.append(p)
        d = p.end + timedelta(days=1)
    return out
