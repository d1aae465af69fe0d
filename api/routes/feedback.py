"""Feedback ingestion (one, batch, file import) and reading it back.

Ingest keys read only the records they sent; other roles read all. Writes are idempotent on
``external_id``: the same payload again returns the stored record (200), a different one is a 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Principal, SessionDep, SessionRoute, SettingsDep, get_analyzer, require_roles
from api.importing import read_table
from api.ingest import RawRow, check_count, ingest
from api.schemas import (
    ERROR_RESPONSES,
    BatchOut,
    FeedbackBatchIn,
    FeedbackIn,
    FeedbackOut,
    FeedbackPage,
    Kind,
    RecordId,
    Sentiment,
)
from nlp.errors import BazkhordError
from store.calendar import to_utc_naive
from store.feedback import FeedbackFilter, feedback_to_dict, get_feedback, list_feedback

router = APIRouter(route_class=SessionRoute, prefix="/v1/feedback", tags=["feedback"])

# DESIGN.md roles: ingest sends feedback; analysts and managers read (admin may do anything).
Writer = Annotated[Principal, Depends(require_roles("ingest"))]
Reader = Annotated[Principal, Depends(require_roles("ingest", "analyst", "manager"))]
AnalyzerDep = Annotated[Any, Depends(get_analyzer)]


def _own(principal: Principal) -> int | None:
    """The key id whose records this caller may see (None = all)."""
    return principal.key_id if principal.role == "ingest" else None


@router.post("", response_model=FeedbackOut, status_code=201, responses={
    **ERROR_RESPONSES, 200: {"model": FeedbackOut, "description": "Same external_id and payload: the stored record"},
    409: {"description": "external_id already used with a different payload"}},
    summary="Store one feedback record with its analysis")
def create_feedback(item: FeedbackIn, request: Request, session: SessionDep, settings: SettingsDep,
                    principal: Writer, analyzer: AnalyzerDep) -> JSONResponse:
    try:
        out = ingest(session, [RawRow(0, item)], analyzer, settings, principal.key_id,
                     metrics=request.app.state.metrics)
    except BazkhordError as exc:
        if exc.code == "feedback.invalid_rows" and isinstance(exc.details, list):
            # one record: report its errors as field errors, like request validation does
            details = [{"field": e["field"], "code": e["code"], "reason": e["reason"]} for e in exc.details]
            raise BazkhordError("request.invalid", "The record is not valid; see details.", details, 422) from None
        raise
    if out.created:
        return JSONResponse(feedback_to_dict(out.created[0][1]), status_code=201)
    return JSONResponse(feedback_to_dict(out.existing[0][1]), status_code=200)


@router.post("/batch", response_model=BatchOut, responses={
    **ERROR_RESPONSES, 409: {"description": "external_id conflicts (all-or-nothing mode)"}},
    summary="Store up to 10,000 records, all-or-nothing unless ?partial=true")
def create_batch(body: FeedbackBatchIn, request: Request, session: SessionDep, settings: SettingsDep,
                 principal: Writer, analyzer: AnalyzerDep,
                 partial: Annotated[bool, Query(description="store valid rows, report the others")] = False) -> dict:
    check_count(len(body.items), settings.max_batch_items)
    rows = [RawRow(i, it) for i, it in enumerate(body.items)]
    out = ingest(session, rows, analyzer, settings, principal.key_id, partial=partial, metrics=request.app.state.metrics)
    return out.to_dict()


@router.post("/import", response_model=BatchOut, responses={
    **ERROR_RESPONSES, 413: {"description": "File too large"}, 415: {"description": "Not CSV or XLSX"}},
    summary="Import a CSV or XLSX file (UTF-8 ± BOM, UTF-16, Windows-1256) with a column mapping")
async def import_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Writer,
    analyzer: AnalyzerDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX; the first row is the header")],
    mapping: Annotated[str | None, Form(description='JSON {"our_field": "their column"}, e.g. {"text": "نظر"}')] = None,
    encoding: Annotated[str | None, Form(description="force an encoding (default: detected)")] = None,
    partial: Annotated[bool, Query(description="store valid rows, report the others")] = False,
) -> dict:
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise BazkhordError("request.too_large", f"The file is larger than {settings.max_upload_bytes} bytes.",
                            {"max_bytes": settings.max_upload_bytes}, 413)
    table, _header = await run_in_threadpool(read_table, data, mapping, file.filename, encoding, settings.max_import_rows)
    check_count(len(table), settings.max_import_rows, "rows")
    rows = [RawRow(t.row, t.values, t.line) for t in table]
    out = await run_in_threadpool(ingest, session, rows, analyzer, settings, principal.key_id, partial,
                                  None, request.app.state.metrics)
    return out.to_dict()


def _utc(dt: datetime | None, tz: str) -> datetime | None:
    return to_utc_naive(dt, tz) if dt is not None else None


@router.get("", response_model=FeedbackPage, responses=ERROR_RESPONSES,
            summary="List feedback, newest first, with filters and cursor pagination")
def list_records(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    since: Annotated[datetime | None, Query(description="created_at >= since (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="created_at < until (ISO 8601)")] = None,
    kind: Kind | None = None,  # type: ignore[valid-type]
    channel: str | None = None,
    segment: str | None = None,
    product: str | None = None,
    region: str | None = None,
    topic: str | None = None,
    sentiment: Sentiment | None = None,
    abstained: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict:
    f = FeedbackFilter(
        since=_utc(since, settings.timezone), until=_utc(until, settings.timezone), kind=kind, channel=channel,
        segment=segment, product=product, region=region, topic=topic, sentiment=sentiment, abstained=abstained,
        api_key_id=_own(principal),
    )
    if f.since and f.until and f.since >= f.until:
        raise BazkhordError("request.invalid", "`since` must be before `until`.",
                            [{"field": "query.since", "code": "field.invalid_date", "reason": "since >= until"}], 422)
    rows, next_cursor = list_feedback(session, f, limit, cursor)
    return {"items": [feedback_to_dict(fb) for fb in rows], "next_cursor": next_cursor}


@router.get("/{feedback_id}", response_model=FeedbackOut, responses={**ERROR_RESPONSES, 404: {"description": "Not found"}},
            summary="One feedback record")
def read_record(feedback_id: RecordId, session: SessionDep, principal: Reader) -> dict:
    return feedback_to_dict(get_feedback(session, feedback_id, _own(principal)))
