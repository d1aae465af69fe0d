"""Complaint intake and listing: triage + recurrence on the records the feedback path just stored.

``apply_complaint_intake(session, records, settings)`` is the one hook the insert path calls (after a
flush, before its commit): complaints (and comments the model reads as negative) get a priority with
reasons, the status ``received`` with its first event, and their recurrence with related ids.
``settings`` is any object with the complaint fields of ``api.settings.Settings`` (or None for the
defaults); the store never imports the api.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from models.triage import Triage, get_triage, rank
from nlp.errors import BazkhordError
from store.db import write_turn_held
from store.intake_mirror import IntakeMirror, intake_mirror
from store.lifecycle import INITIAL, INTAKE_ACTOR, allowed_transitions, utcnow
from store.recurrence import (
    HistoryIndex,
    Lift,
    RecurrencePolicy,
    RecurrenceResult,
    WindowRecord,
    attach_topics,
    classify_intake_indexed,
    item_of,
    load_window_for_one,
    load_window_records,
    reclassify_one,
    replay_lifts,
)
from store.schema import (
    COMPLAINT_STATUSES,
    PRIORITIES,
    RECURRENCE,
    Feedback,
    StatusEvent,
    TopicMention,
    record_from_values,
)
from store.window_cache import newest_record, reanalysed_since

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


@dataclass(slots=True)
class _Handling:
    """The triage and lifecycle fields of one record as intake computes them (written back in bulk)."""

    id: int
    kind: str | None
    created_at: datetime
    received_at: datetime | None
    priority: str | None
    priority_reasons: list | None
    status: str | None
    status_at: datetime | None
    reopen_count: int | None
    recurrence: str | None
    related_ids: list | None


_HANDLING = ("priority", "priority_reasons", "status", "status_at", "reopen_count", "recurrence", "related_ids")
_BY_ID_CHUNK = 1000  # ids per IN (...): far below every backend's bound-parameter limit


def _picked(records: Sequence[Feedback], triage: Triage) -> list[Feedback]:
    # Not yet triaged (complaints arrive with status "received" already set by the insert path).
    return [fb for fb in records if fb.priority is None and triage.applies_to(fb.kind, fb.analysis)]


@dataclass(slots=True)
class _Decision:
    """What intake decides for the picked records: recurrence per record, the lifts of earlier ones, and
    the triage verdict of each picked record (in their order)."""

    results: dict[int, RecurrenceResult]
    lifts: dict[int, list[Lift]]
    verdicts: list
    priors: dict[int, int]  # earlier contacts of the same customer per picked record (empty: no such rule)
    index: HistoryIndex  # the classification's index (see ``classify_intake_indexed``)


def _load_window(session: Session, picked: Sequence[Feedback], policy: RecurrencePolicy,
                 contact: Any) -> list[WindowRecord]:
    if len(picked) == 1:  # one record (the API's single POST): only the part of the window it can meet
        key = customer_key(picked[0], contact.meta_keys) if contact is not None else None
        window = load_window_for_one(session, item_of(picked[0]), policy,
                                     (key, contact.window_days) if key is not None else None)
        if window is not None:
            return window
    days = max(policy.window_days, contact.window_days if contact is not None else 0)
    first, last = min(fb.created_at for fb in picked), max(fb.created_at for fb in picked)
    # one window serves both lookbacks: records before a lookback's start never count for it
    return load_window_records(session, first - timedelta(days=days), last, exclude={fb.id for fb in picked},
                               with_meta=contact is not None)


def _decide(picked: Sequence[Feedback], window: Sequence[WindowRecord], policy: RecurrencePolicy,
            triage: Triage) -> _Decision:
    """Recurrence and triage of ``picked`` against ``window`` (reads nothing)."""
    contact = triage.rules.repeat_contact
    priors: dict[int, int] = {}
    if contact is not None:
        priors = prior_contact_counts(picked, window, contact.meta_keys, contact.window_days)
    results, lifts, index = classify_intake_indexed([item_of(fb) for fb in picked], [r.item() for r in window], policy)
    return _Decision(results, lifts, _verdicts(picked, results, priors, triage), priors, index)


def _verdicts(picked: Sequence[Feedback], results: dict[int, RecurrenceResult], priors: dict[int, int],
              triage: Triage) -> list:
    return triage.triage_batch(
        [fb.text or "" for fb in picked], [fb.analysis for fb in picked], [fb.kind for fb in picked],
        prior_contacts=[priors.get(fb.id, 0) for fb in picked],
        recurrence=[results[fb.id].recurrence for fb in picked],
    )


# The id of the record in an intake decided before its INSERT (``prepare_intake``): above every real id,
# so the record sorts after every stored one exactly as its real (the next) id will.
PROVISIONAL_ID = 2**62


@dataclass(slots=True)
class PreparedIntake:
    """The intake of one record decided before its write turn, from reads that took no lock (see
    ``prepare_intake``); ``apply_complaint_intake`` brings it up to date inside the turn."""

    record: Feedback  # transient, with ``PROVISIONAL_ID``
    window: list[WindowRecord]
    seen_id: int  # the newest record id when the reads began (0: none)
    seen_analyzed_at: datetime | None  # the newest ``analyzed_at`` then
    decision: _Decision


def prepare_intake(session: Session, values: dict[str, Any], mentions: Sequence[dict[str, Any]],
                   settings: Any = None) -> PreparedIntake | None:
    """Decide the intake of one record not yet inserted (column ``values`` and topic ``mentions``, as
    ``store.feedback.feedback_values`` gives them), with no write lock held.

    Single-record ingestion under load spent most of its write turn on this: the reads of the window and
    the classification (~9 of ~11 ms on 3,000 records), while every other ingest waited. None when there
    is nothing to prepare (the record is not triaged, or the window has no bounded part) and on
    PostgreSQL, where ids are not handed out in commit order (intake runs in the transaction there).
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    triage = triage_for(settings)
    fb = record_from_values(values, mentions, PROVISIONAL_ID)
    if not _picked([fb], triage):
        return None
    policy = recurrence_policy(settings)
    mirror = _mirror(session, settings, policy, triage)
    if mirror is not None and mirror.covers(fb.created_at):
        mirror.prepare(session)  # built here, if it must be, rather than inside the turn
        mirror.detector.warm(fb.text or "")  # its vector, so that the turn only looks it up
        return None  # decided inside the turn from the mirror, with no reads of the window
    # first: every record committed after these two reads has a larger id (SQLite numbers rows
    # max(rowid) + 1 while its writer holds the write turn)
    seen_id, seen_at = newest_record(session)
    contact = triage.rules.repeat_contact
    key = customer_key(fb, contact.meta_keys) if contact is not None else None
    window = load_window_for_one(session, item_of(fb), policy, (key, contact.window_days) if key is not None else None)
    if window is None:
        return None
    return PreparedIntake(fb, window, seen_id, seen_at, _decide([fb], window, policy, triage))


