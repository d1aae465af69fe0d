"""Feedback records: write a record with its analysis (and one row per topic mention), read them back.

The write path is the one the API's single, batch and file ingestion and the CLI import share. Items
arrive validated (``api.schemas.FeedbackIn.to_store()``-shaped dicts): this module trusts their types
and only turns them and their analyses into rows. Stored text is the *masked* clean text; the raw
text is kept only when ``settings.store_raw_text`` is on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, insert, select
from sqlalchemy.orm import Session, selectinload

from models.types import Analysis
from nlp.errors import BazkhordError
from store.calendar import jalali_day, local_day
from store.complaints import PreparedIntake, apply_complaint_intake, prepare_intake
from store.schema import Feedback, TopicMention, record_from_values

# Fields of an item that define "the same payload" for idempotency on external_id.
PAYLOAD_FIELDS = (
    "text", "external_id", "kind", "channel", "segment", "product", "region", "created_at",
    "rating", "rating_scale", "nps", "metadata", "status",
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# jdatetime's conversion costs ~0.2 ms (it asks the locale every time): once per distinct local date
_jalali_day = lru_cache(maxsize=4096)(jalali_day)


def _day_keys(created: datetime, tz: str) -> tuple[date, int]:
    """``store.calendar.day_keys``, memoized on the local date."""
    d = local_day(created, tz)
    return d, _jalali_day(d)


def payload_hash(item: dict[str, Any]) -> str:
    """A stable hash of what the client sent (None-valued fields ignored, keys sorted)."""
    data = {k: item.get(k) for k in PAYLOAD_FIELDS if item.get(k) not in (None, {}, "")}
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _setting(settings: Any, name: str, default: Any) -> Any:
    return getattr(settings, name, default) if settings is not None else default


def feedback_values(item: dict[str, Any], analysis: Analysis, api_key_id: int | None, settings: Any,
                    now: datetime | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The column values of one record and of its topic mentions (without ``feedback_id``)."""
    now = now or utcnow()
    tz = _setting(settings, "timezone", "UTC")
    created = item.get("created_at") or now
    day, jday = _day_keys(created, tz)
    kind = item.get("kind") or "comment"
    status = item.get("status") or ("received" if kind == "complaint" else None)
    values = {
        "external_id": item.get("external_id"),
        "payload_hash": item.get("payload_hash") or payload_hash(item),
        "api_key_id": api_key_id,
        "kind": kind,
        "channel": item.get("channel"),
        "segment": item.get("segment"),
        "product": item.get("product"),
        "region": item.get("region"),
        "created_at": created,
        "received_at": now,
        "day": day,
        "jalali_day": jday,
        "text": analysis.clean_text,
        "raw_text": item["text"] if _setting(settings, "store_raw_text", False) else None,
        "pii_types": sorted({p.type for p in analysis.pii}),
        "rating": item.get("rating"),
        "rating_scale": item.get("rating_scale"),
        "nps": item.get("nps"),
        "meta": dict(item.get("metadata") or {}),
        "sentiment": analysis.sentiment.label,
        "sentiment_neg": float(analysis.sentiment.scores.get("neg", 0.0)),
        "sentiment_neu": float(analysis.sentiment.scores.get("neu", 0.0)),
        "sentiment_pos": float(analysis.sentiment.scores.get("pos", 0.0)),
        "abstained": bool(analysis.abstained),
        "model_version": analysis.model,
        "analysis": analysis.to_dict(),
        "analyzed_at": now,
        "status": status,
        "status_at": now if status else None,
        "reopen_count": 0,
    }
    mentions = [
        {
            "topic": t.topic, "score": float(t.score), "polarity": t.sentiment, "model_version": analysis.model,
            "day": day, "jalali_day": jday, "kind": kind, "segment": values["segment"], "channel": values["channel"],
            "product": values["product"], "region": values["region"],
        }
        for t in analysis.topics
    ]
    return values, mentions


def build_feedback(item: dict[str, Any], analysis: Analysis, api_key_id: int | None, settings: Any,
                   now: datetime | None = None) -> Feedback:
    """One ``Feedback`` object (with its ``TopicMention`` children) from a validated item and its analysis."""
    return record_from_values(*feedback_values(item, analysis, api_key_id, settings, now))


INSERT_CHUNK = 1000
LOOKUP_CHUNK = 10_000


