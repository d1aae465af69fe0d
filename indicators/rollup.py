"""Daily rollups of ``feedback`` and ``topic_mentions``: what keeps indicators fast on millions of rows.

The rollup tables hold, per day and slice (kind, segment, channel), additive sums (counts, rating
sums, sentiment counts), so any period or slice is a SUM over a few thousand rows instead of a scan
of every record. They are a cache of the raw tables, recomputed one whole day at a time:

- rows inserted or (re)analysed since the last refresh are found by two watermarks on indexed
  columns (``feedback.id`` and ``feedback.analyzed_at``), so any writer (API, CLI import, a script)
  is picked up without hooks;
- ORM updates and deletes of feedback/topic mentions mark their days dirty (a flush hook), for
  changes the watermarks cannot see;
- ``ensure_fresh`` runs before every indicator query (once per answer inside ``fresh_rollups``) and
  refreshes just those days.

Beside the daily rows, both tables hold rows of grain ``month`` (Jalali month x segment), summed from
the daily ``segment`` rows whenever a day of the month is refreshed: windows of whole Jalali months read
a dozen rows per segment. Rollups written before the feedback month rows existed get them on first use.
All workers of a database must run this version (an older one would not keep the month rows up to date).

``rebuild`` recomputes everything (CLI: ``bazkhord indicators rebuild``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import cache

from sqlalchemy import (
    Date,
    Float,
    and_,
    bindparam,
    case,
    cast,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from indicators.periods import jalali_day
from store.db import serialized_writes
from store.schema import (
    Feedback,
    FeedbackRollup,
    RollupDirtyDay,
    RollupState,
    TopicMention,
    TopicRollup,
)

_CHUNK = 200  # days per refresh statement (keeps IN lists short)


def rating5():
    """The rating rescaled to 1..5 (scale defaults to 5), as a SQL expression."""
    scale = func.coalesce(Feedback.rating_scale, 5)
    return case((scale > 1, 1.0 + 4.0 * (cast(Feedback.rating, Float) - 1.0) / (scale - 1.0)), else_=cast(Feedback.rating, Float))


def top2():
    """1 when the rating is in the top two boxes of its scale (4-5 of 5, 9-10 of 10), else 0."""
    scale = func.coalesce(Feedback.rating_scale, 5)
    return case((and_(Feedback.rating.is_not(None), Feedback.rating >= scale - 1), 1), else_=0)


def _flag(cond):
    return func.sum(case((cond, 1), else_=0))


def topic_mention_sums() -> list:
    """Per-topic aggregates over topic_mentions joined with feedback: written to the rollup, and computed
    live by queries that the rollup cannot answer (product/region filters)."""
    rated = Feedback.rating.is_not(None)
    neg = TopicMention.polarity == "neg"
    return [
        _flag(TopicMention.polarity == "pos").label("pos"),
        _flag(TopicMention.polarity == "neu").label("neu"),
        _flag(neg).label("neg"),
        _flag(neg & (Feedback.sentiment == "pos")).label("neg_rec_pos"),
        _flag(neg & (Feedback.sentiment == "neu")).label("neg_rec_neu"),
        _flag(neg & (Feedback.sentiment == "neg")).label("neg_rec_neg"),
        _flag(neg & rated).label("neg_rated"),
        func.sum(case((neg, top2()), else_=0)).label("neg_top2"),
        func.coalesce(func.sum(case((neg & rated, rating5()), else_=0.0)), 0.0).label("neg_rating_sum"),
    ]


# The two grains kept: (dimensions of the rollup row). Queries use the smallest that has what they need.
GRAINS: dict[str, tuple[str, ...]] = {"segment": ("segment",), "slice": ("kind", "segment", "channel")}


# Selections of rows to aggregate, by bind parameters: "days" (expanding list) or "ids" (lo < id <= hi).
def _where(by: str, day_col, id_col):
    if by == "days":
        return day_col.in_(bindparam("days", expanding=True))
    return and_(id_col > bindparam("lo"), id_col <= bindparam("hi"))


# The aggregate statements are built once per (grain, selection): building them (dozens of CASE
# expressions) cost more than running them on the few records of an incremental refresh.
@cache
def _feedback_rows_stmt(grain: str, by: str):
    rated = Feedback.rating.is_not(None)
    r5 = rating5()
    dims = [getattr(Feedback, d) for d in GRAINS[grain]]
    return (
        select(
            Feedback.day,
            *dims,
            func.count().label("n"),
            _flag(Feedback.sentiment.is_not(None)).label("n_analyzed"),
            _flag(Feedback.sentiment == "pos").label("pos"),
            _flag(Feedback.sentiment == "neu").label("neu"),
            _flag(Feedback.sentiment == "neg").label("neg"),
            _flag(Feedback.abstained.is_(True)).label("abstained"),
            _flag(Feedback.kind == "complaint").label("complaints"),
            _flag(rated).label("n_rated"),
            func.sum(top2()).label("top2"),
            func.coalesce(func.sum(case((rated, r5), else_=0.0)), 0.0).label("rating_sum"),
            func.coalesce(func.sum(case((rated, r5 * r5), else_=0.0)), 0.0).label("rating_sq_sum"),
            _flag(Feedback.nps.is_not(None)).label("n_nps"),
            _flag(Feedback.nps >= 9).label("promoters"),
            _flag(Feedback.nps <= 6).label("detractors"),
        )
        .where(_where(by, Feedback.day, Feedback.id))
        .group_by(Feedback.day, *dims)
    )


@cache
def _topic_rows_stmt(grain: str, by: str):
    dims = [getattr(TopicMention, d) for d in GRAINS[grain]]
    return (
        select(
            TopicMention.day,
            TopicMention.topic,
            *dims,
            *topic_mention_sums(),
        )
        .join(Feedback, Feedback.id == TopicMention.feedback_id)
        .where(_where(by, TopicMention.day, TopicMention.feedback_id))
        .group_by(TopicMention.day, TopicMention.topic, *dims)
    )


def _feedback_rows(session: Session, grain: str, by: str, **params) -> list[dict]:
    return [_with_keys(dict(r._mapping), grain) for r in session.execute(_feedback_rows_stmt(grain, by), params)]


def _topic_rows(session: Session, grain: str, by: str, **params) -> list[dict]:
    return [_with_keys(dict(r._mapping), grain) for r in session.execute(_topic_rows_stmt(grain, by), params)]


def _with_keys(row: dict, grain: str) -> dict:
    d = row["day"]
    if isinstance(d, str):  # SQLite without type affinity on raw aggregates
        d = date.fromisoformat(d)
        row["day"] = d
    row["grain"] = grain
    row["gday"] = d.year * 10000 + d.month * 100 + d.day
    row["jday"] = jalali_day(d)
    for k, v in row.items():
        if v is None and k not in ("kind", "segment", "channel"):
            row[k] = 0
    return row


_TOPIC_COLS = ("pos", "neu", "neg", "neg_rec_pos", "neg_rec_neu", "neg_rec_neg", "neg_rated", "neg_top2", "neg_rating_sum")
_FEEDBACK_COLS = (
    "n", "n_analyzed", "pos", "neu", "neg", "abstained", "complaints", "n_rated", "top2",
    "rating_sum", "rating_sq_sum", "n_nps", "promoters", "detractors",
)


@cache
def _month_sums_stmt(R):
    cols, dims = (_TOPIC_COLS, (TopicRollup.topic,)) if R is TopicRollup else (_FEEDBACK_COLS, ())
    return (
        select(*dims, R.segment, *[func.sum(getattr(R, c)).label(c) for c in cols])
        .where(R.grain == "segment", R.day >= bindparam("m_start", type_=Date), R.day <= bindparam("m_end", type_=Date))
        .group_by(*dims, R.segment)
    )


def refresh_months(session: Session, days: Iterable[date]) -> None:
    """Recompute the rows of grain ``month`` (Jalali month x segment, dated by the month's first day) of both
    rollups from their daily ``segment`` rows: window totals and monthly series read a dozen month rows per
    segment instead of a year of days."""
    from indicators.periods import period_of

    months = sorted({period_of(d, "month", "jalali") for d in days}, key=lambda m: m.start)
    if not months:
        return
    conn = session.connection()
    starts = [m.start for m in months]
    for R in (TopicRollup, FeedbackRollup):
        session.execute(delete(R).where(R.grain == "month", R.day.in_(starts)))
        for m in months:
            rows = [dict(r._mapping) for r in session.execute(_month_sums_stmt(R), {"m_start": m.start, "m_end": m.end})]
            for r in rows:
                r.update(grain="month", day=m.start, gday=m.start.year * 10000 + m.start.month * 100 + m.start.day,
                         jday=jalali_day(m.start), kind=None, channel=None)
            if rows:
                conn.execute(insert(R.__table__), rows)


def _month_rows_missing(session: Session) -> bool:
    """True for rollups written before feedback month rows existed (daily rows, no month rows)."""
    R = FeedbackRollup
    has = lambda grain: session.scalar(select(R.id).where(R.grain == grain).limit(1)) is not None  # noqa: E731
    return has("segment") and not has("month")


def refresh_days(session: Session, days: Iterable[date]) -> int:
    """Recompute the rollup rows of ``days`` from the raw tables (in the caller's transaction)."""
    todo = sorted(set(days))
    for i in range(0, len(todo), _CHUNK):
        chunk = todo[i : i + _CHUNK]
        # grain IN (...) lets the (grain, day) index find the rows
        session.execute(delete(FeedbackRollup).where(FeedbackRollup.grain.in_(list(GRAINS)), FeedbackRollup.day.in_(chunk)))
        session.execute(delete(TopicRollup).where(TopicRollup.grain.in_(list(GRAINS)), TopicRollup.day.in_(chunk)))
        # Core executemany (not the ORM bulk path): rollups are plain rows, and this is 5x faster
        conn = session.connection()
        for grain in GRAINS:
            rows = _feedback_rows(session, grain, "days", days=chunk)
            if rows:
                conn.execute(insert(FeedbackRollup.__table__), rows)
            rows = _topic_rows(session, grain, "days", days=chunk)
            if rows:
                conn.execute(insert(TopicRollup.__table__), rows)
    refresh_months(session, todo)
    return len(todo)


@cache
def _add_rows_stmts(R, cols: tuple[str, ...], keys: tuple[str, ...]):
    """(the existing rows of a grain and days, the UPDATE adding to a row by id, the INSERT), built once."""
    table = R.__table__
    find = select(R.id, R.day, *[getattr(R, k) for k in keys]).where(
        R.grain == bindparam("grain"), R.day.in_(bindparam("days", expanding=True)))
    add = update(table).where(table.c.id == bindparam("b_id")).values({c: table.c[c] + bindparam(f"v_{c}") for c in cols})
    return find, add, insert(table)


def _add_rows(session: Session, R, cols: tuple[str, ...], keys: tuple[str, ...], rows: list[dict]) -> None:
    """Add the sums of ``rows`` (one grain) to the rollup rows with the same day and keys, inserting the
    rows that do not exist yet: rollup values are plain sums, so new records can be added to them."""
    if not rows:
        return
    find, add, put = _add_rows_stmts(R, cols, keys)
    params = {"grain": rows[0]["grain"], "days": sorted({r["day"] for r in rows})}
    existing = {(e[1], *e[2:]): e[0] for e in session.execute(find, params)}
    updates, inserts = [], []
    for r in rows:
        rid = existing.get((r["day"], *(r[k] for k in keys)))
        if rid is None:
            inserts.append(r)
        else:
            updates.append({"b_id": rid, **{f"v_{c}": r[c] for c in cols}})
    conn = session.connection()
    if updates:
        conn.execute(add, updates)
    if inserts:
        conn.execute(put, inserts)


def _month_deltas(rows: list[dict], cols: tuple[str, ...], keys: tuple[str, ...]) -> list[dict]:
    """Rows of grain ``segment`` summed into rows of grain ``month`` (Jalali month x segment [x topic])."""
    from indicators.periods import period_of

    out: dict[tuple, dict] = {}
    for r in rows:
        m = period_of(r["day"], "month", "jalali").start
        k = (m, *(r[c] for c in keys))
        acc = out.get(k)
        if acc is None:
            acc = out[k] = {"grain": "month", "day": m, "gday": m.year * 10000 + m.month * 100 + m.day,
                            "jday": jalali_day(m), "kind": None, "channel": None, **{c: r[c] for c in keys},
                            **dict.fromkeys(cols, 0)}
        for c in cols:
            acc[c] += r[c]
    return list(out.values())


def add_new_records(session: Session, after_id: int, upto_id: int) -> set[date]:
    """Add the records with ``after_id < id <= upto_id`` (and their topic mentions) to the rollups, daily
    and monthly rows, in the caller's transaction; returns their days. Costs O(new records), where
    ``refresh_days`` recomputes whole days: under steady ingestion the day being filled grows with every
    refresh."""
    days: set[date] = set()
    for grain, dims in GRAINS.items():
        rows = _feedback_rows(session, grain, "ids", lo=after_id, hi=upto_id)
        days |= {r["day"] for r in rows}
        _add_rows(session, FeedbackRollup, _FEEDBACK_COLS, dims, rows)
        topic_rows = _topic_rows(session, grain, "ids", lo=after_id, hi=upto_id)
        _add_rows(session, TopicRollup, _TOPIC_COLS, ("topic", *dims), topic_rows)
        if grain == "segment":  # month rows are sums of the daily segment rows: add the same sums
            _add_rows(session, FeedbackRollup, _FEEDBACK_COLS, ("segment",), _month_deltas(rows, _FEEDBACK_COLS, ("segment",)))
            keys = ("topic", "segment")
            _add_rows(session, TopicRollup, _TOPIC_COLS, keys, _month_deltas(topic_rows, _TOPIC_COLS, keys))
    return days


def _only_new_records(session: Session, state: RollupState | None, max_id: int, max_an: datetime | None) -> bool:
    """Whether everything since the last refresh is new records (no update, no re-analysis, no delete),
    and the database numbers records in commit order, so that they can be added (``add_new_records``).

    SQLite only: it has one writer at a time, so a record committed later always has a higher id. A
    PostgreSQL sequence hands out ids before commit; a lower id committed late would be skipped.
    """
    if state is None or max_id <= state.max_feedback_id or session.get_bind().dialect.name != "sqlite":
        return False
    if session.scalar(_ANY_DIRTY_DAY) is not None:
        return False
    if max_an is not None and max_an != state.max_analyzed_at:
        # records analysed since the last refresh that are not new: re-analysed days need recomputing
        params = {"max_id": state.max_feedback_id, "since": state.max_analyzed_at}
        if session.scalar(_ANALYSED_OLD if state.max_analyzed_at is None else _REANALYSED, params) is not None:
            return False
    return True


# built once: a freshness check runs on every answer, and building its statements cost more than running them
_MAX_ID = select(func.max(Feedback.id))
_MAX_ANALYSED = select(func.max(Feedback.analyzed_at))
_ANY_DIRTY_DAY = select(RollupDirtyDay.day).limit(1)
_ANALYSED_OLD = select(Feedback.id).where(Feedback.analyzed_at.is_not(None), Feedback.id <= bindparam("max_id")).limit(1)
_REANALYSED = (select(Feedback.id).where(Feedback.analyzed_at > bindparam("since"), Feedback.id <= bindparam("max_id"))
               .limit(1))


_LOCK = threading.Lock()  # one refresher per process; _take_write_lock serializes processes


def _is_fresh(session: Session) -> tuple[bool, int, datetime | None]:
    # two statements: SQLite answers a lone MAX() from the index, two MAX()es in one SELECT scan the table
    max_id = session.scalar(_MAX_ID)
    max_an = session.scalar(_MAX_ANALYSED)
    state = session.get(RollupState, 1, populate_existing=True)  # this snapshot's watermark, not a cached one
    fresh = (
        state is not None
        and state.max_feedback_id == (max_id or 0)
        and state.max_analyzed_at == max_an
        and session.scalar(_ANY_DIRTY_DAY) is None
    )
    return fresh, max_id or 0, max_an


def _take_write_lock(session: Session) -> None:
    """Start the refresh transaction holding the database's write lock, so that concurrent refreshers
    (API workers, CLI) take turns and each sees the others' committed work."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7241530)"))
    else:  # SQLite: a first statement that writes (nothing) takes the write lock and a fresh snapshot
        session.execute(delete(RollupDirtyDay).where(RollupDirtyDay.day.is_(None)))


_LAYOUT_CHECKED: weakref.WeakSet = weakref.WeakSet()  # engines whose rollups were checked for month rows


def _upgrade_layout(session: Session) -> None:
    """Add the feedback month rows to rollups written before they existed (once per engine and process):
    computed from the daily rows, seconds even on millions of records, no rescan of the raw tables."""
    engine = session.get_bind()
    if engine in _LAYOUT_CHECKED:
        return
    if _month_rows_missing(session):
        with _LOCK, serialized_writes(session.get_bind()):
            session.commit()
            _take_write_lock(session)
            if _month_rows_missing(session):  # another process may have done it meanwhile
                R = FeedbackRollup
                refresh_months(session, session.scalars(select(R.day).where(R.grain == "segment").distinct()))
            session.commit()
    _LAYOUT_CHECKED.add(engine)


_CHECKED = "bazkhord.rollups_checked"  # session.info key: depth of ``fresh_rollups`` blocks
_DELTA = "bazkhord.rollup_delta"  # session.info key: ``rollup_delta`` of the current block
# New records that an answer reads from the raw tables beside the rollups instead of adding them first:
# a refresh is a write (the database's one write lock, a commit) on the read path, and under steady
# ingestion every dashboard request found a few new records. Each answer reads them twice (records,
# mentions): past this many, adding them to the rollups once costs less.
DELTA_MAX = 200


@contextmanager
def fresh_rollups(session: Session) -> Iterator[None]:
    """Bring the rollups up to date once for a whole computation: the ``ensure_fresh`` calls of the queries
    inside the block return at once (an answer of a dozen queries paid the freshness check each time).

    On SQLite, when all that changed since the last refresh is up to ``DELTA_MAX`` new records, nothing is
    written: the block reads one snapshot, and the queries add the records after ``rollup_delta`` from the
    raw tables to what the rollups hold."""
    began = False
    if not session.info.get(_CHECKED):
        session.info[_DELTA], began = _read_point(session)
    session.info[_CHECKED] = session.info.get(_CHECKED, 0) + 1
    try:
        yield
    finally:
        session.info[_CHECKED] -= 1
        if not session.info[_CHECKED]:
            session.info.pop(_DELTA, None)
            if began:
                _end_snapshot(session)


def rollup_delta(session: Session) -> tuple[int, int] | None:
    """Inside ``fresh_rollups``: (lo, hi) when the records with lo < id <= hi are not in the rollups (the
    queries read them from the raw tables); None when the rollups hold every record."""
    return session.info.get(_DELTA) if session.info.get(_CHECKED) else None


def _dbapi(session: Session):
    return session.connection().connection.dbapi_connection


def _read_point(session: Session) -> tuple[tuple[int, int] | None, bool]:
    """(``rollup_delta`` for a new block, whether a read snapshot was begun for it)."""
    _upgrade_layout(session)
    began = False
    if session.get_bind().dialect.name == "sqlite":
        session.flush()  # pending writes go first: the block itself only reads
        raw = _dbapi(session)
        if not raw.in_transaction:
            # one snapshot for the block (pysqlite begins transactions only before writes): the rollups and
            # the raw records after their watermark must be read from the same state of the database
            session.connection().exec_driver_sql("BEGIN")
            began = True
    fresh, max_id, max_an = _is_fresh(session)
    if fresh:
        return None, began
    state = session.get(RollupState, 1)  # as _is_fresh just read it (identity map: no query)
    if (state is not None and max_id - state.max_feedback_id <= DELTA_MAX
            and _only_new_records(session, state, max_id, max_an)):
        return (state.max_feedback_id, max_id), began
    if began:
        _end_snapshot(session)
    ensure_fresh(session)
    return None, False


def _end_snapshot(session: Session) -> None:
    raw = _dbapi(session)
    if raw.in_transaction:
        raw.commit()  # a read-only transaction (see _read_point): ending it writes nothing


def ensure_fresh(session: Session) -> int:
    """Bring the rollups up to date with the raw tables; returns the number of days refreshed.

    Cheap when nothing changed: two indexed MAX() lookups and two one-row reads, no writes; free inside
    a ``fresh_rollups`` block. Commits the session when it refreshes.
    """
    if session.info.get(_CHECKED):
        return 0
    asked = time.monotonic()
    _upgrade_layout(session)
    if _is_fresh(session)[0]:
        return 0
    engine = session.get_bind()
    with _LOCK:
        # Another request of this process refreshed from a snapshot taken after this one asked: everything
        # committed before it asked is in the rollups. (Under steady ingestion every waiting dashboard
        # request would otherwise refresh again, one after the other.)
        if _SNAPSHOTS.get(engine, -1.0) >= asked:
            session.commit()
            return 0
        with serialized_writes(engine):
            return _refresh(session, engine)


_SNAPSHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> time of the last refresh's snapshot


def _refresh(session: Session, engine) -> int:
    """The refresh of ``ensure_fresh`` (holding this process's refresh and write locks)."""
    session.commit()  # end the read snapshot: the refresh must see the latest commits
    _take_write_lock(session)
    snapshot = time.monotonic()
    fresh, max_id, max_an = _is_fresh(session)
    if fresh:  # another refresher got here first
        session.commit()
        _SNAPSHOTS[engine] = snapshot
        return 0
    state = session.get(RollupState, 1)
    if _only_new_records(session, state, max_id, max_an):
        n = len(add_new_records(session, state.max_feedback_id, max_id))
        _mark_refreshed(session, state, max_id, max_an)
        _SNAPSHOTS[engine] = snapshot
        return n
    if state is not None and max_id < state.max_feedback_id:
        # the newest rows were deleted outside the ORM: nothing says which days, so refresh all
        session.delete(state)
        session.flush()
        state = None
    if state is None:
        days = set(session.scalars(select(Feedback.day).distinct()))
        # rollups of days that no longer have feedback are stale too
        days |= set(session.scalars(select(FeedbackRollup.day).distinct()))
        state = RollupState(id=1, max_feedback_id=0)
        session.add(state)
    else:
        days = set(session.scalars(select(RollupDirtyDay.day)))
        # no DISTINCT in SQL: SQLite would then walk a day index over the whole table instead of
        # the id / analyzed_at range (10 s instead of ms on a million rows)
        if max_id != state.max_feedback_id:
            days |= set(session.scalars(select(Feedback.day).where(Feedback.id > state.max_feedback_id)))
        if max_an is not None and max_an != state.max_analyzed_at:
            cond = Feedback.analyzed_at.is_not(None)
            if state.max_analyzed_at is not None:
                cond = Feedback.analyzed_at > state.max_analyzed_at
            days |= set(session.scalars(select(Feedback.day).where(cond)))
    n = refresh_days(session, days)
    _mark_refreshed(session, state, max_id, max_an)
    _SNAPSHOTS[engine] = snapshot
    return n


def _mark_refreshed(session: Session, state: RollupState, max_id: int, max_an: datetime | None) -> None:
    state.max_feedback_id = max_id
    state.max_analyzed_at = max_an
    state.refreshed_at = datetime.now(timezone.utc).replace(tzinfo=None)
    session.execute(delete(RollupDirtyDay))
    session.commit()


def rebuild(session: Session) -> int:
    """Drop every rollup row and recompute all days."""
    session.execute(delete(FeedbackRollup))
    session.execute(delete(TopicRollup))
    session.execute(delete(RollupState))
    session.commit()
    return ensure_fresh(session)


# -- updates and deletes through the ORM mark their days dirty -------------------------------------

_WATCHED = ("day", "kind", "segment", "channel", "sentiment", "rating", "rating_scale", "nps", "abstained", "topic", "polarity")


def _days_of(obj) -> set[date]:
    from sqlalchemy import inspect as sa_inspect

    out: set[date] = set()
    st = sa_inspect(obj)
    for attr in ("day",):
        hist = st.attrs[attr].history
        for v in (*hist.added, *hist.unchanged, *hist.deleted):
            if isinstance(v, date):
                out.add(v)
    return out


@event.listens_for(Session, "after_flush")
def _mark_dirty(session: Session, _ctx) -> None:
    from sqlalchemy import inspect as sa_inspect

    days: set[date] = set()
    for obj in session.deleted:
        if isinstance(obj, Feedback | TopicMention):
            days |= _days_of(obj)
    for obj in session.dirty:
        if isinstance(obj, Feedback | TopicMention):
            st = sa_inspect(obj)
            if any(st.attrs[a].history.has_changes() for a in _WATCHED if a in st.attrs):
                days |= _days_of(obj)
    if not days:
        return
    conn = session.connection()
    # ON CONFLICT DO NOTHING: a concurrent writer marking the same day must not fail the caller's transaction
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    conn.execute(dialect_insert(RollupDirtyDay.__table__).on_conflict_do_nothing(), [{"day": d} for d in sorted(days)])
