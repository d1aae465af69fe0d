"""SQL aggregation: additive sums per (period, slice) from the rollups, or the raw tables when needed.

Slices by kind/segment/channel are answered from the daily rollups; product and region (not kept in
the rollups, their cardinality would defeat them) fall back to the raw tables, with the same sums.
Periods are grouped in SQL where the calendar key allows it (``yyyymmdd // 100`` is a month) and the
few resulting rows are bucketed into weeks/quarters in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from indicators.periods import Period, date_of_key, period_of, periods_between
from indicators.rollup import GRAINS, ensure_fresh, rating5, rollup_delta, top2, topic_mention_sums
from nlp.errors import BazkhordError
from store.schema import Feedback, FeedbackRollup, TopicMention, TopicRollup

DIMENSIONS = ("kind", "segment", "channel", "product", "region")
FEEDBACK_SUMS = (
    "n", "n_analyzed", "pos", "neu", "neg", "abstained", "n_rated", "top2",
    "rating_sum", "rating_sq_sum", "n_nps", "promoters", "detractors", "complaints",
)
# per topic and polarity (what consumers get); the rec_*/rated/top2/rating_sum of the records behind them
TOPIC_SUMS = ("mentions", "rec_pos", "rec_neu", "rec_neg", "rated", "top2", "rating_sum")
# what the rollup (and the raw path) sums per topic: polarity folded into columns
_FOLDED = ("pos", "neu", "neg", "neg_rec_pos", "neg_rec_neu", "neg_rec_neg", "neg_rated", "neg_top2", "neg_rating_sum")
NONE_GROUP = "—"  # the group of records without a value for the group_by dimension


@dataclass(frozen=True)
class Slice:
    """A time window (inclusive days) and equality filters ``{dimension: (values...)}``."""

    start: date | None = None
    end: date | None = None
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k in self.filters:
            if k not in DIMENSIONS:
                raise BazkhordError("indicators.bad_filter", f"unknown filter '{k}'", {"allowed": list(DIMENSIONS)}, 422)
        if self.start and self.end and self.start > self.end:
            raise BazkhordError("indicators.bad_window", "'from' is after 'to'", {"from": str(self.start), "to": str(self.end)}, 422)

    def grain(self, group_by: str | None) -> str | None:
        """The smallest rollup grain holding every dimension this query needs; None = the raw tables."""
        dims = set(self.filters) | ({group_by} if group_by else set())
        for grain, have in GRAINS.items():
            if dims <= set(have):
                return grain
        return None


def _check_group(group_by: str | None) -> None:
    if group_by is not None and group_by not in DIMENSIONS:
        raise BazkhordError("indicators.bad_group_by", f"group_by must be one of {', '.join(DIMENSIONS)}", {"group_by": group_by}, 422)


def _flag(cond):
    return func.sum(case((cond, 1), else_=0))


@cache
def _feedback_source(grain: str | None):
    """(table-like, {dim: column}, day column, {calendar: int day key or None}, [sum expressions], [conditions]).

    Cached per grain (read-only for callers): building the dozen SUM expressions cost more than running them.
    """
    if grain is None:
        rated = Feedback.rating.is_not(None)
        r5 = rating5()
        sums = [
            func.count().label("n"),
            _flag(Feedback.sentiment.is_not(None)).label("n_analyzed"),
            _flag(Feedback.sentiment == "pos").label("pos"),
            _flag(Feedback.sentiment == "neu").label("neu"),
            _flag(Feedback.sentiment == "neg").label("neg"),
            _flag(Feedback.abstained.is_(True)).label("abstained"),
            _flag(rated).label("n_rated"),
            func.sum(top2()).label("top2"),
            func.sum(case((rated, r5), else_=0.0)).label("rating_sum"),
            func.sum(case((rated, r5 * r5), else_=0.0)).label("rating_sq_sum"),
            _flag(Feedback.nps.is_not(None)).label("n_nps"),
            _flag(Feedback.nps >= 9).label("promoters"),
            _flag(Feedback.nps <= 6).label("detractors"),
            _flag(Feedback.kind == "complaint").label("complaints"),
        ]
        dims = {d: getattr(Feedback, d) for d in DIMENSIONS}
        return Feedback, dims, Feedback.day, {"jalali": Feedback.jalali_day, "gregorian": None}, sums, []
    R = FeedbackRollup
    sums = [func.sum(getattr(R, c)).label(c) for c in FEEDBACK_SUMS]
    dims = {d: getattr(R, d) for d in GRAINS[grain]}
    return R, dims, R.day, {"jalali": R.jday, "gregorian": R.gday}, sums, [R.grain == grain]


@cache
def _topic_source(grain: str | None):
    if grain is None:
        sums = topic_mention_sums()
        dims = {d: getattr(TopicMention, d) for d in DIMENSIONS}
        return TopicMention, dims, TopicMention.day, {"jalali": TopicMention.jalali_day, "gregorian": None}, sums, []
    R = TopicRollup
    sums = [func.sum(getattr(R, c)).label(c) for c in _FOLDED]
    dims = {d: getattr(R, d) for d in GRAINS[grain]}
    return R, dims, R.day, {"jalali": R.jday, "gregorian": R.gday}, sums, [R.grain == grain]


def _period_key(day_col, int_key, period: str):
    """SQL expression grouping at the finest level that still nests in ``period``."""
    if int_key is None:
        return day_col
    if period in ("day", "week"):
        return int_key
    if period in ("month", "quarter"):
        return int_key // 100
    return int_key // 10000


def _shape(sl: Slice) -> tuple:
    """The form of ``sl``'s conditions: which bounds it has and, per filter, whether it lists values and
    whether it asks for the records without one. Statements are built once per form (``_statement``);
    the values go in as parameters (``_params``)."""
    filters = tuple(sorted((k, any(v != NONE_GROUP for v in vs), NONE_GROUP in vs) for k, vs in sl.filters.items()))
    return sl.start is not None, sl.end is not None, filters


def _params(sl: Slice, **more) -> dict:
    """The parameters of a statement built for ``_shape(sl)``."""
    out = {"start": sl.start, "end": sl.end, **more}
    for k, values in sl.filters.items():
        out[f"f_{k}"] = [v for v in values if v != NONE_GROUP]
    return out


def _where(q, shape: tuple, dims: dict, day_col):
    has_start, has_end, filters = shape
    if has_start:
        q = q.where(day_col >= bindparam("start"))
    if has_end:
        q = q.where(day_col <= bindparam("end"))
    for k, has_values, has_none in filters:
        col = dims[k]
        cond = col.in_(bindparam(f"f_{k}", expanding=True)) if has_values else None
        if has_none:
            cond = col.is_(None) if cond is None else (cond | col.is_(None))
        q = q.where(cond)
    return q


@cache
def _statement(of: str, grain: str | None, group_by: str | None, period: str | None, calendar: str, shape: tuple,
               part: str = "all"):
    """The SUM query of ``feedback_sums`` (``of`` "feedback") or ``topic_sums`` ("topics") for one form
    of slice, built once (building one cost more than running it on a rollup). ``part``: "all" (the
    rows of ``grain``'s source in the window), "month" (a rollup's month rows, ``months`` = their first
    days) or "after" (the raw records the rollups do not hold yet: ``after_lo`` < id <= ``after_hi``)."""
    topics = of == "topics"
    source = _topic_source if topics else _feedback_source
    src, dims, day_col, int_keys, sums, conds = source(None if part == "after" else grain)
    keys = [src.topic] if topics else []
    if period:
        keys.append(_period_key(day_col, int_keys[calendar], period))
    if group_by:
        keys.append(dims[group_by])
    q = select(*keys, *sums).select_from(src)
    if part == "month":
        q = q.where(src.grain == "month", src.day.in_(bindparam("months", expanding=True)))
    else:
        q = q.where(*conds)
    if src is TopicMention:
        q = q.join(Feedback, Feedback.id == TopicMention.feedback_id)
    if part == "after":
        q = q.where(_after(TopicMention.feedback_id if topics else Feedback.id))
    q = _where(q, shape, dims, day_col)
    return q.group_by(*keys) if keys else q


def _sum_rows(session: Session, of: str, sl: Slice, group_by: str | None, period: str | None, calendar: str) -> list:
    """The SQL rows of ``feedback_sums`` / ``topic_sums``: from the rollup of the slice's grain (whole
    Jalali months from its month rows, the days before and after them from its daily rows: two index
    ranges, where an OR of both would scan the whole window), plus the records it does not hold yet."""
    grain = sl.grain(group_by)
    shape = _shape(sl)
    months = _month_rows_for(sl, grain, period, calendar)
    rows: list = []
    if months:
        daily = _statement(of, grain, group_by, period, calendar, (True, True, shape[2]))
        head = (sl.start, months[0].start - timedelta(days=1))
        tail = (months[-1].end + timedelta(days=1), sl.end)
        for window in (head, None, tail):
            if window is None:
                stmt = _statement(of, grain, group_by, period, calendar, (False, False, shape[2]), "month")
                rows += session.execute(stmt, _params(sl, months=[m.start for m in months])).all()
            elif window[0] <= window[1]:
                rows += session.execute(daily, _params(Slice(*window, sl.filters))).all()
    else:
        rows = session.execute(_statement(of, grain, group_by, period, calendar, shape), _params(sl)).all()
    after = rollup_delta(session) if grain is not None else None
    if after is not None:
        stmt = _statement(of, None, group_by, period, calendar, shape, "after")
        rows += session.execute(stmt, _params(sl, after_lo=after[0], after_hi=after[1])).all()
    return rows


def _bucket(rows, n_keys: int, sums: tuple[str, ...], period: str | None, calendar: str, key_index: int | None):
    """Add up SQL rows whose group keys map to the same (Period, other keys...)."""
    out: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(sums, 0))
    for r in rows:
        keys = list(r[:n_keys])
        if key_index is not None:
            keys[key_index] = period_of(date_of_key(keys[key_index], calendar), period, calendar)  # type: ignore[arg-type]
        key = tuple(keys)
        acc = out.get(key)
        if acc is None:  # the first row of a key (most keys have one): 0 + keeps the types of the sums below
            out[key] = {s: 0 + (v or 0) for s, v in zip(sums, r[n_keys:], strict=True)}
            continue
        for s, v in zip(sums, r[n_keys:], strict=True):
            acc[s] += v or 0
    return out


def feedback_sums(
    session: Session, sl: Slice, group_by: str | None = None, period: str | None = None, calendar: str = "jalali"
) -> dict[tuple, dict]:
    """Sums keyed by ``(Period?, group value?)`` (each part present when asked for)."""
    _check_group(group_by)
    ensure_fresh(session)
    rows = _sum_rows(session, "feedback", sl, group_by, period, calendar)
    n_keys = bool(period) + bool(group_by)
    return _bucket(rows, n_keys, FEEDBACK_SUMS, period, calendar, 0 if period else None)


def _after(id_col):
    """``after_lo < id_col <= after_hi``: the records the rollups do not hold yet (``rollup_delta``). Bounded
    on both sides, the id range is what SQLite's planner picks (the rowid, topic_mentions.feedback_id);
    with one bound it walked the day index over the whole window for the few new records."""
    return and_(id_col > bindparam("after_lo"), id_col <= bindparam("after_hi"))


def topic_sums(session: Session, sl: Slice, group_by: str | None = None, period: str | None = None, calendar: str = "jalali") -> dict[tuple, dict]:
    """Sums keyed by ``(topic, polarity, Period?, group value?)``: ``TOPIC_SUMS`` of the mentions with that
    polarity (``rec_*``, ``rated``, ``top2``, ``rating_sum`` are kept for negative mentions only)."""
    _check_group(group_by)
    ensure_fresh(session)
    rows = _sum_rows(session, "topics", sl, group_by, period, calendar)
    n_keys = 1 + bool(period) + bool(group_by)
    folded = _bucket(rows, n_keys, _FOLDED, period, calendar, 1 if period else None)
    out: dict[tuple, dict] = {}
    for key, f in folded.items():
        topic, rest = key[0], key[1:]
        for pol in ("pos", "neu", "neg"):
            if not f[pol]:
                continue
            acc = out.setdefault((topic, pol, *rest), dict.fromkeys(TOPIC_SUMS, 0))
            acc["mentions"] += f[pol]
            if pol == "neg":
                acc["rec_pos"] += f["neg_rec_pos"]
                acc["rec_neu"] += f["neg_rec_neu"]
                acc["rec_neg"] += f["neg_rec_neg"]
                acc["rated"] += f["neg_rated"]
                acc["top2"] += f["neg_top2"]
                acc["rating_sum"] += f["neg_rating_sum"]
    return out


def _month_rows_for(sl: Slice, grain: str | None, period: str | None, calendar: str) -> list[Period]:
    """The whole Jalali months that month rows can answer for this query: the rollup's month rows are per
    segment, and serve periods that Jalali months nest in (or no period at all)."""
    nests = period is None or (calendar == "jalali" and period in ("month", "quarter", "year"))
    return _full_jalali_months(sl) if grain == "segment" and nests else []


def _full_jalali_months(sl: Slice) -> list[Period]:
    """The Jalali months lying wholly inside the slice's window, in order."""
    if sl.start is None or sl.end is None:
        return []
    return [p for p in periods_between(sl.start, sl.end, "month", "jalali") if p.start >= sl.start and p.end <= sl.end]


