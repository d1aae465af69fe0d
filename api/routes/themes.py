"""GET /v1/themes/top and /v1/themes/emerging (roles manager, analyst)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SessionRoute
from api.routes.indicators import MinNDep, Reader, SliceDep, json_response, topic_labels
from indicators.themes import emerging_themes, top_themes

router = APIRouter(route_class=SessionRoute, prefix="/v1/themes", tags=["themes"])


@router.get("/top", response_model=dict, summary="Top complaint themes: volume x negativity, change, impact, examples, key phrases")
def get_top_themes(
    request: Request,
    session: SessionDep,
    sl: SliceDep,
    min_n: MinNDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    examples: Annotated[int, Query(ge=0, le=10)] = 3,
    _principal=Reader,
) -> JSONResponse:
    """Window defaults to the last 30 days with data; compared with the window of equal length before it."""
    return json_response(top_themes(session, sl, min_n=min_n, labels=topic_labels(request, session), limit=limit, examples=examples))


@router.get("/emerging", summary="Candidate themes among texts no topic claimed (deterministic clusters)")
def get_emerging_themes(
    session: SessionDep,
    sl: SliceDep,
    sample: Annotated[int, Query(ge=20, le=20000, description="most recent abstained texts used")] = 2000,
    max_themes: Annotated[int, Query(ge=2, le=20)] = 8,
    _principal=Reader,
) -> dict:
    """Window defaults to the last 90 days with data."""
    return emerging_themes(session, sl, sample=sample, max_themes=max_themes)
