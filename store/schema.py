"""SQLAlchemy 2 schema. Alembic migrations in store/migrations mirror it (a test checks they agree).

Shaped for the whole product: analysis results are stored per record *and* one row per topic
mention (denormalized slice columns) so that indicators aggregate in SQL without re-running models;
gold labels sit beside the model's output, never over it; model versions, jobs, taxonomy versions
and complaint lifecycle events have their own tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy import text as sql_text  # Feedback has a column named text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

FEEDBACK_KINDS = ("complaint", "comment", "compliment", "suggestion", "survey_answer")
ROLES = ("ingest", "analyst", "manager", "admin")
COMPLAINT_STATUSES = ("received", "acknowledged", "in_progress", "resolved", "closed", "reopened")
PRIORITIES = ("urgent", "high", "normal", "low")
RECURRENCE = ("single", "recurring", "systemic")
# records with a product or a segment: what the partial index ix_feedback_scoped_created_at holds
SCOPED_RECORDS = "product != '' OR segment != ''"


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16), index=True)  # shown in listings, used for lookup
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)  # sha256 hex of the full key
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    payload_hash: Mapped[str] = mapped_column(String(64))  # idempotency: same external_id, same payload?
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True, index=True)

    kind: Mapped[str] = mapped_column(String(20), default="comment")
    channel: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    product: Mapped[str | None] = mapped_column(String(200), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)  # when the customer wrote it (UTC, naive)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    # Calendar keys computed on write so period grouping is a plain GROUP BY on an indexed column.
    day: Mapped[date] = mapped_column(Date)
    jalali_day: Mapped[int] = mapped_column(Integer)  # yyyymmdd in the Jalali calendar, e.g. 14030101

    text: Mapped[str] = mapped_column(Text)  # normalized and PII-masked
    raw_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # only if explicitly configured
    pii_types: Mapped[list] = mapped_column(JSON, default=list)  # e.g. ["PHONE"]; values never stored

    rating: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating_scale: Mapped[int | None] = mapped_column(Integer, nullable=True)
    nps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    meta: Mapped[dict] = mapped_column("metadata", JSON, default=dict)

    # The model's analysis (the full JSON plus columns that indicators filter and aggregate on).
    sentiment: Mapped[str | None] = mapped_column(String(3), nullable=True)
    sentiment_neg: Mapped[float | None] = mapped_column(Float, nullable=True)
    sentiment_neu: Mapped[float | None] = mapped_column(Float, nullable=True)
    sentiment_pos: Mapped[float | None] = mapped_column(Float, nullable=True)
    abstained: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    analysis: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    analyzed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    # Complaint handling (ISO 10002): triage and lifecycle.
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    priority: Mapped[str | None] = mapped_column(String(10), nullable=True)
    priority_reasons: Mapped[list | None] = mapped_column(JSON, nullable=True)
    recurrence: Mapped[str | None] = mapped_column(String(10), nullable=True)
    related_ids: Mapped[list | None] = mapped_column(JSON, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    handling_rating: Mapped[float | None] = mapped_column(Float, nullable=True)  # satisfaction with handling

    topics: Mapped[list[TopicMention]] = relationship(
        back_populates="feedback", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        Index("ix_feedback_created_at", "created_at"),
        Index("ix_feedback_day_segment", "day", "segment"),
        Index("ix_feedback_jalali_day", "jalali_day"),
        Index("ix_feedback_kind_day", "kind", "day"),
        Index("ix_feedback_sentiment", "sentiment"),
        Index("ix_feedback_status", "status"),
        # indicators: rows (re)analysed since the last rollup refresh are found by this watermark
        Index("ix_feedback_analyzed_at", "analyzed_at"),
        # emerging themes: the most recent abstained texts of a window
        Index("ix_feedback_abstained_day", "abstained", "day"),
        # complaint intake: the records of a window with a product or segment (recurrence scopes)
        Index("ix_feedback_scoped_created_at", "created_at", sqlite_where=sql_text(SCOPED_RECORDS),
              postgresql_where=sql_text(SCOPED_RECORDS)),
    )


class TopicMention(Base):
    """One topic the model found in one record (slice columns copied for fast aggregation)."""

    __tablename__ = "topic_mentions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    polarity: Mapped[str] = mapped_column(String(3))
    model_version: Mapped[str] = mapped_column(String(64))
    # denormalized from feedback
    day: Mapped[date] = mapped_column(Date)
    jalali_day: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    segment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(100), nullable=True)
    product: Mapped[str | None] = mapped_column(String(200), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)

    feedback: Mapped[Feedback] = relationship(back_populates="topics")

    __table_args__ = (
        Index("ix_topic_mentions_feedback", "feedback_id"),
        Index("ix_topic_mentions_topic_day", "topic", "day"),
        Index("ix_topic_mentions_day_segment", "day", "segment"),
        # themes: the most recent negative mentions of a topic without a sort (indicators)
        Index("ix_topic_mentions_topic_polarity_day", "topic", "polarity", "day"),
    )


class GoldLabel(Base):
    """An analyst's labels for a record. History is kept: the newest row per record is current."""

    __tablename__ = "gold_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"), index=True)
    sentiment: Mapped[str | None] = mapped_column(String(3), nullable=True)
    topics: Mapped[dict] = mapped_column(JSON, default=dict)  # {topic: polarity}
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(20), default="sklearn")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    card: Mapped[dict] = mapped_column(JSON, default=dict)  # model.json content
    comparison: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # vs the model active at training
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # train | reanalyze
    status: Mapped[str] = mapped_column(String(12))  # queued | running | succeeded | failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class TaxonomyVersion(Base):
    __tablename__ = "taxonomy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    content: Mapped[dict] = mapped_column(JSON)  # the taxonomy file as a mapping
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class StatusEvent(Base):
    """Complaint lifecycle history: one row per status change."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime)


class FeedbackRollup(Base):
    """Daily aggregates of ``feedback``, kept by ``indicators.rollup`` at two grains.

    ``grain='segment'``: one row per (day, segment) — small, answers the common queries;
    ``grain='slice'``: one row per (day, kind, segment, channel) — answers kind/channel filters.
    Every column is additive, so any period, slice and indicator is a SUM over these rows. ``gday``
    and ``jday`` are yyyymmdd integers (Gregorian, Jalali): ``gday // 100`` is the month key.
    Ratings are rescaled to 1..5 (``1 + 4 (r - 1) / (scale - 1)``) so scales can be mixed.
    """

    __tablename__ = "rollup_feedback_daily"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    gday: Mapped[int] = mapped_column(Integer)
    jday: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    segment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(100), nullable=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    n_analyzed: Mapped[int] = mapped_column(Integer, default=0)
    pos: Mapped[int] = mapped_column(Integer, default=0)
    neu: Mapped[int] = mapped_column(Integer, default=0)
    neg: Mapped[int] = mapped_column(Integer, default=0)
    abstained: Mapped[int] = mapped_column(Integer, default=0)
    complaints: Mapped[int] = mapped_column(Integer, default=0)
    n_rated: Mapped[int] = mapped_column(Integer, default=0)
    top2: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[float] = mapped_column(Float, default=0.0)
    rating_sq_sum: Mapped[float] = mapped_column(Float, default=0.0)
    n_nps: Mapped[int] = mapped_column(Integer, default=0)
    promoters: Mapped[int] = mapped_column(Integer, default=0)
    detractors: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_rollup_feedback_grain_day", "grain", "day"),)


class TopicRollup(Base):
    """Daily aggregates of ``topic_mentions`` per topic, at the same two grains as ``FeedbackRollup``.

    ``pos``/``neu``/``neg`` count mentions by the polarity about the topic; the ``neg_*`` columns describe
    the records behind the negative mentions (overall sentiment, rating): topic impact and driver
    weights are computed from them.
    """

    __tablename__ = "rollup_topic_daily"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    gday: Mapped[int] = mapped_column(Integer)
    jday: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    segment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pos: Mapped[int] = mapped_column(Integer, default=0)
    neu: Mapped[int] = mapped_column(Integer, default=0)
    neg: Mapped[int] = mapped_column(Integer, default=0)
    neg_rec_pos: Mapped[int] = mapped_column(Integer, default=0)
    neg_rec_neu: Mapped[int] = mapped_column(Integer, default=0)
    neg_rec_neg: Mapped[int] = mapped_column(Integer, default=0)
    neg_rated: Mapped[int] = mapped_column(Integer, default=0)
    neg_top2: Mapped[int] = mapped_column(Integer, default=0)
    neg_rating_sum: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ix_rollup_topic_grain_day", "grain", "day"),)


class RollupState(Base):
    """Watermarks of the last rollup refresh (one row) and days marked stale by updates/deletes."""

    __tablename__ = "rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    max_feedback_id: Mapped[int] = mapped_column(Integer, default=0)
    max_analyzed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RollupDirtyDay(Base):
    __tablename__ = "rollup_dirty_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


def record_from_values(values: dict[str, Any], mentions: list[dict[str, Any]], record_id: int | None = None) -> Feedback:
    """A ``Feedback`` with its ``TopicMention`` children from column values (``store.feedback.feedback_values``),
    not added to any session; with ``record_id``, as the row stored under that id."""
    ids = {} if record_id is None else {"id": record_id}
    fb = Feedback(**ids, **values)
    fb.topics = [TopicMention(**m) if record_id is None else TopicMention(feedback_id=record_id, **m) for m in mentions]
    return fb


__all__ = [
    "COMPLAINT_STATUSES",
    "FEEDBACK_KINDS",
    "PRIORITIES",
    "RECURRENCE",
    "ROLES",
    "ApiKey",
    "Base",
    "Feedback",
    "FeedbackRollup",
    "GoldLabel",
    "Job",
    "ModelVersion",
    "RollupDirtyDay",
    "RollupState",
    "StatusEvent",
    "TaxonomyVersion",
    "TopicMention",
    "TopicRollup",
    "record_from_values",
]
