"""GET /v1/alerts: significant rises in negative mentions per topic and segment (roles manager, analyst)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import SessionDep, SessionRoute
from api.routes.indicators import MinNDep, Reader, SliceDep, topic_labels
from indicators.alerts import alerts

router = APIRouter(route_class=SessionRoute, prefix="/v1", tags=["alerts"])


@router.get("/alerts", summary="Current period vs trailing baseline; z test with Benjamini-Hochberg control")
def get_alerts(
    request: Request,
    session: SessionDep,
    sl: SliceDep,
    min_n: MinNDep,
    period: Annotated[str, Query(description="day | week | month | quarter | year")] = "week",
    calendar: Annotated[str, Query(description="jalali | gregorian")] = "jalali",
    at: Annotated[date | None, Query(description="a day in the current period (default: last day with data)")] = None,
    baseline: Annotated[int, Query(ge=1, le=52, description="number of previous periods in the baseline")] = 4,
    alpha: Annotated[float, Query(gt=0, lt=1, description="false discovery rate")] = 0.05,
    _principal=Reader,
) -> dict:
    """``from``/``to`` are ignored here: the windows come from ``at``, ``period`` and ``baseline``."""
    sl = type(sl)(None, None, sl.filters)
    return alerts(
        session, sl, period=period, calendar=calendar, at=at, baseline=baseline, alpha=alpha, min_n=min_n,
        labels=topic_labels(request, session),
    )