def _same_record(a: Feedback, b: Feedback) -> bool:
    return (a.created_at, a.kind, a.text, a.segment, a.product, a.meta, item_of(a).topics) == (
        b.created_at, b.kind, b.text, b.segment, b.product, b.meta, item_of(b).topics)


def _brought_up_to_date(session: Session, prep: PreparedIntake, fb: Feedback, policy: RecurrencePolicy,
                        triage: Triage) -> _Decision | None:
    """``prep``'s decision for ``fb`` (its record, now inserted with the write turn held) as if it were
    decided now, or None when it must be decided again from fresh reads.

    What can have changed since its reads: records committed since (ids between ``seen_id`` and the new
    id), and stored records re-analysed (``analyzed_at`` past the one seen: ``store.reanalyze`` stamps it
    inside its write turn). Nothing else that intake reads of a stored record changes (their texts, times,
    scopes and topics are written once). New triaged records of the window are added to the window read
    before: a superset of what fresh reads would pick, within the whole window, so the same decision.
    """
    if not _same_record(prep.record, fb):
        return None
    if reanalysed_since(session, prep.seen_analyzed_at):
        return None
    contact = triage.rules.repeat_contact
    days = max(policy.window_days, contact.window_days if contact is not None else 0)
    cols = (Feedback.id, Feedback.created_at, Feedback.segment, Feedback.product, Feedback.text, Feedback.meta)
    q = select(*cols).where(Feedback.id > prep.seen_id, Feedback.id < fb.id, Feedback.priority.is_not(None),
                            Feedback.created_at >= fb.created_at - timedelta(days=days), Feedback.created_at <= fb.created_at)
    fresh = {r[0]: WindowRecord(r[0], r[1], r[2], r[3], r[4] or "", r[5]) for r in session.execute(q)}
    d = prep.decision
    if not fresh:
        return _Decision(
            {fb.id: d.results[PROVISIONAL_ID]},
            {rid: [(lvl, fb.id if i == PROVISIONAL_ID else i, t) for lvl, i, t in ops] for rid, ops in d.lifts.items()},
            d.verdicts, {fb.id if i == PROVISIONAL_ID else i: n for i, n in d.priors.items()}, d.index,
        )
    attach_topics(session, fresh)
    # Decided again from the prepared index with the new records added (what classifying against the
    # merged window gives, without indexing all of it again inside the turn).
    results, lifts = reclassify_one(d.index, item_of(fb), [r.item() for r in fresh.values()])
    priors: dict[int, int] = {}
    if contact is not None:
        window = {r.id: r for r in prep.window} | fresh
        priors = prior_contact_counts([fb], list(window.values()), contact.meta_keys, contact.window_days)
    same = (priors.get(fb.id, 0) == d.priors.get(PROVISIONAL_ID, 0)
            and results[fb.id].recurrence == d.results[PROVISIONAL_ID].recurrence)
    verdicts = d.verdicts if same else _verdicts([fb], results, priors, triage)  # what triage reads is unchanged
    decision = _Decision(results, lifts, verdicts, priors, d.index)
    if not item_of(fb).topics:  # topics borrowed from its near-duplicates: members were read for the old ones
        if not set(decision.results[fb.id].item_topics) <= set(prep.decision.results[PROVISIONAL_ID].item_topics):
            return None
    return decision


