"""Request and response bodies of the public API (pydantic v2), with Persian examples for OpenAPI.

Static rules live here (types, enums, ranges, non-empty text, valid dates); limits that come from
settings (text length, item counts) are checked by ``api.ingest`` so they stay configurable.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from store.calendar import from_jalali, to_utc_naive
from store.schema import COMPLAINT_STATUSES, FEEDBACK_KINDS

Kind = Literal[FEEDBACK_KINDS]  # type: ignore[valid-type]
Status = Literal[COMPLAINT_STATUSES]  # type: ignore[valid-type]
Sentiment = Literal["neg", "neu", "pos"]

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_JALALI = re.compile(r"^(1[2-4]\d\d)[/\-.](\d{1,2})[/\-.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")

EXAMPLE_TEXT = "پیک خیلی دیر رسید و غذا سرد بود، شماره من ۰۹۱۲۳۴۵۶۷۸۹ است"


def is_blank(text: str) -> bool:
    """Only whitespace or invisible format characters (ZWNJ, RLM, BOM...): nothing to analyse."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc", "Zs") for ch in text)


def to_ascii_digits(value: str) -> str:
    """Persian and Arabic-Indic digits → ASCII (CSV exports from Persian systems use both)."""
    return value.translate(_DIGITS)


def parse_datetime(value: Any) -> Any:
    """ISO 8601 as pydantic reads it, plus Jalali dates (``1402/05/12 14:30``) and Persian digits."""
    if isinstance(value, str):
        text = to_ascii_digits(value.strip())
        m = _JALALI.match(text)
        if m:
            y, mo, d, hh, mm, ss = (int(g) if g else 0 for g in m.groups())
            try:
                day = from_jalali(y, mo, d)
            except ValueError:
                raise PydanticCustomError("date_invalid", "not a valid Jalali date") from None
            return datetime(day.year, day.month, day.day, hh, mm, ss)
        return text
    return value


def _numeric(value: Any) -> Any:
    if isinstance(value, str):
        return to_ascii_digits(value.strip()).replace("٫", ".")
    return value


MetaValue = str | int | float | bool | None


class FeedbackIn(BaseModel):
    """One piece of customer feedback. Only ``text`` is required."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": EXAMPLE_TEXT,
                    "external_id": "ticket-10492",
                    "kind": "complaint",
                    "channel": "app",
                    "segment": "تهران",
                    "product": "پیتزا پپرونی",
                    "created_at": "2024-05-01T18:30:00+03:30",
                    "rating": 2,
                    "rating_scale": 5,
                    "metadata": {"order_id": "A-7781"},
                }
            ]
        },
    )

    text: str = Field(description="The customer's text as written (masked before it is stored).")
    external_id: str | None = Field(None, min_length=1, max_length=200, description="Your id; makes retries idempotent.")
    kind: Kind = "comment"  # type: ignore[valid-type]
    channel: str | None = Field(None, min_length=1, max_length=100)
    segment: str | None = Field(None, min_length=1, max_length=100)
    product: str | None = Field(None, min_length=1, max_length=200)
    region: str | None = Field(None, min_length=1, max_length=100)
    created_at: Annotated[datetime | None, BeforeValidator(parse_datetime)] = Field(
        None, description="ISO 8601 (or Jalali yyyy/mm/dd [hh:mm]); without an offset it is read in the service's time zone."
    )
    rating: Annotated[float | None, BeforeValidator(_numeric)] = Field(None, description="1..rating_scale")
    rating_scale: Annotated[int | None, BeforeValidator(_numeric)] = Field(None, ge=2, le=100, description="default 5")
    nps: Annotated[int | None, BeforeValidator(_numeric)] = Field(None, ge=0, le=10)
    metadata: dict[str, MetaValue] = Field(default_factory=dict, description="Flat JSON: string keys, scalar values.")
    status: Status | None = Field(None, description="Complaints only: lifecycle status (default received).")  # type: ignore[valid-type]

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, v: str) -> str:
        if is_blank(v):
            raise PydanticCustomError("text_empty", "text is empty or only whitespace")
        return v

    @field_validator("external_id", "channel", "segment", "product", "region", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @field_validator("created_at")
    @classmethod
    def _plausible_date(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return v
        utc = v.astimezone(timezone.utc) if v.tzinfo else v.replace(tzinfo=timezone.utc)
        if utc.year < 1990 or utc > datetime.now(timezone.utc) + timedelta(days=1):
            raise PydanticCustomError("date_out_of_range", "created_at is before 1990 or in the future")
        return v

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > 50:
            raise PydanticCustomError("metadata_invalid", "metadata has more than 50 keys")
        for key, value in v.items():
            if not key or len(key) > 64:
                raise PydanticCustomError("metadata_invalid", "metadata keys must be 1 to 64 characters")
            if isinstance(value, str) and len(value) > 1000:
                raise PydanticCustomError("metadata_invalid", "a metadata value is longer than 1000 characters")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackIn:
        if self.rating is not None:
            scale = self.rating_scale or 5
            if not 1 <= self.rating <= scale:
                raise PydanticCustomError("rating_out_of_range", "rating must be between 1 and rating_scale ({scale})", {"scale": scale})
            self.rating_scale = scale
        elif self.rating_scale is not None:
            raise PydanticCustomError("rating_scale_without_rating", "rating_scale given without rating")
        if self.status is not None and self.kind != "complaint":
            raise PydanticCustomError("status_not_complaint", "status is only for kind=complaint")
        return self

    def to_store(self, tz: str) -> dict[str, Any]:
        """The dict ``store.feedback`` writes: created_at in naive UTC, payload hash of what was sent."""
        from store.feedback import payload_hash

        data = self.model_dump()
        data["payload_hash"] = payload_hash(self.model_dump(mode="json"))
        if self.created_at is not None:
            data["created_at"] = to_utc_naive(self.created_at, tz)
        return data


class FeedbackBatchIn(BaseModel):
    """Up to 10,000 records (configurable). Items are validated one by one so every row's error is reported."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"items": [
                    {"text": "غذا خیلی خوشمزه و داغ بود، ممنون", "external_id": "r-1", "rating": 5},
                    {"text": "بسته‌بندی پاره شده بود و سس ریخته بود", "external_id": "r-2", "kind": "complaint"},
                ]}
            ]
        },
    )

    # Any, not FeedbackIn: a bad row must not fail the request before every row is checked.
    items: list[Any] = Field(description="Feedback records (the fields of POST /v1/feedback).")


class AnalyzeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"texts": [EXAMPLE_TEXT, "کیفیت غذا عالی بود ولی قیمت‌ها بالاست"]}]},
    )

    texts: list[str] = Field(description="1..1000 texts (configurable).")


class PiiOut(BaseModel):
    type: str
    start: int
    end: int


class SentimentOut(BaseModel):
    label: Sentiment
    scores: dict[str, float]


class TopicOut(BaseModel):
    topic: str
    label_fa: str
    score: float
    sentiment: Sentiment
    evidence: list[str]


class AnalysisOut(BaseModel):
    clean_text: str
    pii: list[PiiOut]
    sentiment: SentimentOut
    topics: list[TopicOut]
    abstained: bool
    model: str


class AnalyzeOut(BaseModel):
    model: str
    results: list[AnalysisOut]


class TopicMentionOut(BaseModel):
    topic: str
    score: float
    sentiment: Sentiment


class FeedbackOut(BaseModel):
    id: int
    external_id: str | None
    kind: str
    channel: str | None
    segment: str | None
    product: str | None
    region: str | None
    created_at: str
    received_at: str
    day: str
    jalali_day: int
    text: str = Field(description="Normalized text with personal data masked ([PHONE], [CARD], ...).")
    raw_text: str | None = Field(None, description="Only when the service is configured to store raw text.")
    pii_types: list[str]
    rating: float | None
    rating_scale: int | None
    nps: int | None
    metadata: dict[str, Any]
    sentiment: str | None
    abstained: bool | None
    topics: list[TopicMentionOut]
    model_version: str | None
    analysis: dict[str, Any] | None
    status: str | None
    priority: str | None


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class RowError(BaseModel):
    row: int = Field(description="0-based index in `items` (batch) or 1-based data row (file import).")
    line: int | None = Field(None, description="File line (import only; the header is line 1).")
    field: str | None
    code: str
    reason: str


class RowResult(BaseModel):
    row: int
    id: int
    status: Literal["created", "existing"]


class BatchOut(BaseModel):
    created: int
    existing: int
    failed: int
    model: str | None
    items: list[RowResult]
    errors: list[RowError]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad request"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    403: {"model": ErrorOut, "description": "The key's role may not use this endpoint"},
    422: {"model": ErrorOut, "description": "Invalid input (details list each field's problem)"},
    429: {"model": ErrorOut, "description": "Rate limit exceeded (see Retry-After)"},
}


# Path ids: bounded so an out-of-range integer is a 422, not a database overflow (a 500).
RecordId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="record id")]
