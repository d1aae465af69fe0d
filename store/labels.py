"""Gold labels: what an analyst says a record is about, kept beside the model's output.

A label never overwrites the model's analysis (``feedback.analysis`` stays as the model wrote it);
every correction is a new ``gold_labels`` row, and the newest row per record is the current label,
so the history of who changed what is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nlp.errors import BazkhordError
from store.schema import Feedback, GoldLabel

SENTIMENTS = ("neg", "neu", "pos")
EXPORT_ID_PREFIX = "feedback-"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def validate_labels(
    topics: dict | None, sentiment: str | None, topic_ids: Iterable[str] | None = None
) -> tuple[dict[str, str] | None, str | None]:
    """Check an analyst's labels; ``topic_ids`` (the taxonomy) restricts topic names when given."""
    problems: list[dict] = []
    if topics is None:  # not annotated for topics (only the overall sentiment)
        if sentiment is not None and sentiment not in SENTIMENTS:
            raise BazkhordError("labels.invalid", "The labels are not valid.",
                                [{"field": "sentiment", "reason": f"must be one of {', '.join(SENTIMENTS)}"}], 422)
        if sentiment is None:
            raise BazkhordError("labels.invalid", "Give topics, a sentiment, or both.", [{"field": "topics"}], 422)
        return None, sentiment
    if not isinstance(topics, dict):
        raise BazkhordError("labels.invalid", "topics must be an object {topic: polarity}.", [{"field": "topics"}], 422)
    known = set(topic_ids) if topic_ids is not None else None
    clean: dict[str, str] = {}
    for topic, polarity in topics.items():
        if not isinstance(topic, str) or not topic.strip():
            problems.append({"field": "topics", "reason": "empty topic id"})
            continue
        if known is not None and topic not in known:
            problems.append({"field": f"topics.{topic}", "reason": "not a topic of the current taxonomy"})
        if polarity not in SENTIMENTS:
            problems.append({"field": f"topics.{topic}", "reason": f"polarity must be one of {', '.join(SENTIMENTS)}"})
        clean[topic] = polarity
    if sentiment is not None and sentiment not in SENTIMENTS:
        problems.append({"field": "sentiment", "reason": f"must be one of {', '.join(SENTIMENTS)}"})
    if problems:
        raise BazkhordError("labels.invalid", "The labels are not valid.", problems, 422)
    return clean, sentiment


def get_feedback(session: Session, feedback_id: int) -> Feedback:
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise BazkhordError("feedback.not_found", f"No feedback record with id {feedback_id}.", http_status=404)
    return fb


def set_labels(
    session: Session,
    feedback_id: int,
    topics: dict | None,
    sentiment: str | None,
    author: str,
    topic_ids: Iterable[str] | None = None,
    at: datetime | None = None,
) -> GoldLabel:
    """Record an analyst's labels for one record (caller commits)."""
    get_feedback(session, feedback_id)
    clean, sentiment = validate_labels(topics, sentiment, topic_ids)
    row = GoldLabel(feedback_id=feedback_id, topics=clean, sentiment=sentiment, author=author, created_at=at or utcnow())
    session.add(row)
    session.flush()
    return row


def current_labels(session: Session, feedback_ids: Sequence[int] | None = None) -> dict[int, GoldLabel]:
    """The newest gold label per record (optionally only for ``feedback_ids``)."""
    newest = select(GoldLabel.feedback_id, func.max(GoldLabel.id).label("gid")).group_by(GoldLabel.feedback_id)
    if feedback_ids is not None:
        if not feedback_ids:
            return {}
        newest = newest.where(GoldLabel.feedback_id.in_(list(feedback_ids)))
    sub = newest.subquery()
    rows = session.scalars(select(GoldLabel).join(sub, GoldLabel.id == sub.c.gid)).all()
    return {r.feedback_id: r for r in rows}


def label_history(session: Session, feedback_id: int) -> list[GoldLabel]:
    return list(session.scalars(select(GoldLabel).where(GoldLabel.feedback_id == feedback_id).order_by(GoldLabel.id)))


def labelled_ids(session: Session) -> set[int]:
    return set(session.scalars(select(GoldLabel.feedback_id).distinct()))