def _mirror(session: Session, settings: Any, policy: RecurrencePolicy, triage: Triage) -> IntakeMirror | None:
    if not getattr(settings, "intake_mirror", True):
        return None
    contact = triage.rules.repeat_contact
    return intake_mirror(session, policy, tuple(contact.meta_keys) if contact is not None else None,
                         contact.window_days if contact is not None else 0)


def _mirrored_decision(session: Session, fb: Feedback, settings: Any, policy: RecurrencePolicy,
                       triage: Triage) -> _Decision | None:
    """The decision for the one new record ``fb`` (inserted, the write turn held) from the process's
    mirror of the window (``store.intake_mirror``), or None where the mirror does not serve."""
    mirror = _mirror(session, settings, policy, triage)
    if mirror is None or not mirror.covers(fb.created_at):
        return None
    with mirror.lock:
        if not mirror.sync(session, fb.id):
            return None
        decided = mirror.decide(item_of(fb), fb.meta)
        index = mirror.index
    res = decided.result
    results = {fb.id: res}
    priors = {fb.id: decided.prior_contacts} if decided.prior_contacts is not None else {}
    lifts = {rid: [(res.recurrence, fb.id, res.topics)] for rid in res.related_ids}
    return _Decision(results, lifts, _verdicts([fb], results, priors, triage), priors, index)  # type: ignore[arg-type]


def apply_complaint_intake(session: Session, records: Sequence[Feedback], settings: Any = None,
                           prepared: PreparedIntake | None = None) -> list[Feedback]:
    """Triage, classify recurrence and start the lifecycle for the complaint-like ``records``.

    ``records`` must be flushed (ids assigned) with their analysis and topic mentions. Complaints and
    comments the model reads as negative get a priority, reasons and recurrence; complaints (and the
    others from the rules' ``track_from`` priority up) also enter the lifecycle as ``received``.
    Returns the triaged records. The caller commits.

    Set-based: one query for the stored window (plus one for its topics), one for the earlier records
    a pattern lifts, then UPDATE executemany (one per column set) and one INSERT executemany for the
    events; the session's objects of these records are kept in step without a flush. ``prepared``
    (``prepare_intake`` of the one record): its decision, brought up to date, instead of the window reads.
    """
    triage = triage_for(settings)
    picked = _picked(records, triage)
    if not picked:
        return []
    policy = recurrence_policy(settings)
    decision = None
    if len(picked) == 1 and len(records) == 1 and write_turn_held(session.get_bind()):
        decision = _mirrored_decision(session, picked[0], settings, policy, triage)
    if decision is None and prepared is not None and len(picked) == 1:
        decision = _brought_up_to_date(session, prepared, picked[0], policy, triage)
    if decision is None:
        window = _load_window(session, picked, policy, triage.rules.repeat_contact)
        decision = _decide(picked, window, policy, triage)
    _record_decision(session, picked, decision, policy, triage)
    return picked


