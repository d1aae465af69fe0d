"""The review queue (JSON) and the review page an analyst labels in (RTL, keyboard-driven)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.analyst_runtime import parse_when
from api.deps import Principal, SessionDep, SessionRoute, require_roles
from store.complaints import attach_triage
from training.review_queue import (
    ReviewQueue,
    candidates_from_db,
    labelled_vocabulary,
    model_vocabulary,
)

router = APIRouter(route_class=SessionRoute, tags=["analysts"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
Analyst = Annotated[Principal, Depends(require_roles("analyst"))]


@router.get("/v1/review/queue")
def review_queue(
    request: Request,
    session: SessionDep,
    _who: Analyst,
    topic: str | None = None,
    since: str | None = None,
    until: str | None = None,
    segment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    diversity: Annotated[float, Query(ge=0.0, le=1.0)] = 0.3,
) -> dict:
    """Unlabelled records most worth a human look first (abstained, low margin, rating disagreement,
    new vocabulary), diversified; filters: topic (found by the model), time range, segment."""
    holder = getattr(request.app.state, "analyzer_holder", None)
    vocab = set(model_vocabulary(holder.get() if holder is not None else None)) | labelled_vocabulary(session)
    cands = candidates_from_db(session, topic=topic, since=parse_when(since, "since"),
                               until=parse_when(until, "until", end=True), segment=segment)
    items = ReviewQueue(limit=limit, diversity=diversity, vocabulary=vocab).select(cands)
    # complaint triage (ISO 10002) beside each item: priority and the reasons for it
    return {"items": attach_triage(session, [i.to_dict() for i in items]), "pool": len(cands),
            "filters": {"topic": topic, "since": since, "until": until, "segment": segment}}


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(request: Request) -> HTMLResponse:
    # The page itself holds no data: it asks for an analyst key and calls the JSON API with it.
    return templates.TemplateResponse(request, "review.html", {})