def label_to_dict(label: GoldLabel) -> dict:
    return {
        "feedback_id": label.feedback_id,
        "topics": None if label.topics is None else dict(label.topics),
        "sentiment": label.sentiment,
        "author": label.author,
        "created_at": label.created_at.isoformat(),
    }


def export_id(fb: Feedback) -> str:
    return fb.external_id or f"{EXPORT_ID_PREFIX}{fb.id}"


def feedback_record(fb: Feedback, label: GoldLabel):
    """A canonical ``training.data.Record`` for a labelled record (text is the stored, masked text)."""
    from training.data import Record

    meta = {"feedback_id": fb.id, "label_author": label.author, "labelled_at": label.created_at.isoformat()}
    for key in ("segment", "channel", "product", "region", "kind"):
        value = getattr(fb, key)
        if value is not None:
            meta[key] = value
    return Record(
        id=export_id(fb),
        text=fb.text,
        sentiment=label.sentiment,
        topics=None if label.topics is None else dict(label.topics),
        rating=fb.rating,
        rating_scale=fb.rating_scale,
        created_at=fb.created_at,
        source="bazkhord-gold",
        meta=meta,
    )


def labelled_records(session: Session, since: datetime | None = None, until: datetime | None = None) -> list:
    """Every record with a current gold label, oldest first, as ``training.data.Record`` objects."""
    labels = current_labels(session)
    if not labels:
        return []
    q = select(Feedback).where(Feedback.id.in_(list(labels))).order_by(Feedback.id)
    if since is not None:
        q = q.where(Feedback.created_at >= since)
    if until is not None:
        q = q.where(Feedback.created_at < until)
    return [feedback_record(fb, labels[fb.id]) for fb in session.scalars(q)]


@dataclass
class ImportResult:
    imported: int = 0
    unmatched: list[str] = field(default_factory=list)  # record ids with no feedback record in the DB

    def to_dict(self) -> dict:
        return {"imported": self.imported, "unmatched": len(self.unmatched), "unmatched_ids": self.unmatched[:100]}


def _match_feedback(session: Session, record, by_text: dict[str, int] | None) -> int | None:
    fid = (record.meta or {}).get("feedback_id")
    if isinstance(fid, int) and session.get(Feedback, fid) is not None:
        return fid
    if record.id:
        hit = session.scalar(select(Feedback.id).where(Feedback.external_id == record.id))
        if hit is not None:
            return hit
        if record.id.startswith(EXPORT_ID_PREFIX) and record.id[len(EXPORT_ID_PREFIX):].isdigit():
            fid = int(record.id[len(EXPORT_ID_PREFIX):])
            if session.get(Feedback, fid) is not None:
                return fid
    if by_text is not None:
        return by_text.get(record.text)
    return None


def import_labels(
    session: Session,
    records: Sequence,
    author: str,
    topic_ids: Iterable[str] | None = None,
    match_text: bool = True,
) -> ImportResult:
    """Store labels made elsewhere (canonical records) as gold labels (caller commits).

    A record is matched to stored feedback by ``meta.feedback_id``, then ``id`` = external id (or
    the ``feedback-N`` ids that export writes), then (``match_text``) by its text after the same
    normalization and masking the store applied. Records without labels are ignored.
    """
    result = ImportResult()
    by_text = None
    if match_text:
        from nlp import get_pipeline

        wanted = [r for r in records if r.sentiment is not None or r.topics is not None]
        cleaned = get_pipeline().process_batch([r.text for r in wanted])
        texts = {c.text for c in cleaned}
        by_text = {}
        if texts:
            for fid, text in session.execute(select(Feedback.id, Feedback.text).where(Feedback.text.in_(list(texts)))):
                by_text.setdefault(text, fid)
        by_text = {r.text: by_text[c.text] for r, c in zip(wanted, cleaned, strict=True) if c.text in by_text}
    for record in records:
        if record.sentiment is None and record.topics is None:
            continue
        fid = _match_feedback(session, record, by_text)
        if fid is None:
            result.unmatched.append(record.id)
            continue
        set_labels(session, fid, record.topics, record.sentiment, author, topic_ids)
        result.imported += 1
    return result
