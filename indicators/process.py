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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache

from scipy import stats as _st
from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from indicators import stats
from indicators.periods import check, period_of
from nlp.errors import BazkhordError
from store.schema import PRIORITIES, RECURRENCE, Feedback, TopicMention

OPEN = ("received", "acknowledged", "in_progress", "reopened")
GROUP_BY = ("segment", "product", "channel", "topic", "priority")


@dataclass(frozen=True, slots=True)
class ComplaintTimes:
    """The columns of one complaint the process indicators need."""

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


def within_sla(rows: Iterable[ComplaintTimes], done_at: Callable[[ComplaintTimes], datetime | None], sla_hours: float, now: datetime, min_n: int) -> stats.Figure:
    """Percent of due complaints (done, or open past the deadline) done within ``sla_hours``."""
    due = hit = 0
    for r in rows:
        t = done_at(r)
        if t is not None:
            due += 1
            hit += hours(r.created_at, t) <= sla_hours
        elif hours(r.created_at, now) > sla_hours:
            due += 1
    return stats.wilson(hit, due, min_n)


def compute(
    rows: Sequence[ComplaintTimes],
    *,
    now: datetime,
    ack_sla_hours: float = 24.0,
    sla_hours: float = 72.0,
    min_n: int = 30,
) -> dict:
    """Every process indicator of one slice of complaints."""
    ack = [hours(r.created_at, r.acknowledged_at) for r in rows if r.acknowledged_at is not None]
    res = [hours(r.created_at, r.resolved_at) for r in rows if r.resolved_at is not None]
    ever_resolved = [r for r in rows if r.resolved_at is not None or r.reopen_count > 0 or r.status in ("resolved", "closed")]
    reopened = sum(1 for r in ever_resolved if r.reopen_count > 0)
    open_rows = [r for r in rows if r.status in OPEN]
    ratings = [float(r.handling_rating) for r in rows if r.handling_rating is not None]
    backlog = {p: 0 for p in PRIORITIES}
    for r in open_rows:
        if r.priority in backlog:
            backlog[r.priority] += 1
    return {
        "volume": len(rows),
        "by_priority": {p: sum(1 for r in rows if r.priority == p) for p in PRIORITIES},
        "by_recurrence": {k: sum(1 for r in rows if (r.recurrence or "single") == k) for k in RECURRENCE},
        "time_to_acknowledge_hours": _duration_block(ack, min_n),
        "time_to_resolve_hours": _duration_block(res, min_n),
        "acknowledged_within_sla": within_sla(rows, lambda r: r.acknowledged_at, ack_sla_hours, now, min_n).to_dict(),
        "resolved_within_sla": within_sla(rows, lambda r: r.resolved_at, sla_hours, now, min_n).to_dict(),
        "reopen_rate": stats.wilson(reopened, len(ever_resolved), min_n).to_dict(),
        "backlog": {
            "open": len(open_rows),
            "overdue": sum(1 for r in open_rows if hours(r.created_at, now) > sla_hours),
            "by_priority": backlog,
        },
        "handling_satisfaction": {
            "mean_rating": stats.mean(sum(ratings), sum(x * x for x in ratings), len(ratings), min_n).to_dict(),
            "satisfied": stats.wilson(sum(1 for x in ratings if x >= 4), len(ratings), min_n).to_dict(),
        },
        "sla_hours": {"acknowledge": ack_sla_hours, "resolve": sla_hours},
    }


_FILTERS = ("segment", "product", "channel", "region", "kind", "priority")
# ComplaintTimes' fields in order, up to topics
_TIMES = (
    Feedback.id, Feedback.created_at, Feedback.status, Feedback.day, Feedback.acknowledged_at, Feedback.resolved_at,
    Feedback.priority, Feedback.recurrence, Feedback.reopen_count, Feedback.handling_rating,
    Feedback.segment, Feedback.product, Feedback.channel,
)


@cache
def _load_statements(dialect: str, has_start: bool, has_end: bool, filters: tuple[str, ...], topic: bool):
    """``load_rows``' two statements (complaints; their topic mentions) for one form of query, built once
    (every dashboard answer runs them); values as parameters: start, end, f_<filter>, topic."""
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
    mentions = (select(TopicMention.feedback_id, TopicMention.topic, TopicMention.polarity)
                .join(Feedback, Feedback.id == TopicMention.feedback_id).where(*conds))
    return select(*_TIMES).where(*conds), mentions


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
) -> dict:
    """The complaint-handling block of ``/v1/indicators``: overall figures and the period series."""
    out = process_indicators(
        session, start=start, end=end, period=period, calendar=calendar, min_n=min_n,
        ack_sla_hours=ack_sla_hours, sla_hours=sla_hours, filters=dict(filters or {}),
    )
    return {"overall": out["overall"], "series": out.get("periods", [])}


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
    "complaint_review",
    "complaint_summary",
    "compute",
    "group_rows",
    "hours",
    "load_rows",
    "process_indicators",
    "quantile",
    "review_sheets",
    "within_sla",
]
