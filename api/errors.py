"""Every error the API returns has one shape: ``{"error": {"code", "message", "details"}}`` with a 4xx.

Pydantic's validation errors are translated to stable codes (``field.wrong_type``, ``field.empty_text``,
...) and never echo the input back (it may be customer text). Unexpected exceptions become a 500 with
code ``internal`` whose log line names only the exception type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlp.errors import BazkhordError

log = logging.getLogger("bazkhord.api")

# pydantic error type -> our stable code (field.<code>)
_TYPE_CODES = {
    "missing": "field.missing",
    "extra_forbidden": "field.unknown",
    "literal_error": "field.invalid_choice",
    "enum": "field.invalid_choice",
    "text_empty": "field.empty_text",
    "date_invalid": "field.invalid_date",
    "date_out_of_range": "field.invalid_date",
    "metadata_invalid": "field.invalid_metadata",
    "rating_out_of_range": "field.out_of_range",
    "rating_scale_without_rating": "field.missing",
    "status_not_complaint": "field.invalid_choice",
    "too_long": "field.too_long",
    "string_too_long": "field.too_long",
    "too_short": "field.too_short",
    "string_too_short": "field.too_short",
    "greater_than": "field.out_of_range",
    "greater_than_equal": "field.out_of_range",
    "less_than": "field.out_of_range",
    "less_than_equal": "field.out_of_range",
    "json_invalid": "request.invalid_json",
}
# model-level errors (empty loc) that belong to one field
_TYPE_FIELDS = {"rating_out_of_range": "rating", "rating_scale_without_rating": "rating", "status_not_complaint": "status"}


def error_code(err_type: str) -> str:
    if err_type in _TYPE_CODES:
        return _TYPE_CODES[err_type]
    if err_type.startswith(("datetime", "date", "time")):
        return "field.invalid_date"
    if err_type.endswith(("_type", "_parsing")) or err_type in {"model_attributes_type", "dict_type", "list_type"}:
        return "field.wrong_type"
    return "field.invalid"


def field_errors(errors: Iterable[dict[str, Any]], skip_loc: int = 0) -> list[dict[str, Any]]:
    """pydantic errors → ``[{"field", "code", "reason"}]`` without the offending input."""
    out = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ())][skip_loc:]
        if loc and loc[0] == "body":  # FastAPI's prefix for the JSON body: noise for clients
            loc = loc[1:]
        field = ".".join(loc) or _TYPE_FIELDS.get(err.get("type", ""))
        out.append({"field": field or None, "code": error_code(err.get("type", "")), "reason": str(err.get("msg", ""))})
    return out


def _headers(exc: BazkhordError) -> dict[str, str]:
    headers = {}
    if exc.http_status == 429 and isinstance(exc.details, dict) and "retry_after_s" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after_s"])
    return headers


def error_response(code: str, message: str, details: Any = None, status: int = 400,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status,
                        headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BazkhordError)
    async def _bazkhord_error(_request: Request, exc: BazkhordError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=_headers(exc) or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: Sequence[dict[str, Any]] = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response("request.invalid_json", "The request body is not valid JSON.",
                                  [{"field": "body", "code": "request.invalid_json", "reason": "not valid JSON"}], 400)
        details = field_errors(errors)
        return error_response("request.invalid", "The request is not valid; see details for each field.", details, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "http.not_found", 405: "http.method_not_allowed", 413: "request.too_large"}
        code = codes.get(exc.status_code, f"http.{exc.status_code}")
        return error_response(code, str(exc.detail), None, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only the type: messages of arbitrary exceptions can contain the text being processed.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response("internal", "Internal error; it has been logged.", None, 500)
