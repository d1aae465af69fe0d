"""Complaint-handling process indicators (ISO 10002 §9, ISO 10004 indirect indicators).

Per slice of complaints (tracked records: ``status`` set), all durations in hours from ``created_at``
(when the customer filed it):

- ``time_to_acknowledge`` / ``time_to_resolve``: median and p90 over the complaints that reached the
  step; the 95% interval is distribution-free (binomial order statistics);
- ``acknowledged_within_sla`` / ``resolved_within_sla``: percent of *due* complaints (done, or open
  past the deadline) done within the SLA hours; complaints still open and not yet due are left out;
- ``reopen_rate``: percent of complaints ever resolved that were reopened at least once;
- ``backlog``: open complaints (received, acknowledged, in_progress, reopened) by priority, and how
  many of them are past the resolution SLA;
- ``handling_satisfaction``: mean of the customers' handling ratings (1..5, Student-t interval) and
  the percent rating 4 or 5.

Every figure has the indicator shape ``{value, n, ci_low, ci_high, insufficient_data}``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import NamedTuple

from scipy import stats as _st
from sqlalchemy import and_, bindparam, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from indicators import stats
from indicators.periods import check, period_of
from nlp.errors import BazkhordError
from store.schema import PRIORITIES, RECURRENCE, Feedback, TopicMention

OPEN = ("received", "acknowledged", "in_progress", "reopened")
GROUP_BY = ("segment", "product", "channel", "topic", "priority")


class ComplaintTimes(NamedTuple):
    """The columns of one complaint the process indicators need (a named tuple: a dashboard answer builds
    one per tracked complaint of its window, and a frozen dataclass's constructor cost more than its query)."""

    id: int
    created_at: datetime
    status: str
    day: date | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    priority: str | None = None
    recurrence: str | None = None
    reopen_count: int = 0
    handling_rating: float | None = None
    segment: str | None = None
    product: str | None = None
    channel: str | None = None
    topics: tuple[str, ...] = ()


def hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600.0


def quantile(values: Sequence[float], q: float, min_n: int = 30) -> stats.Figure:
    """The q-quantile (linear interpolation) with a distribution-free ~95% interval.

    The interval runs between the order statistics x_(l) and x_(u) with l, u the 2.5% and 97.5%
    points of Binomial(n, q), so it holds for any distribution of durations.
    """
    xs = sorted(float(v) for v in values)
    n = len(xs)
    if n == 0:
        return stats.Figure.empty()
    pos = q * (n - 1)
    lo_i = math.floor(pos)
    frac = pos - lo_i
    value = xs[lo_i] + (xs[min(lo_i + 1, n - 1)] - xs[lo_i]) * frac
    lo_rank = int(_st.binom.ppf(0.025, n, q))  # 1-based rank of the lower order statistic
    hi_rank = int(_st.binom.ppf(0.975, n, q)) + 1
    ci_low = xs[max(lo_rank, 1) - 1]
    ci_high = xs[min(hi_rank, n) - 1]
    return stats.Figure(value, n, ci_low, ci_high, n < min_n)


def _duration_block(durations: Sequence[float], min_n: int) -> dict:
    return {"median": quantile(durations, 0.5, min_n).to_dict(), "p90": quantile(durations, 0.9, min_n).to_dict()}


@dataclass(slots=True)
class Tally:
    """What the process indicators of one slice are computed from: counts, and the durations and ratings
    whose quantiles and means need every value. Added up from rows (``tally``) or from the database's
    per-day counts (``complaint_summary``)."""

    volume: int = 0
    by_priority: dict = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    by_recurrence: dict = field(default_factory=lambda: dict.fromkeys(RECURRENCE, 0))
    ack: list = field(default_factory=list)  # hours to acknowledge, of those acknowledged
    res: list = field(default_factory=list)
    ack_open_due: int = 0  # not acknowledged and past the acknowledgement SLA
    res_open_due: int = 0
    ever_resolved: int = 0
    reopened: int = 0
    open: int = 0
    overdue: int = 0  # open and past the resolution SLA
    backlog: dict = field(default_factory=lambda: dict.fromkeys(PRIORITIES, 0))
    ratings: list = field(default_factory=list)

    def add(self, other: Tally) -> Tally:
        self.volume += other.volume
        for mine, theirs in ((self.by_priority, other.by_priority), (self.by_recurrence, other.by_recurrence),
                             (self.backlog, other.backlog)):
            for k, v in theirs.items():
                mine[k] += v
        self.ack += other.ack
        self.res += other.res
        self.ratings += other.ratings
        self.ack_open_due += other.ack_open_due
        self.res_open_due += other.res_open_due
        self.ever_resolved += other.ever_resolved
        self.reopened += other.reopened
        self.open += other.open
        self.overdue += other.overdue
        return self


def tally(rows: Sequence[ComplaintTimes], *, now: datetime, ack_sla_hours: float = 24.0,
          sla_hours: float = 72.0) -> Tally:
    t = Tally()
    ack_cut, res_cut = now - timedelta(hours=ack_sla_hours), now - timedelta(hours=sla_hours)
    t.volume = len(rows)
    for r in rows:
        if r.priority in t.by_priority:
            t.by_priority[r.priority] += 1
        rec = r.recurrence or "single"
        if rec in t.by_recurrence:
            t.by_recurrence[rec] += 1
        if r.acknowledged_at is not None:
            t.ack.append(hours(r.created_at, r.acknowledged_at))
        elif r.created_at < ack_cut:
            t.ack_open_due += 1
        if r.resolved_at is not None:
            t.res.append(hours(r.created_at, r.resolved_at))
        elif r.created_at < res_cut:
            t.res_open_due += 1
        if r.resolved_at is not None or r.reopen_count > 0 or r.status in ("resolved", "closed"):
            t.ever_resolved += 1
            t.reopened += r.reopen_count > 0
        if r.status in OPEN:
            t.open += 1
            t.overdue += r.created_at < res_cut
            if r.priority in t.backlog:
                t.backlog[r.priority] += 1
        if r.handling_rating is not None:
            t.ratings.append(float(r.handling_rating))
    return t


def figures(t: Tally, *, ack_sla_hours: float = 24.0, sla_hours: float = 72.0, min_n: int = 30) -> dict:
    """Every process indicator of one slice, from its ``Tally``."""
    ratings = t.ratings
    ack_hit = sum(1 for h in t.ack if h <= ack_sla_hours)
    res_hit = sum(1 for h in t.res if h <= sla_hours)
    return {
        "volume": t.volume,
        "by_priority": dict(t.by_priority),
        "by_recurrence": dict(t.by_recurrence),
        "time_to_acknowledge_hours": _duration_block(t.ack, min_n),
        "time_to_resolve_hours": _duration_block(t.res, min_n),
        "acknowledged_within_sla": stats.wilson(ack_hit, len(t.ack) + t.ack_open_due, min_n).to_dict(),
        "resolved_within_sla": stats.wilson(res_hit, len(t.res) + t.res_open_due, min_n).to_dict(),
        "reopen_rate": stats.wilson(t.reopened, t.ever_resolved, min_n).to_dict(),
        "backlog": {"open": t.open, "overdue": t.overdue, "by_priority": dict(t.backlog)},
        "handling_satisfaction": {
            "mean_rating": stats.mean(sum(ratings), sum(x * x for x in ratings), len(ratings), min_n).to_dict(),
            "satisfied": stats.wilson(sum(1 for x in ratings if x >= 4), len(ratings), min_n).to_dict(),
        },
        "sla_hours": {"acknowledge": ack_sla_hours, "resolve": sla_hours},
    }


def compute(
    rows: Sequence[ComplaintTimes],
    *,
    now: datetime,
    ack_sla_hours: float = 24.0,
    sla_hours: float = 72.0,
    min_n: int = 30,
) -> dict:
    """Every process indicator of one slice of complaints."""
    return figures(tally(rows, now=now, ack_sla_hours=ack_sla_hours, sla_hours=sla_hours),
                   ack_sla_hours=ack_sla_hours, sla_hours=sla_hours, min_n=min_n)


_FILTERS = ("segment", "product", "channel", "region", "kind", "priority")
# ComplaintTimes' fields in order, up to topics
_TIMES = (
    Feedback.id, Feedback.created_at, Feedback.status, Feedback.day, Feedback.acknowledged_at, Feedback.resolved_at,
    Feedback.priority, Feedback.recurrence, Feedback.reopen_count, Feedback.handling_rating,
    Feedback.segment, Feedback.product, Feedback.channel,
)


def _conditions(dialect: str, has_start: bool, has_end: bool, filters: tuple[str, ...], topic: bool) -> list:
    """The tracked complaints of one form of query; values as parameters: start, end, f_<filter>, topic."""
    tracked = Feedback.status.is_not(None)
    if dialect == "sqlite":
        # marked rare: SQLite's statistics cannot tell that most records have a NULL status, so it would walk
        # the day (or day+segment) index over every record of the window (seconds on a million rows) instead
        # of the status index over the tracked complaints alone; it wants a literal here, not a parameter
        tracked = func.likelihood(tracked, literal_column("0.001"))
    conds = [tracked]
    if has_start:
        conds.append(Feedback.day >= bindparam("start"))
    if has_end:
        conds.append(Feedback.day <= bindparam("end"))
    conds += [getattr(Feedback, name).in_(bindparam(f"f_{name}", expanding=True)) for name in filters]
    if topic:
        conds.append(Feedback.id.in_(select(TopicMention.feedback_id).where(TopicMention.topic == bindparam("topic"))))
    return conds


@cache
def _load_statements(dialect: str, has_start: bool, has_end: bool, filters: tuple[str, ...], topic: bool):
    """``load_rows``' two statements (complaints; their topic mentions) for one form of query, built once
    (every dashboard answer runs them)."""
    conds = _conditions(dialect, has_start, has_end, filters, topic)
    mentions = (select(TopicMention.feedback_id, TopicMention.topic, TopicMention.polarity)
                .join(Feedback, Feedback.id == TopicMention.feedback_id).where(*conds))
    return select(*_TIMES).where(*conds), mentions


@cache
def _tally_statements(dialect: str, has_start: bool, has_end: bool, filters: tuple[str, ...], topic: bool):
    """``complaint_summary``'s two statements for one form of query: per day, the counts of a ``Tally``
    (the SLA cuts as parameters ``ack_cut`` and ``res_cut``); and the days, times and ratings of the
    complaints acknowledged, resolved or rated (their durations and ratings are needed one by one)."""
    conds = _conditions(dialect, has_start, has_end, filters, topic)

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    is_open = Feedback.status.in_(OPEN)
    reopened = func.coalesce(Feedback.reopen_count, 0) > 0
    rec = func.coalesce(func.nullif(Feedback.recurrence, ""), "single")
    res_due = Feedback.created_at < bindparam("res_cut")
    counts = select(
        Feedback.day, func.count(),
        *(n(Feedback.priority == p) for p in PRIORITIES), *(n(rec == k) for k in RECURRENCE),
        n(and_(Feedback.acknowledged_at.is_(None), Feedback.created_at < bindparam("ack_cut"))),
        n(and_(Feedback.resolved_at.is_(None), res_due)),
        n(or_(Feedback.resolved_at.is_not(None), reopened, Feedback.status.in_(("resolved", "closed")))),
        n(reopened), n(is_open), n(and_(is_open, res_due)),
        *(n(and_(is_open, Feedback.priority == p)) for p in PRIORITIES),
    ).where(*conds).group_by(Feedback.day)
    done = select(Feedback.day, Feedback.created_at, Feedback.acknowledged_at, Feedback.resolved_at,
                  Feedback.handling_rating).where(
        *conds, or_(Feedback.acknowledged_at.is_not(None), Feedback.resolved_at.is_not(None),
                    Feedback.handling_rating.is_not(None)))
    return counts, done


def day_tallies(
    session: Session,
    start: date | None,
    end: date | None,
    *,
    now: datetime,
    ack_sla_hours: float = 24.0,
    sla_hours: float = 72.0,
    filters: Mapping[str, str | Sequence[str] | None] | None = None,
) -> dict[date, Tally]:
    """``tally`` of the tracked complaints filed on each day of [start, end], counted by the database:
    a row per day and one per complaint acknowledged, resolved or rated, instead of one per complaint."""
    filters = filters or {}
    values = {name: [v] if isinstance(v, str) else list(v) for name in _FILTERS if (v := filters.get(name))}
    topic = filters.get("topic")
    counts_q, done_q = _tally_statements(session.get_bind().dialect.name, start is not None, end is not None,
                                         tuple(values), bool(topic))
    params = {"start": start, "end": end, "topic": topic, **{f"f_{k}": v for k, v in values.items()},
              "ack_cut": now - timedelta(hours=ack_sla_hours), "res_cut": now - timedelta(hours=sla_hours)}
    out: dict[date, Tally] = {}
    np_, nr = len(PRIORITIES), len(RECURRENCE)
    for r in session.execute(counts_q, params):
        c = [int(x or 0) for x in r[1:]]
        t = out[r[0]] = Tally(volume=c[0])
        t.by_priority = dict(zip(PRIORITIES, c[1 : 1 + np_], strict=True))
        t.by_recurrence = dict(zip(RECURRENCE, c[1 + np_ : 1 + np_ + nr], strict=True))
        (t.ack_open_due, t.res_open_due, t.ever_resolved, t.reopened, t.open, t.overdue) = c[1 + np_ + nr : 7 + np_ + nr]
        t.backlog = dict(zip(PRIORITIES, c[7 + np_ + nr :], strict=True))
    for day, created, acked, resolved, rating in session.execute(done_q, params):
        t = out[day]
        if acked is not None:
            t.ack.append(hours(created, acked))
        if resolved is not None:
            t.res.append(hours(created, resolved))
        if rating is not None:
            t.ratings.append(float(rating))
    return out


def load_rows(
    session: Session,
    start: date | None = None,
    end: date | None = None,
    *,
    with_topics: bool = True,
    **filters: str | Sequence[str] | None,
) -> list[ComplaintTimes]:
    """Tracked complaints filed on days [start, end] (store-local days), with their topics.

    Filters are one value or a sequence of values (any of them) per column. ``with_topics=False`` leaves
    ``topics`` empty (one query fewer, for callers that do not group by topic).
    """
    values = {name: [v] if isinstance(v, str) else list(v) for name in _FILTERS if (v := filters.get(name))}
    topic = filters.get("topic")
    rows_q, topics_q = _load_statements(session.get_bind().dialect.name, start is not None, end is not None,
                                        tuple(values), bool(topic))
    params = {"start": start, "end": end, "topic": topic, **{f"f_{k}": v for k, v in values.items()}}
    rows = session.execute(rows_q, params).all()
    topics: dict[int, set[str]] = defaultdict(set)
    if rows and with_topics:
        # one join with the same conditions (not thousands of IN-chunks): the year-long window stays fast
        for fid, name, pol in session.execute(topics_q, params):
            topics[fid].add((name, pol))
    # the columns are ComplaintTimes' fields in order: built positionally (keywords cost most of a large window)
    out = []
    for r in rows:
        ts = topics.get(r[0])
        neg: tuple[str, ...] = ()
        if ts:
            neg = tuple(sorted({t for t, p in ts if p == "neg"}) or sorted({t for t, _ in ts}))
        out.append(ComplaintTimes(*r[:8], r[8] or 0, *r[9:], neg))
    return out


def group_rows(rows: Sequence[ComplaintTimes], by: str) -> dict[str, list[ComplaintTimes]]:
    """Rows per value of ``by`` (a complaint about two topics counts in both; missing → ``(none)``)."""
    if by not in GROUP_BY:
        raise BazkhordError("indicators.bad_group", f"by must be one of {', '.join(GROUP_BY)}", {"by": by}, 422)
    groups: dict[str, list[ComplaintTimes]] = defaultdict(list)
    for r in rows:
        keys = r.topics if by == "topic" else (getattr(r, by),)
        for k in keys or (None,):
            groups[k or "(none)"].append(r)
    return dict(sorted(groups.items()))


def process_indicators(
    session: Session,
    *,
    start: date | None = None,
    end: date | None = None,
    period: str | None = "month",
    calendar: str = "jalali",
    by: str | None = None,
    ack_sla_hours: float = 24.0,
    sla_hours: float = 72.0,
    min_n: int = 30,
    now: datetime | None = None,
    filters: Mapping[str, str | Sequence[str] | None] | None = None,
) -> dict:
    """Overall process indicators, per period (Jalali or Gregorian) and per group (segment, topic, ...)."""
    if period:
        check(period, calendar)
    if start and end and start > end:
        raise BazkhordError("indicators.bad_range", "start must not be after end.", {"start": str(start), "end": str(end)}, 422)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    rows = load_rows(session, start, end, with_topics=by == "topic", **(filters or {}))
    kw = {"now": now, "ack_sla_hours": ack_sla_hours, "sla_hours": sla_hours, "min_n": min_n}
    out: dict = {
        "range": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "calendar": calendar,
        "period": period,
        "min_n": min_n,
        "overall": compute(rows, **kw),
    }
    if period:
        buckets: dict[str, list[ComplaintTimes]] = defaultdict(list)
        labels = {}
        for r in rows:
            p = period_of(r.day or r.created_at.date(), period, calendar)
            buckets[p.key].append(r)
            labels[p.key] = p
        # one period holding every row (a day's or a month's dashboard) has the overall figures
        out["periods"] = [{**labels[k].to_dict(), **(out["overall"] if len(buckets[k]) == len(rows) else compute(buckets[k], **kw))}
                          for k in sorted(buckets)]
    if by:
        out["by"] = by
        out["groups"] = [{"key": k, **compute(g, **kw)} for k, g in group_rows(rows, by).items()]
    return out


def complaint_summary(
    session: Session,
    start: date | None,
    end: date | None,
    filters: Mapping[str, Sequence[str]] | None = None,
    period: str | None = "month",
    calendar: str = "jalali",
    min_n: int = 30,
    ack_sla_hours: float = 24.0,
    sla_hours: float = 72.0,
    now: datetime | None = None,
) -> dict:
    """The complaint-handling block of ``/v1/indicators``: overall figures and the period series (what
    ``process_indicators`` gives, from per-day counts: a dashboard answer no longer reads every tracked
    complaint of its window)."""
    if period:
        check(period, calendar)
    if start and end and start > end:
        raise BazkhordError("indicators.bad_range", "start must not be after end.", {"start": str(start), "end": str(end)}, 422)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    days = day_tallies(session, start, end, now=now, ack_sla_hours=ack_sla_hours, sla_hours=sla_hours,
                       filters=dict(filters or {}))
    kw = {"ack_sla_hours": ack_sla_hours, "sla_hours": sla_hours, "min_n": min_n}
    overall = Tally()
    buckets: dict[str, Tally] = {}
    labels = {}
    for day in sorted(days):
        t = days[day]
        if period:
            p = period_of(day, period, calendar)
            labels[p.key] = p
            buckets.setdefault(p.key, Tally()).add(t)
        overall.add(t)
    out = figures(overall, **kw)
    series = [{**labels[k].to_dict(), **(out if len(buckets) == 1 else figures(buckets[k], **kw))} for k in sorted(buckets)]
    return {"overall": out, "series": series}


def complaint_review(
    session: Session,
    start: date,
    end: date,
    filters: Mapping[str, Sequence[str]] | None = None,
    calendar: str = "jalali",
    min_n: int = 30,
    ack_sla_hours: float = 24.0,
    sla_hours: float = 72.0,
) -> dict:
    """The management-review section: window figures, monthly trend and figures per topic."""
    out = process_indicators(
        session, start=start, end=end, period="month", calendar=calendar, by="topic", min_n=min_n,
        ack_sla_hours=ack_sla_hours, sla_hours=sla_hours, filters=dict(filters or {}),
    )
    return {"overall": out["overall"], "trend": out["periods"], "topics": out["groups"]}


def _fig_cells(f: Mapping) -> list:
    return [f.get("value"), f.get("ci_low"), f.get("ci_high"), f.get("n"), "yes" if f.get("insufficient_data") else ""]


def review_sheets(section: Mapping | None) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) for the management-review workbook's complaint-handling sheets."""
    if not section:
        return []
    o = section["overall"]
    figs = [
        ("time_to_acknowledge_median_h", o["time_to_acknowledge_hours"]["median"]),
        ("time_to_acknowledge_p90_h", o["time_to_acknowledge_hours"]["p90"]),
        ("time_to_resolve_median_h", o["time_to_resolve_hours"]["median"]),
        ("time_to_resolve_p90_h", o["time_to_resolve_hours"]["p90"]),
        ("acknowledged_within_sla_pct", o["acknowledged_within_sla"]),
        ("resolved_within_sla_pct", o["resolved_within_sla"]),
        ("reopen_rate_pct", o["reopen_rate"]),
        ("handling_rating_mean", o["handling_satisfaction"]["mean_rating"]),
        ("handling_satisfied_pct", o["handling_satisfaction"]["satisfied"]),
    ]
    summary = [[k, *_fig_cells(f)] for k, f in figs]
    summary += [["volume", o["volume"]], ["backlog_open", o["backlog"]["open"]], ["backlog_overdue", o["backlog"]["overdue"]]]
    summary += [[f"backlog_{p}", n] for p, n in o["backlog"]["by_priority"].items()]
    summary += [[f"recurrence_{k}", n] for k, n in o["by_recurrence"].items()]
    summary += [["sla_hours_acknowledge", o["sla_hours"]["acknowledge"]], ["sla_hours_resolve", o["sla_hours"]["resolve"]]]

    def line(key: str, label: str, r: Mapping) -> list:
        return [key, label, r["volume"], r["time_to_resolve_hours"]["median"]["value"], r["time_to_resolve_hours"]["p90"]["value"],
                r["resolved_within_sla"]["value"], r["reopen_rate"]["value"], r["handling_satisfaction"]["mean_rating"]["value"],
                r["backlog"]["open"]]

    head = ["key", "label", "complaints", "resolve_median_h", "resolve_p90_h", "resolved_within_sla_pct", "reopen_rate_pct",
            "handling_rating", "open"]
    return [
        ("complaint_handling", ["indicator", "value", "ci_low", "ci_high", "n", "insufficient_data"], summary),
        ("complaint_trend", head, [line(p["period"], p["label_fa"], p) for p in section["trend"]]),
        ("complaint_topics", head, [line(t["key"], t["key"], t) for t in section["topics"]]),
    ]


__all__ = [
    "GROUP_BY",
    "ComplaintTimes",
    "Tally",
    "complaint_review",
    "complaint_summary",
    "compute",
    "day_tallies",
    "figures",
    "group_rows",
    "hours",
    "load_rows",
    "process_indicators",
    "quantile",
    "review_sheets",
    "tally",
]
