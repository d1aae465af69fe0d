"""Complaint lifecycle (ISO 10002): received → acknowledged → in_progress → resolved → closed, and reopened.

Every change is checked against ``TRANSITIONS`` (an invalid one raises ``complaint.invalid_transition``,
HTTP 409, with the allowed targets in ``details``), stamps the matching timestamp on the record and
appends a ``status_events`` row with the actor and note. The clock of a complaint starts at its
``created_at`` (when the customer filed it); ``at`` may be given to back-fill a history from another
system but never goes backwards.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlp.errors import BazkhordError
from store.schema import COMPLAINT_STATUSES, Feedback, StatusEvent

INITIAL = "received"
OPEN_STATUSES = ("received", "acknowledged", "in_progress", "reopened")
DONE_STATUSES = ("resolved", "closed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("acknowledged",),
    "acknowledged": ("in_progress", "resolved"),
    "in_progress": ("resolved",),
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("in_progress", "resolved"),
}
HANDLING_RATING_MIN, HANDLING_RATING_MAX = 1.0, 5.0
INTAKE_ACTOR = "system:intake"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _naive_utc(at: datetime) -> datetime:
    try:
        return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at
    except OverflowError:  # e.g. 0001-01-01 with a positive offset
        raise BazkhordError("complaint.invalid_time", "The time is out of range.", {"at": str(at)}, http_status=422) from None


def allowed_transitions(status: str | None) -> tuple[str, ...]:
    """Statuses reachable from ``status`` (a record never tracked counts as ``received``)."""
    return TRANSITIONS[status or INITIAL]


def check_status(status: str) -> None:
    if status not in COMPLAINT_STATUSES:
        raise BazkhordError(
            "complaint.unknown_status",
            f"Unknown complaint status {status!r}.",
            {"status": status, "allowed": list(COMPLAINT_STATUSES)},
            http_status=422,
        )


def check_transition(from_status: str | None, to_status: str) -> None:
    check_status(to_status)
    current = from_status or INITIAL
    allowed = allowed_transitions(current)
    if to_status not in allowed:
        raise BazkhordError(
            "complaint.invalid_transition",
            f"A complaint cannot go from '{current}' to '{to_status}'.",
            {"from": current, "to": to_status, "allowed": list(allowed)},
            http_status=409,
        )


def check_handling_rating(rating: float | None, status: str | None) -> None:
    if rating is None:
        return
    if not HANDLING_RATING_MIN <= float(rating) <= HANDLING_RATING_MAX:
        raise BazkhordError(
            "complaint.invalid_rating",
            f"The handling rating must be between {HANDLING_RATING_MIN:g} and {HANDLING_RATING_MAX:g}.",
            {"rating": rating, "min": HANDLING_RATING_MIN, "max": HANDLING_RATING_MAX},
            http_status=422,
        )
    if status not in DONE_STATUSES:
        raise BazkhordError(
            "complaint.rating_too_early",
            "The customer can rate the handling only once the complaint is resolved or closed.",
            {"status": status or INITIAL, "allowed_in": list(DONE_STATUSES)},
            http_status=409,
        )


def apply_status_change(
    fb: Feedback,
    to_status: str | None,
    *,
    actor: str,
    at: datetime | None = None,
    note: str | None = None,
    handling_rating: float | None = None,
) -> StatusEvent | None:
    """Change ``fb``'s status in memory and return the event row to add (None: only a rating/note).

    ``to_status=None`` records the handling rating (and note) without a status change.
    """
    at = _naive_utc(at) if at is not None else utcnow()
    current = fb.status or INITIAL
    if fb.status_at is not None and at < fb.status_at:
        raise BazkhordError(
            "complaint.invalid_time",
            "A status change cannot be dated before the previous one.",
            {"at": at.isoformat(), "previous": fb.status_at.isoformat()},
            http_status=422,
        )
    if fb.created_at is not None and at < fb.created_at:
        raise BazkhordError(
            "complaint.invalid_time",
            "A status change cannot be dated before the complaint was filed.",
            {"at": at.isoformat(), "created_at": fb.created_at.isoformat()},
            http_status=422,
        )
    if to_status is None:
        check_handling_rating(handling_rating, current)
        if handling_rating is not None:
            fb.handling_rating = float(handling_rating)
        if note:
            fb.resolution_note = note
        return None

    check_transition(current, to_status)
    check_handling_rating(handling_rating, to_status)
    if to_status == "acknowledged" and fb.acknowledged_at is None:
        fb.acknowledged_at = at
    elif to_status == "resolved":
        fb.resolved_at = at
        if note:
            fb.resolution_note = note
    elif to_status == "closed":
        fb.closed_at = at
        if fb.resolved_at is None:  # closed straight from resolved always has one; kept for safety
            fb.resolved_at = at
    elif to_status == "reopened":
        # Time to resolve and backlog follow the final resolution; the events keep the history.
        fb.reopen_count = (fb.reopen_count or 0) + 1
        fb.resolved_at = None
        fb.closed_at = None
        fb.handling_rating = None
    if handling_rating is not None:
        fb.handling_rating = float(handling_rating)
    fb.status = to_status
    fb.status_at = at
    return StatusEvent(feedback_id=fb.id, from_status=current, to_status=to_status, actor=actor, note=note, at=at)


def start_tracking(fb: Feedback, at: datetime | None = None, actor: str = INTAKE_ACTOR) -> StatusEvent:
    """Mark a record as a received complaint (intake); returns the first event."""
    at = _naive_utc(at) if at is not None else (fb.created_at or fb.received_at or utcnow())
    fb.status = INITIAL
    fb.status_at = at
    fb.reopen_count = fb.reopen_count or 0
    return StatusEvent(feedback_id=fb.id, from_status=None, to_status=INITIAL, actor=actor, note=None, at=at)


def get_feedback(session: Session, feedback_id: int) -> Feedback:
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise BazkhordError("feedback.not_found", f"No feedback record {feedback_id}.", {"id": feedback_id}, http_status=404)
    return fb


def change_status(
    session: Session,
    feedback_id: int,
    to_status: str | None,
    *,
    actor: str,
    at: datetime | None = None,
    note: str | None = None,
    handling_rating: float | None = None,
) -> Feedback:
    """Load, change and flush (the caller commits). A never-tracked record is first marked received."""
    fb = get_feedback(session, feedback_id)
    if fb.status is None:
        session.add(start_tracking(fb, actor=actor))
    event = apply_status_change(fb, to_status, actor=actor, at=at, note=note, handling_rating=handling_rating)
    if event is not None:
        session.add(event)
    session.flush()
    return fb


def status_history(session: Session, feedback_id: int) -> list[StatusEvent]:
    get_feedback(session, feedback_id)
    return list(
        session.scalars(
            select(StatusEvent).where(StatusEvent.feedback_id == feedback_id).order_by(StatusEvent.at, StatusEvent.id)
        )
    )


def event_to_dict(ev: StatusEvent) -> dict:
    return {
        "from": ev.from_status,
        "to": ev.to_status,
        "actor": ev.actor,
        "note": ev.note,
        "at": ev.at.isoformat() if ev.at else None,
    }


__all__ = [
    "DONE_STATUSES",
    "INITIAL",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "allowed_transitions",
    "apply_status_change",
    "change_status",
    "check_transition",
    "event_to_dict",
    "get_feedback",
    "start_tracking",
    "status_history",
]
