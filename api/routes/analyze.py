"""POST /v1/analyze: stateless analysis of 1..1000 texts (nothing is stored)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Principal, SessionRoute, get_analyzer, require_roles, settings_of
from api.schemas import ERROR_RESPONSES, AnalyzeIn, AnalyzeOut, is_blank
from nlp.errors import BazkhordError

router = APIRouter(route_class=SessionRoute, prefix="/v1", tags=["analysis"])


# An async route: validation and the JSON response run on the event loop and the analysis is awaited
# from the micro-batcher, so a one-text request costs no worker-pool thread hop of its own (most of
# its cost besides the model).
@router.post("/analyze", response_model=AnalyzeOut, responses=ERROR_RESPONSES,
             summary="Analyse texts: sentiment, topics with polarity, PII masked")
async def analyze(
    body: AnalyzeIn,
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles("ingest", "analyst"))],
) -> JSONResponse:
    holder = getattr(request.app.state, "analyzer_holder", None)
    if holder is None or holder.get() is None:
        await run_in_threadpool(get_analyzer, request)  # waits for a startup load in progress, or 503
    settings = settings_of(request)
    texts = body.texts
    if not texts:
        raise BazkhordError("request.empty", "No texts were sent.", [{"field": "texts", "code": "field.too_short",
                                                                     "reason": "at least one text is required"}], 422)
    if len(texts) > settings.max_analyze_items:
        raise BazkhordError("request.too_many_items", f"At most {settings.max_analyze_items} texts per request.",
                            {"field": "texts", "max": settings.max_analyze_items, "count": len(texts)}, 422)
    errors = []
    for i, t in enumerate(texts):
        if is_blank(t):
            errors.append({"field": f"texts.{i}", "code": "field.empty_text", "reason": "text is empty or only whitespace"})
        elif len(t) > settings.max_text_chars:
            errors.append({"field": f"texts.{i}", "code": "field.too_long",
                           "reason": f"text is longer than {settings.max_text_chars} characters"})
    if errors:
        raise BazkhordError("request.invalid", "Some texts are not valid; see details.", errors, 422)
    used, results = await request.app.state.batcher.analyze_async(texts, getattr(request.state, "analyze_arrival", None))
    request.app.state.metrics.analyzed.labels("analyze").inc(len(results))
    # JSONResponse directly: the results are already plain dicts in the documented shape
    return JSONResponse({"model": used.version, "results": [a.to_dict() for a in results]})
