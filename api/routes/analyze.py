"""POST /v1/analyze: stateless analysis of 1..1000 texts (nothing is stored)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import Principal, SettingsDep, get_analyzer, require_roles
from api.schemas import ERROR_RESPONSES, AnalyzeIn, AnalyzeOut, is_blank
from nlp.errors import BazkhordError

router = APIRouter(prefix="/v1", tags=["analysis"])


@router.post("/analyze", response_model=AnalyzeOut, responses=ERROR_RESPONSES,
             summary="Analyse texts: sentiment, topics with polarity, PII masked")
def analyze(
    body: AnalyzeIn,
    request: Request,
    settings: SettingsDep,
    _principal: Annotated[Principal, Depends(require_roles("ingest", "analyst"))],
    _analyzer: Annotated[Any, Depends(get_analyzer)],  # 503 when no model is loaded
) -> JSONResponse:
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
    used, results = request.app.state.batcher.analyze(texts)
    request.app.state.metrics.analyzed.labels("analyze").inc(len(results))
    # JSONResponse directly: the results are already plain dicts in the documented shape
    return JSONResponse({"model": used.version, "results": [a.to_dict() for a in results]})
