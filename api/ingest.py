"""Ingestion: validate → de-duplicate on external_id → analyse in batches → store, in one transaction.

Shared by ``POST /v1/feedback``, ``/v1/feedback/batch``, ``/v1/feedback/import`` and ``bazkhord import``.
All-or-nothing by default: one bad row rejects the whole batch with every row's error and writes
nothing; with ``partial`` the valid rows are stored and the rest reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import field_errors
from api.schemas import FeedbackIn
from nlp.errors import BazkhordError
from store.db import serialized_writes
from store.feedback import find_by_external_ids, insert_feedback, prepare_record
from store.schema import Feedback

ANALYZE_CHUNK = 1024  # texts per model call (the Analyzer's own batch size)


@dataclass(frozen=True)
class RawRow:
    row: int  # index in the batch (0-based) or data row of a file (1-based)
    payload: Any  # a dict from JSON/CSV, or an already validated FeedbackIn
    line: int | None = None  # file line, for imports


@dataclass
class IngestOutcome:
    created: list[tuple[int, Feedback]] = field(default_factory=list)
    existing: list[tuple[int, Feedback]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        items = [{"row": r, "id": fb.id, "status": "created"} for r, fb in self.created]
        items += [{"row": r, "id": fb.id, "status": "existing"} for r, fb in self.existing]
        items.sort(key=lambda x: x["row"])
        return {
            "created": len(self.created),
            "existing": len(self.existing),
            "failed": len({e["row"] for e in self.errors}),
            "model": self.model,
            "items": items,
            "errors": self.errors,
        }


def _row_error(r: RawRow, field_name: str | None, code: str, reason: str) -> dict[str, Any]:
    return {"row": r.row, "line": r.line, "field": field_name, "code": code, "reason": reason}


def validate_rows(rows: Sequence[RawRow], settings: Any) -> tuple[list[tuple[RawRow, FeedbackIn]], list[dict]]:
    valid: list[tuple[RawRow, FeedbackIn]] = []
    errors: list[dict] = []
    limit = settings.max_text_chars
    for r in rows:
        item = r.payload
        if not isinstance(item, FeedbackIn):
            if not isinstance(item, dict):
                errors.append(_row_error(r, None, "field.wrong_type", "each item must be a JSON object"))
                continue
            try:
                item = FeedbackIn.model_validate(item)
            except ValidationError as exc:
                errors += [_row_error(r, e["field"], e["code"], e["reason"]) for e in field_errors(exc.errors())]
                continue
        if len(item.text) > limit:
            errors.append(_row_error(r, "text", "field.too_long", f"text is longer than {limit} characters"))
            continue
        valid.append((r, item))
    return valid, errors


def check_count(n: int, limit: int, what: str = "items") -> None:
    if n == 0:
        raise BazkhordError("request.empty", f"No {what} were sent.", {"field": what}, 422)
    if n > limit:
        raise BazkhordError("request.too_many_items", f"At most {limit} {what} per request ({n} sent).",
                            {"field": what, "max": limit, "count": n}, 422)


def _reject(errors: list[dict]) -> BazkhordError:
    failed = len({e["row"] for e in errors})
    only_conflicts = all(e["code"] == "feedback.conflict" for e in errors)
    if only_conflicts and failed == 1 and len(errors) == 1:
        return BazkhordError("feedback.conflict", errors[0]["reason"], errors, 409)
    return BazkhordError(
        "feedback.invalid_rows",
        f"{failed} row(s) are invalid; nothing was stored (send ?partial=true to store the valid rows).",
        errors, 409 if only_conflicts else 422,
    )


def ingest(
    session: Session,
    rows: Sequence[RawRow],
    analyzer: Any,
    settings: Any,
    api_key_id: int | None,
    partial: bool = False,
    progress: Callable[[int], None] | None = None,
    metrics: Any = None,
) -> IngestOutcome:
    """Store ``rows`` (see module doc). Commits on success; on rejection nothing is written."""
    valid, errors = validate_rows(rows, settings)  # rejection waits until conflicts are known too
    items = [(r, it, it.to_store(settings.timezone)) for r, it in valid]

    for attempt in range(2):
        out = IngestOutcome(model=getattr(analyzer, "version", None))
        out.errors = list(errors)
        existing = find_by_external_ids(session, (d["external_id"] for _, _, d in items))
        new: list[tuple[RawRow, dict]] = []
        first_in_batch: dict[str, tuple[RawRow, str]] = {}
        dup_of: list[tuple[RawRow, str]] = []
        for r, _it, d in items:
            ext = d["external_id"]
            if ext is not None:
                prior = existing.get(ext)
                if prior is not None:
                    if prior.payload_hash == d["payload_hash"]:
                        out.existing.append((r.row, prior))
                    else:
                        out.errors.append(_row_error(r, "external_id", "feedback.conflict",
                                                     "a different record already has this external_id"))
                    continue
                if ext in first_in_batch:
                    if first_in_batch[ext][1] == d["payload_hash"]:
                        dup_of.append((r, ext))
                    else:
                        out.errors.append(_row_error(r, "external_id", "feedback.conflict",
                                                     "another row of this batch has this external_id"))
                    continue
                first_in_batch[ext] = (r, d["payload_hash"])
            new.append((r, d))
        if out.errors and not partial:
            raise _reject(out.errors)

        analyses = []
        texts = [d["text"] for _, d in new]
        for i in range(0, len(texts), ANALYZE_CHUNK):
            analyses += analyzer.analyze(texts[i : i + ANALYZE_CHUNK])
            if progress is not None:
                progress(min(ANALYZE_CHUNK, len(texts) - i))
        # one record (the single POST, under load): its intake reads and decides before the write turn
        prepared = prepare_record(session, new[0][1], analyses[0], api_key_id, settings) if len(new) == 1 else None
        try:
            with serialized_writes(session.get_bind()):  # from the first INSERT to the commit
                stored = insert_feedback(session, [d for _, d in new], analyses, api_key_id, settings, prepared)
                session.commit()
        except IntegrityError:
            # Another request stored one of these external_ids meanwhile: look again, once.
            session.rollback()
            if attempt == 0:
                continue
            raise BazkhordError("feedback.conflict", "A record with this external_id was stored concurrently; retry.",
                                None, 409) from None
        by_ext = {}
        for (r, _d), fb in zip(new, stored, strict=True):
            out.created.append((r.row, fb))
            if fb.external_id:
                by_ext[fb.external_id] = fb
        out.existing += [(r.row, by_ext[ext]) for r, ext in dup_of]
        out.errors.sort(key=lambda e: e["row"])
        if metrics is not None:
            metrics.analyzed.labels("ingest").inc(len(analyses))
            metrics.stored.inc(len(stored))
        return out
    raise AssertionError("unreachable")
