"""Complaint intake and listing: triage + recurrence on the records the feedback path just stored.

``apply_complaint_intake(session, records, settings)`` is the one hook the insert path calls (after a
flush, before its commit): complaints (and comments the model reads as negative) get a priority with
reasons, the status ``received`` with its first event, and their recurrence with related ids.
``settings`` is any object with the complaint fields of ``api.settings.Settings`` (or None for the
defaults); the store never imports the api.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from models.triage import Triage, get_triage, rank
from nlp.errors import BazkhordError
from store.lifecycle import INITIAL, INTAKE_ACTOR, allowed_transitions, start_tracking
from store.recurrence import RecurrencePolicy, apply_recurrence, load_window
from store.schema import COMPLAINT_STATUSES, PRIORITIES, RECURRENCE, Feedback, StatusEvent, TopicMention

_PRIORITY_ORDER = case({p: i for i, p in enumerate(PRIORITIES)}, value=Feedback.priority, else_=len(PRIORITIES))


def recurrence_policy(settings: Any = None) -> RecurrencePolicy:
    d = RecurrencePolicy()
    return RecurrencePolicy(
        window_days=int(getattr(settings, "recurrence_window_days", d.window_days)),
        recurring_min=int(getattr(settings, "recurrence_min", d.recurring_min)),
        systemic_min_scopes=int(getattr(settings, "systemic_min_scopes", d.systemic_min_scopes)),
        duplicate_threshold=float(getattr(settings, "duplicate_threshold", d.duplicate_threshold)),
    )


def triage_for(settings: Any = None) -> Triage:
    return get_triage(getattr(settings, "triage_rules_path", None))


def customer_key(fb: Feedback, meta_keys: Sequence[str]) -> str | None:
    meta = fb.meta or {}
    for k in meta_keys:
        if meta.get(k) not in (None, ""):
            return f"{k}={meta[k]}"
    return None


def prior_contacts(fb: Feedback, window: Sequence[Feedback], meta_keys: Sequence[str], days: int) -> int:
    """Earlier tracked complaints of the same customer (metadata key) within ``days`` before ``fb``."""
    return prior_contact_counts([fb], window, meta_keys, days)[fb.id]


def prior_contact_counts(
    records: Sequence[Feedback], window: Sequence[Feedback], meta_keys: Sequence[str], days: int
) -> dict[int, int]:
    """``prior_contacts`` for many records at once (the window is indexed by customer once)."""
    by_customer: dict[str, list[tuple[datetime, int]]] = {}
    for o in {o.id: o for o in (*window, *records)}.values():
        key = customer_key(o, meta_keys)
        if key is not None:
            by_customer.setdefault(key, []).append((o.created_at, o.id))
    out = {}
    for fb in records:
        key = customer_key(fb, meta_keys)
        start = fb.created_at - timedelta(days=days)
        out[fb.id] = sum(
            1 for at, oid in by_customer.get(key, ()) if start <= at and (at, oid) < (fb.created_at, fb.id)
        ) if key is not None else 0
    return out


def apply_complaint_intake(session: Session, records: Sequence[Feedback], settings: Any = None) -> list[Feedback]:
    """Triage, classify recurrence and start the lifecycle for the complaint-like ``records``.

    ``records`` must be flushed (ids assigned) with their analysis and topic mentions. Complaints and
    comments the model reads as negative get a priority, reasons and recurrence; complaints (and the
    others from the rules' ``track_from`` priority up) also enter the lifecycle as ``received``.
    Returns the triaged records. The caller commits.
    """
    triage = triage_for(settings)
    # Not yet triaged (complaints arrive with status "received" already set by the insert path).
    picked = [fb for fb in records if fb.priority is None and triage.applies_to(fb.kind, fb.analysis)]
    if not picked:
        return []
    contact = triage.rules.repeat_contact
    priors: dict[int, int] = {}
    if contact is not None:
        start = min(fb.created_at for fb in picked) - timedelta(days=contact.window_days)
        end = max(fb.created_at for fb in picked)
        window = load_window(session, start, end, exclude={fb.id for fb in picked})
        priors = prior_contact_counts(picked, window, contact.meta_keys, contact.window_days)
    recurrence = apply_recurrence(session, picked, recurrence_policy(settings))
    for fb in picked:
        res = triage.triage(
            fb.text or "", fb.analysis, fb.kind, prior_contacts=priors.get(fb.id, 0), recurrence=recurrence[fb.id].recurrence
        )
        fb.priority = res.priority
        fb.priority_reasons = [r.to_dict() for r in res.reasons]
        track(session, fb, triage)
    # Earlier records whose pattern grew get the matching reason (and may now need handling).
    lifted = {rid for r in recurrence.values() for rid in r.related_ids} - {fb.id for fb in picked}
    for other in session.scalars(select(Feedback).where(Feedback.id.in_(lifted))) if lifted else ():
        add_recurrence_reason(other, triage)
        track(session, other, triage, fresh=False)
    session.flush()
    return picked


def track(session: Session, fb: Feedback, triage: Triage, fresh: bool = True) -> None:
    """Write the first lifecycle event of a record that enters complaint handling.

    ``fresh``: the record was just inserted (no events yet); an earlier record that already has a
    status is already in handling.
    """
    if not fresh and fb.status is not None:
        return
    if fb.status is None and not triage.tracks(fb.kind, fb.priority):
        return
    if fb.status in (None, INITIAL):
        session.add(start_tracking(fb))  # the clock starts when the customer filed it
    else:  # a status sent by the client (e.g. an import of handled complaints) is its first event
        session.add(StatusEvent(feedback_id=fb.id, from_status=None, to_status=fb.status, actor=INTAKE_ACTOR,
                                at=fb.status_at or fb.received_at))


def add_recurrence_reason(fb: Feedback, triage: Triage) -> None:
    """Refresh the recurrence reason of an earlier record whose pattern grew (priority never drops)."""
    reasons = [r for r in (fb.priority_reasons or []) if not str(r.get("code", "")).startswith("recurrence.")]
    extra = [r.to_dict() for r in triage.recurrence_reasons(fb.recurrence)]
    fb.priority_reasons = reasons + extra
    for r in extra:
        if fb.priority is None or rank(r["priority"]) > rank(fb.priority):
            fb.priority = r["priority"]


def attach_triage(session: Session, items: list[dict], id_key: str = "feedback_id") -> list[dict]:
    """Add ``complaint`` (priority, reasons, status, recurrence; None if not triaged) to each item dict, one query."""
    ids = [it[id_key] for it in items]
    found = {}
    if ids:
        q = select(Feedback.id, Feedback.priority, Feedback.priority_reasons, Feedback.status, Feedback.recurrence).where(
            Feedback.id.in_(ids), Feedback.priority.is_not(None)
        )
        found = {r.id: r for r in session.execute(q)}
    for it in items:
        r = found.get(it[id_key])
        it["complaint"] = None if r is None else {
            "priority": r.priority, "priority_reasons": list(r.priority_reasons or []), "status": r.status,
            "recurrence": r.recurrence,
        }
    return items


def _check_choice(name: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        raise BazkhordError(
            "complaint.bad_filter",
            f"{name} must be one of {', '.join(allowed)}.",
            {"field": name, "value": value, "allowed": list(allowed)},
            http_status=422,
        )


def list_complaints(
    session: Session,
    *,
    priority: str | None = None,
    status: str | None = None,
    recurrence: str | None = None,
    segment: str | None = None,
    product: str | None = None,
    topic: str | None = None,
    open_only: bool = False,
    api_key_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Feedback], int]:
    """Tracked complaints matching the filters, most urgent first, then oldest first; and the total."""
    _check_choice("priority", priority, PRIORITIES)
    _check_choice("status", status, COMPLAINT_STATUSES)
    _check_choice("recurrence", recurrence, RECURRENCE)
    conds = [Feedback.status.is_not(None)]
    if priority:
        conds.append(Feedback.priority == priority)
    if status:
        conds.append(Feedback.status == status)
    if open_only:
        conds.append(Feedback.status.in_(("received", "acknowledged", "in_progress", "reopened")))
    if recurrence:
        conds.append(Feedback.recurrence == recurrence)
    if segment:
        conds.append(Feedback.segment == segment)
    if product:
        conds.append(Feedback.product == product)
    if api_key_id is not None:
        conds.append(Feedback.api_key_id == api_key_id)
    if since:
        conds.append(Feedback.created_at >= since)
    if until:
        conds.append(Feedback.created_at < until)
    if topic:
        conds.append(Feedback.id.in_(select(TopicMention.feedback_id).where(TopicMention.topic == topic)))
    total = session.scalar(select(func.count()).select_from(Feedback).where(*conds)) or 0
    rows = session.scalars(
        select(Feedback)
        .where(*conds)
        .options(selectinload(Feedback.topics))
        .order_by(_PRIORITY_ORDER, Feedback.created_at, Feedback.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def complaint_to_dict(fb: Feedback) -> dict:
    """The complaint view: triage (with reasons), lifecycle, recurrence, and what it is about."""
    return {
        "id": fb.id,
        "external_id": fb.external_id,
        "kind": fb.kind,
        "text": fb.text,
        "channel": fb.channel,
        "segment": fb.segment,
        "product": fb.product,
        "region": fb.region,
        "created_at": _iso(fb.created_at),
        "sentiment": fb.sentiment,
        "topics": sorted({m.topic for m in fb.topics}),
        "priority": fb.priority,
        "priority_reasons": list(fb.priority_reasons or []),
        "recurrence": fb.recurrence,
        "related_ids": list(fb.related_ids or []),
        "status": fb.status,
        "status_at": _iso(fb.status_at),
        "allowed_transitions": list(allowed_transitions(fb.status)) if fb.status else [],
        "acknowledged_at": _iso(fb.acknowledged_at),
        "resolved_at": _iso(fb.resolved_at),
        "closed_at": _iso(fb.closed_at),
        "reopen_count": fb.reopen_count or 0,
        "resolution_note": fb.resolution_note,
        "handling_rating": fb.handling_rating,
    }


__all__ = [
    "apply_complaint_intake",
    "attach_triage",
    "complaint_to_dict",
    "list_complaints",
    "prior_contacts",
    "recurrence_policy",
    "triage_for",
]