# two statements: each MIN/MAX alone is answered from the (grain, day) index
_FIRST_DAY = select(func.min(FeedbackRollup.day)).where(FeedbackRollup.grain == "segment")
_LAST_DAY = select(func.max(FeedbackRollup.day)).where(FeedbackRollup.grain == "segment")
_NEW_DAYS = select(func.min(Feedback.day), func.max(Feedback.day)).where(_after(Feedback.id))


def data_range(session: Session) -> tuple[date | None, date | None]:
    """First and last day with feedback (from the rollup's indexed day column)."""
    ensure_fresh(session)
    lo, hi = session.scalar(_FIRST_DAY), session.scalar(_LAST_DAY)
    if isinstance(lo, str):
        lo, hi = date.fromisoformat(lo), date.fromisoformat(hi)
    after = rollup_delta(session)
    if after is not None:  # and the days of the records the rollups do not hold yet
        new_lo, new_hi = session.execute(_NEW_DAYS, {"after_lo": after[0], "after_hi": after[1]}).one()
        if new_lo is not None:
            lo, hi = min(d for d in (lo, new_lo) if d is not None), max(d for d in (hi, new_hi) if d is not None)
    return lo, hi


def group_value(v) -> str:
    return NONE_GROUP if v is None else str(v)


__all__ = [
    "DIMENSIONS",
    "FEEDBACK_SUMS",
    "NONE_GROUP",
    "TOPIC_SUMS",
    "Period",
    "Slice",
    "data_range",
    "feedback_sums",
    "group_value",
    "topic_sums",
]
