"""Complaint handling (ISO 10002): status changes, the triaged complaint queue, process indicators.

- ``PATCH /v1/feedback/{id}/status``: move a complaint through its lifecycle (409 with the allowed
  targets on an invalid transition), with a note and the customer's rating of the handling;
- ``GET /v1/complaints``: tracked complaints filtered by priority, status, recurrence..., most urgent
  and oldest first, each with its triage reasons; ``GET /v1/complaints/{id}``: one with its history;
- ``GET /v1/indicators/process``: time to acknowledge/resolve, SLA shares, reopen rate, backlog,
  satisfaction with handling, by period (Jalali or Gregorian) and by segment/topic/...

Ingest keys see and update only the records they sent (a complaint system syncing its statuses).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Principal, SessionDep, SessionRoute, SettingsDep, require_roles
from api.schemas import ERROR_RESPONSES
from indicators.process import GROUP_BY, process_indicators
from nlp.errors import BazkhordError
from store.complaints import complaint_to_dict, list_complaints, recurrence_policy
from store.feedback import get_feedback
from store.lifecycle import change_status, event_to_dict, status_history
from store.recurrence import RecurrenceDetector, item_of

router = APIRouter(route_class=SessionRoute, tags=["complaints"])

Handler = Annotated[Principal, Depends(require_roles("ingest", "analyst", "manager"))]
IndicatorReader = Annotated[Principal, Depends(require_roles("manager", "analyst"))]
Status = Literal["received", "acknowledged", "in_progress", "resolved", "closed", "reopened"]
Priority = Literal["urgent", "high", "normal", "low"]
Recurrence = Literal["single", "recurring", "systemic"]
# ids are 32-bit on PostgreSQL: a larger one is a 422, not a database error
FeedbackId = Annotated[int, Path(ge=1, le=2_147_483_647, description="feedback record id")]
TRANSITION_RESPONSES = {
    **ERROR_RESPONSES,
    404: {"description": "No such record (or not this ingest key's)"},
    409: {"description": "Invalid transition; details.allowed lists the statuses reachable from the current one"},
}


def _own(principal: Principal) -> int | None:
    return principal.key_id if principal.role == "ingest" else None


class StatusChangeIn(BaseModel):
    """A lifecycle step. Leave ``status`` out to record only the customer's handling rating (or a note)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "resolved", "note": "مبلغ سفارش برگشت داده شد", "handling_rating": 4}]},
    )

    status: Status | None = None
    note: str | None = Field(None, max_length=4000, description="resolution note or handler's comment")
    handling_rating: float | None = Field(None, ge=1, le=5, description="customer's satisfaction with the handling, 1..5")
    at: datetime | None = Field(None, description="when it happened (default now); for back-filling another system's history")
    actor: str | None = Field(None, max_length=100, description="who did it (default: the API key's name)")


@router.patch("/v1/feedback/{feedback_id}/status", responses=TRANSITION_RESPONSES, summary="Change a complaint's status")
def patch_status(feedback_id: FeedbackId, body: StatusChangeIn, session: SessionDep, principal: Handler) -> dict:
    if body.status is None and body.handling_rating is None and not body.note:
        raise BazkhordError("request.invalid", "Give a status, a handling_rating or a note.", {"fields": ["status", "handling_rating", "note"]}, 422)
    get_feedback(session, feedback_id, _own(principal))  # 404 for another ingest key's record
    actor = body.actor or principal.name
    try:
        fb = change_status(
            session, feedback_id, body.status, actor=actor, at=body.at, note=body.note, handling_rating=body.handling_rating
        )
        session.commit()
    except BazkhordError:
        session.rollback()
        raise
    return {**complaint_to_dict(fb), "history": [event_to_dict(e) for e in status_history(session, feedback_id)]}


@router.get("/v1/complaints", responses=ERROR_RESPONSES, summary="Triaged complaints, most urgent and oldest first")
def get_complaints(
    session: SessionDep,
    settings: SettingsDep,
    principal: Handler,
    priority: Priority | None = None,
    status: Status | None = None,
    recurrence: Recurrence | None = None,
    segment: str | None = None,
    product: str | None = None,
    topic: str | None = None,
    open: Annotated[bool, Query(description="only complaints not yet resolved/closed")] = False,
    from_: Annotated[date | None, Query(alias="from", description="filed on or after this day")] = None,
    to: Annotated[date | None, Query(description="filed on or before this day")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    group_duplicates: Annotated[bool, Query(description="mark near-duplicate texts in this page with a shared group id")] = False,
) -> dict:
    rows, total = list_complaints(
        session, priority=priority, status=status, recurrence=recurrence, segment=segment, product=product, topic=topic,
        open_only=open, api_key_id=_own(principal),
        since=datetime.combine(from_, datetime.min.time()) if from_ else None,
        until=datetime.combine(to, datetime.min.time()) + timedelta(days=1) if to else None,
        limit=limit, offset=offset,
    )
    items = [complaint_to_dict(fb) for fb in rows]
    if group_duplicates:
        detector = RecurrenceDetector(recurrence_policy(settings))
        group_of = {i: g[0] for g in detector.duplicate_groups([item_of(fb) for fb in rows]) for i in g}
        for it in items:
            it["duplicate_group"] = group_of.get(it["id"])
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/v1/complaints/{feedback_id}", responses={**ERROR_RESPONSES, 404: {"description": "Not found"}},
            summary="One complaint with its triage reasons and status history")
def get_complaint(feedback_id: FeedbackId, session: SessionDep, principal: Handler) -> dict:
    fb = get_feedback(session, feedback_id, _own(principal))
    if fb.status is None:
        raise BazkhordError("complaint.not_tracked", f"Record {feedback_id} is not in complaint handling.", {"id": feedback_id}, 404)
    return {**complaint_to_dict(fb), "history": [event_to_dict(e) for e in status_history(session, feedback_id)]}


@router.get("/v1/indicators/process", responses=ERROR_RESPONSES,
            summary="Complaint-handling indicators: times, SLA shares, reopen rate, backlog, handling satisfaction")
def get_process_indicators(
    session: SessionDep,
    settings: SettingsDep,
    _principal: IndicatorReader,
    from_: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    to: Annotated[date | None, Query(description="last day (inclusive)")] = None,
    period: Annotated[str | None, Query(description="day | week | month | quarter | year; empty for none")] = "month",
    calendar: Annotated[str, Query(description="jalali | gregorian")] = "jalali",
    by: Annotated[str | None, Query(description=f"group by one of {', '.join(GROUP_BY)}")] = None,
    segment: str | None = None,
    product: str | None = None,
    channel: str | None = None,
    topic: str | None = None,
    priority: Priority | None = None,
    sla_hours: Annotated[float | None, Query(gt=0, description="resolution SLA (default: settings)")] = None,
    ack_sla_hours: Annotated[float | None, Query(gt=0, description="acknowledgement SLA (default: settings)")] = None,
    min_n: Annotated[int | None, Query(ge=1, le=100000)] = None,
) -> dict:
    return process_indicators(
        session, start=from_, end=to, period=period or None, calendar=calendar, by=by or None,
        ack_sla_hours=ack_sla_hours or settings.complaint_ack_sla_hours,
        sla_hours=sla_hours or settings.complaint_sla_hours,
        min_n=min_n or settings.min_n,
        filters={"segment": segment, "product": product, "channel": channel, "topic": topic, "priority": priority},
    )
