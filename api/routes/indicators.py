"""GET /v1/indicators: satisfaction indicators by period and slice (roles manager, analyst).

Also holds the query-parameter parsing the other insight routes (themes, alerts, reports) share.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, SessionRoute, SettingsDep, require_roles
from indicators.compute import WEIGHT_METHODS, indicators
from indicators.process import complaint_summary
from indicators.query import DIMENSIONS, Slice
from nlp.errors import BazkhordError
from store.schema import TaxonomyVersion

router = APIRouter(route_class=SessionRoute, prefix="/v1", tags=["indicators"])
Reader = Depends(require_roles("manager", "analyst"))


def _values(raw: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for item in raw or []:
        out += [v.strip() for v in item.split(",") if v.strip()]
    return tuple(out)


MIN_DAY, MAX_DAY = date(1900, 1, 1), date(2200, 12, 31)


async def slice_params(
    from_: Annotated[date | None, Query(alias="from", description="first day (inclusive), ISO date")] = None,
    to: Annotated[date | None, Query(description="last day (inclusive), ISO date")] = None,
    kind: Annotated[list[str] | None, Query(description="filter: feedback kind (repeat or comma-separate)")] = None,
    segment: Annotated[list[str] | None, Query(description="filter: segment")] = None,
    channel: Annotated[list[str] | None, Query(description="filter: channel")] = None,
    product: Annotated[list[str] | None, Query(description="filter: product")] = None,
    region: Annotated[list[str] | None, Query(description="filter: region")] = None,
) -> Slice:
    for name, day in (("from", from_), ("to", to)):
        # windows are shifted by whole periods (previous window, baselines): keep them far from date limits
        if day is not None and not (MIN_DAY <= day <= MAX_DAY):
            raise BazkhordError("indicators.date_out_of_range",
                                f"'{name}' must lie between {MIN_DAY} and {MAX_DAY}.", {"field": name}, 422)
    given = {"kind": kind, "segment": segment, "channel": channel, "product": product, "region": region}
    filters = {k: _values(v) for k, v in given.items() if _values(v)}
    return Slice(from_, to, filters)


SliceDep = Annotated[Slice, Depends(slice_params)]


async def min_n_param(
    settings: SettingsDep,
    min_n: Annotated[int | None, Query(ge=1, le=100000, description="minimum n (default: settings.min_n)")] = None,
) -> int:
    return min_n if min_n is not None else settings.min_n


MinNDep = Annotated[int, Depends(min_n_param)]


_NEWEST_TAXONOMY = select(TaxonomyVersion.content).order_by(TaxonomyVersion.version.desc()).limit(1)


def topic_labels(request: Request, session: Session) -> dict[str, str]:
    """Persian topic labels: the newest taxonomy version, else the active model's taxonomy."""
    labels: dict[str, str] = {}
    holder = getattr(request.app.state, "analyzer_holder", None)
    analyzer = holder.get() if holder is not None else None
    if analyzer is not None:
        try:
            for t in analyzer.taxonomy.to_dict().get("topics", []):
                labels[t["id"]] = t.get("label_fa") or t["id"]
        except (AttributeError, KeyError, TypeError):
            pass
    content = session.scalar(_NEWEST_TAXONOMY)
    if isinstance(content, dict):
        for t in content.get("topics", []):
            if isinstance(t, dict) and t.get("id"):
                labels[t["id"]] = t.get("label_fa") or t["id"]
    return labels


def parse_weights(weights: str) -> str | dict[str, float]:
    if weights in WEIGHT_METHODS:
        return weights
    out: dict[str, float] = {}
    try:
        for pair in weights.split(","):
            k, v = pair.split(":")
            out[k.strip()] = float(v)
    except ValueError as exc:
        raise BazkhordError(
            "indicators.bad_weights",
            f"weights must be one of {', '.join(WEIGHT_METHODS)} or topic:weight pairs like delivery:2,price:1",
            {"weights": weights},
            422,
        ) from exc
    if any(v < 0 for v in out.values()):
        raise BazkhordError("indicators.bad_weights", "weights must not be negative", {"weights": weights}, 422)
    return out


def json_response(content: dict) -> JSONResponse:
    """The body as JSON without FastAPI's ``jsonable_encoder`` walk: indicator payloads are already plain
    JSON types, and walking their thousands of figures cost more than computing them."""
    return JSONResponse(content)


@router.get("/indicators", response_model=dict,
            summary="Satisfaction indicators (CSAT, NPS, net sentiment, topics, CSI) by period and slice")
def get_indicators(
    request: Request,
    session: SessionDep,
    sl: SliceDep,
    min_n: MinNDep,
    period: Annotated[str, Query(description="day | week | month | quarter | year")] = "month",
    calendar: Annotated[str, Query(description="jalali | gregorian")] = "jalali",
    group_by: Annotated[str | None, Query(description=f"one of {', '.join(DIMENSIONS)}")] = None,
    weights: Annotated[str, Query(description="CSI weights: driver | mentions | equal | topic:w,topic:w")] = "driver",
    _principal=Reader,
) -> JSONResponse:
    out = indicators(
        session, sl, period=period, calendar=calendar, group_by=group_by or None, min_n=min_n,
        weights=parse_weights(weights), labels=topic_labels(request, session),
    )
    # ISO 10002 process indicators beside the satisfaction ones (details: GET /v1/indicators/process), over
    # the same window: with "from" or "to" left out, the default one the satisfaction figures used
    s = request.app.state.settings
    start, end = (date.fromisoformat(out[k]) if out[k] else None for k in ("from", "to"))
    out["complaint_handling"] = complaint_summary(
        session, start, end, sl.filters, period, calendar, min_n, s.complaint_ack_sla_hours, s.complaint_sla_hours
    )
    return json_response(out)