def _record_decision(session: Session, picked: Sequence[Feedback], decision: _Decision, policy: RecurrencePolicy,
                     triage: Triage) -> None:
    results, lifts = decision.results, decision.lifts
    new_ids = {fb.id for fb in picked}
    rows: list[_Handling] = []
    triage_only: list[_Handling] = []
    events: list[dict[str, Any]] = []
    for fb, verdict in zip(picked, decision.verdicts, strict=True):
        res = results[fb.id]
        recurrence, related = replay_lifts(res.recurrence, res.related_ids, lifts.get(fb.id, ()), policy.max_related)
        row = _Handling(fb.id, fb.kind, fb.created_at, fb.received_at, verdict.priority,
                        [r.to_dict() for r in verdict.reasons], fb.status, fb.status_at, fb.reopen_count,
                        recurrence, related)
        rows.append(row)
        event = first_event(row, triage)
        if event is not None:
            events.append(event)
    # Earlier records whose pattern grew get the matching reason (and may now need handling).
    lifted = sorted({rid for r in results.values() for rid in r.related_ids} - new_ids)
    for i in range(0, len(lifted), _BY_ID_CHUNK):
        found = session.execute(_LIFTED, {"ids": lifted[i : i + _BY_ID_CHUNK]})
        for r in found:
            row = _Handling(*r)
            before = (row.priority, row.priority_reasons, row.recurrence, row.related_ids)
            row.recurrence, row.related_ids = replay_lifts(row.recurrence, row.related_ids, lifts[row.id],
                                                           policy.max_related)
            add_recurrence_reason(row, triage)
            event = first_event(row, triage, fresh=False)
            if event is not None:
                events.append(event)
                rows.append(row)
            elif (row.priority, row.priority_reasons, row.recurrence, row.related_ids) != before:
                # its lifecycle columns are not ours to write (a handler may be changing them)
                triage_only.append(row)
            # else: already at its pattern's level with a full list of related ids (most rows of a
            # pattern that keeps growing): writing it again would change nothing
    _write_back(session, rows, triage_only, events, {fb.id: fb for fb in picked})


_TRIAGE = ("priority", "priority_reasons", "recurrence", "related_ids")
# the columns of a _Handling, by id (built once: every recurring complaint's intake runs it)
_LIFTED = (select(Feedback.id, Feedback.kind, Feedback.created_at, Feedback.received_at,
                  *(getattr(Feedback, name) for name in _HANDLING))
           .where(Feedback.id.in_(bindparam("ids", expanding=True))).order_by(Feedback.id))


def _update_by_id(columns: Sequence[str]) -> Any:
    table = Feedback.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in columns})
    )


_UPDATE_HANDLING = _update_by_id(_HANDLING)
_UPDATE_TRIAGE = _update_by_id(_TRIAGE)


def _write_back(session: Session, rows: Sequence[_Handling], triage_only: Sequence[_Handling],
                events: list[dict[str, Any]], objects: dict[int, Feedback]) -> None:
    """UPDATE executemany for the records (triage + lifecycle columns of ``rows``, triage columns of
    ``triage_only``), one INSERT executemany for the first events; the session's objects of those
    records get the same values as committed state (nothing left to flush)."""
    for stmt, group, columns in ((_UPDATE_HANDLING, rows, _HANDLING), (_UPDATE_TRIAGE, triage_only, _TRIAGE)):
        if group:
            session.execute(stmt, [{"b_id": r.id, **{f"b_{n}": getattr(r, n) for n in columns}} for r in group])
        for r in group:
            obj = objects.get(r.id) or session.identity_map.get(identity_key(Feedback, r.id))
            if obj is not None:
                for name in columns:
                    set_committed_value(obj, name, getattr(r, name))
    if events:
        session.execute(insert(StatusEvent), events)


def first_event(fb: Any, triage: Triage, fresh: bool = True) -> dict[str, Any] | None:
    """The first lifecycle event (column values) of a record that enters complaint handling, or None.

    ``fresh``: the record was just inserted (no events yet); an earlier record that already has a
    status is already in handling. Sets the record's status like ``start_tracking`` does.
    """
    if not fresh and fb.status is not None:
        return None
    if fb.status is None and not triage.tracks(fb.kind, fb.priority):
        return None
    if fb.status in (None, INITIAL):  # the clock starts when the customer filed it (start_tracking)
        at = fb.created_at or fb.received_at or utcnow()
        fb.status, fb.status_at, fb.reopen_count = INITIAL, at, fb.reopen_count or 0
        return {"feedback_id": fb.id, "from_status": None, "to_status": INITIAL, "actor": INTAKE_ACTOR, "note": None,
                "at": at}
    # a status sent by the client (e.g. an import of handled complaints) is its first event
    return {"feedback_id": fb.id, "from_status": None, "to_status": fb.status, "actor": INTAKE_ACTOR, "note": None,
            "at": fb.status_at or fb.received_at}


def track(session: Session, fb: Feedback, triage: Triage, fresh: bool = True) -> None:
    """Add the first lifecycle event of a record that enters complaint handling (see ``first_event``)."""
    event = first_event(fb, triage, fresh)
    if event is not None:
        session.add(StatusEvent(**event))


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
    "prepare_intake",
    "prior_contacts",
    "recurrence_policy",
    "triage_for",
]