def _insert(model: type) -> Any:
    # render_nulls: None is sent as NULL instead of leaving the column out, so every row has the same
    # columns and a chunk is one executemany (rows differing in which fields are None were grouped
    # into runs of a few rows each). No column written here has a default a None would have taken.
    return insert(model).execution_options(render_nulls=True)


def _insert_records(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT the feedback rows; their ids in input order."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite cannot return ids in parameter order from a batched INSERT, so SQLAlchemy would send
        # one statement per row (O(n^2) result splicing: seconds per 1,000 rows). Insert the first row
        # for its id: the write lock is now held, so the others take the next ids explicitly, exactly
        # as SQLite numbers rows (max(rowid) + 1), in one executemany.
        first = session.execute(_insert(Feedback).returning(Feedback.id), rows[:1]).scalar_one()
        rest = [{**values, "id": first + k} for k, values in enumerate(rows[1:], start=1)]
        for i in range(0, len(rest), INSERT_CHUNK):
            session.execute(_insert(Feedback), rest[i : i + INSERT_CHUNK])
        return list(range(first, first + len(rows)))
    ids: list[int] = []
    for i in range(0, len(rows), INSERT_CHUNK):
        result = session.execute(_insert(Feedback).returning(Feedback.id, sort_by_parameter_order=True),
                                 rows[i : i + INSERT_CHUNK])
        ids += list(result.scalars())
    return ids


@dataclass(slots=True)
class PreparedRecord:
    """One record's column values and its intake, computed before its write turn (``prepare_record``)."""

    values: dict[str, Any]
    mentions: list[dict[str, Any]]
    intake: PreparedIntake | None


def prepare_record(session: Session, item: dict[str, Any], analysis: Analysis, api_key_id: int | None,
                   settings: Any) -> PreparedRecord:
    """What ``insert_feedback`` of this one record computes and reads before it writes (its values and
    ``store.complaints.prepare_intake``), done with no lock held: pass it as ``prepared``."""
    values, mentions = feedback_values(item, analysis, api_key_id, settings)
    return PreparedRecord(values, mentions, prepare_intake(session, values, mentions, settings))


# built once (building one, its loader option above all, cost more than running it on a few rows)
_WITH_TOPICS = select(Feedback).where(Feedback.id.in_(bindparam("ids", expanding=True))).options(selectinload(Feedback.topics))
_BY_EXTERNAL_ID = select(Feedback).where(Feedback.external_id.in_(bindparam("ids", expanding=True)))


def insert_feedback(session: Session, items: list[dict[str, Any]], analyses: list[Analysis],
                    api_key_id: int | None, settings: Any, prepared: PreparedRecord | None = None) -> list[Feedback]:
    """Add records and their topic mentions; flushes (ids assigned) but the caller commits.

    Bulk INSERTs (executemany with RETURNING) rather than one ORM object per row at flush time: the
    unit of work costs more than the database for batches of thousands. The returned records are in
    input order with their topics: read back, or for one record built from the values written
    (not in the session).
    ``prepared``: ``prepare_record`` of the one item.
    """
    if len(items) != len(analyses):
        raise ValueError("one analysis per item is required")
    if prepared is not None and len(items) != 1:
        raise ValueError("a prepared record is for one item")
    if not items:
        return []
    now = utcnow()
    pairs = ([(prepared.values, prepared.mentions)] if prepared is not None else
             [feedback_values(it, an, api_key_id, settings, now) for it, an in zip(items, analyses, strict=True)])
    session.flush()  # anything pending goes first, as with a plain add
    ids = _insert_records(session, [values for values, _ in pairs])
    mentions = [{**m, "feedback_id": fid} for fid, (_, ms) in zip(ids, pairs, strict=True) for m in ms]
    for i in range(0, len(mentions), INSERT_CHUNK):
        session.execute(_insert(TopicMention), mentions[i : i + INSERT_CHUNK])
    if len(ids) == 1:
        # built from the values written rather than read back (reading it and its topics back cost a
        # sixth of a one-record ingestion); not in the session: the intake hook keeps its fields in step
        rows = [record_from_values(*pairs[0], ids[0])]
    else:  # read back: loading rows costs less than constructing ORM objects one by one (~10% of a batch)
        by_id: dict[int, Feedback] = {}
        for i in range(0, len(ids), 500):
            by_id.update((fb.id, fb) for fb in session.scalars(_WITH_TOPICS, {"ids": ids[i : i + 500]}))
        rows = [by_id[i] for i in ids]
    # ISO 10002 triage, lifecycle start, recurrence
    apply_complaint_intake(session, rows, settings, prepared.intake if prepared is not None else None)
    return rows


def find_by_external_ids(session: Session, external_ids: Iterable[str]) -> dict[str, Feedback]:
    ids = sorted({e for e in external_ids if e})
    found: dict[str, Feedback] = {}
    # one query for a batch of up to 10,000 records (stays under every backend's bound-parameter limit)
    for i in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[i : i + LOOKUP_CHUNK]
        for fb in session.scalars(_BY_EXTERNAL_ID, {"ids": chunk}):
            found[fb.external_id] = fb  # type: ignore[index]
    return found


def get_feedback(session: Session, feedback_id: int, api_key_id: int | None = None) -> Feedback:
    """A record by id; with ``api_key_id`` only that key's records are visible (others are 'not found')."""
    fb = session.get(Feedback, feedback_id)
    if fb is None or (api_key_id is not None and fb.api_key_id != api_key_id):
        raise BazkhordError("feedback.not_found", f"No feedback record {feedback_id}.", {"id": feedback_id}, 404)
    return fb


@dataclass(frozen=True)
class FeedbackFilter:
    since: datetime | None = None  # created_at >= since (naive UTC)
    until: datetime | None = None  # created_at < until
    kind: str | None = None
    channel: str | None = None
    segment: str | None = None
    product: str | None = None
    region: str | None = None
    topic: str | None = None
    sentiment: str | None = None
    abstained: bool | None = None
    api_key_id: int | None = None  # ingest keys: only their own records


def apply_filter(stmt: Select, f: FeedbackFilter) -> Select:
    conds = []
    if f.since is not None:
        conds.append(Feedback.created_at >= f.since)
    if f.until is not None:
        conds.append(Feedback.created_at < f.until)
    for name in ("kind", "channel", "segment", "product", "region", "sentiment", "api_key_id"):
        value = getattr(f, name)
        if value is not None:
            conds.append(getattr(Feedback, name) == value)
    if f.abstained is not None:
        conds.append(Feedback.abstained.is_(f.abstained))
    if f.topic is not None:
        conds.append(exists().where(TopicMention.feedback_id == Feedback.id, TopicMention.topic == f.topic))
    return stmt.where(*conds) if conds else stmt


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, value = raw.split(":", 1)
        if tag != "id":
            raise ValueError(tag)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BazkhordError("request.invalid_cursor", "The cursor is not one this API returned.", {"field": "cursor"}, 422) from None


def list_feedback(session: Session, f: FeedbackFilter, limit: int = 50,
                  cursor: str | None = None) -> tuple[list[Feedback], str | None]:
    """Newest first (by id); keyset pagination, so pages stay stable while records arrive."""
    stmt = apply_filter(select(Feedback), f).options(selectinload(Feedback.topics))
    if cursor:
        stmt = stmt.where(Feedback.id < decode_cursor(cursor))
    rows = list(session.scalars(stmt.order_by(Feedback.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() + "Z" if dt is not None else None


def feedback_to_dict(fb: Feedback) -> dict:
    """The API's JSON for a record (masked text; raw text only when it was stored)."""
    out = {
        "id": fb.id,
        "external_id": fb.external_id,
        "kind": fb.kind,
        "channel": fb.channel,
        "segment": fb.segment,
        "product": fb.product,
        "region": fb.region,
        "created_at": _iso(fb.created_at),
        "received_at": _iso(fb.received_at),
        "day": fb.day.isoformat(),
        "jalali_day": fb.jalali_day,
        "text": fb.text,
        "pii_types": list(fb.pii_types or []),
        "rating": fb.rating,
        "rating_scale": fb.rating_scale,
        "nps": fb.nps,
        "metadata": dict(fb.meta or {}),
        "sentiment": fb.sentiment,
        "abstained": fb.abstained,
        "topics": [{"topic": t.topic, "score": round(t.score, 4), "sentiment": t.polarity} for t in fb.topics],
        "model_version": fb.model_version,
        "analysis": fb.analysis,
        "status": fb.status,
        "priority": fb.priority,
        "raw_text": fb.raw_text,  # None unless the service is configured to keep raw text
    }
    return out


def count_feedback(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count(Feedback.id))) or 0)


__all__ = [
    "FeedbackFilter",
    "build_feedback",
    "count_feedback",
    "feedback_to_dict",
    "find_by_external_ids",
    "get_feedback",
    "insert_feedback",
    "list_feedback",
    "payload_hash",
    "prepare_record",
]


