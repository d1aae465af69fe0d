"""Gold labels: an analyst's topics, per-topic polarity and overall sentiment for a stored record.

The model's own output stays in the record beside the label (never overwritten); export/import use
the canonical JSONL format of the data README.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api.analyst_runtime import current_taxonomy_dict, parse_when
from api.deps import Principal, SessionDep, SessionRoute, require_roles
from api.schemas import RecordId
from nlp.errors import BazkhordError
from store import labels as label_store

router = APIRouter(route_class=SessionRoute, tags=["analysts"])
Analyst = Annotated[Principal, Depends(require_roles("analyst"))]


class LabelsIn(BaseModel):
    topics: dict | None = None  # {topic: neg|neu|pos}; {} = no topic; omitted = sentiment only
    sentiment: str | None = None


def _topic_ids(session, request: Request) -> list[str] | None:
    holder = getattr(request.app.state, "analyzer_holder", None)
    analyzer = holder.get() if holder is not None else None
    try:
        return [t["id"] for t in current_taxonomy_dict(session, analyzer)["topics"]]
    except BazkhordError:
        return None  # no taxonomy known: accept any topic id


def _labels_view(session, feedback_id: int) -> dict:
    fb = label_store.get_feedback(session, feedback_id)
    history = label_store.label_history(session, feedback_id)
    return {
        "feedback_id": feedback_id,
        "labels": label_store.label_to_dict(history[-1]) if history else None,
        "history": [label_store.label_to_dict(h) for h in history],
        "model": fb.analysis,  # what the model said, kept as it was
        "model_version": fb.model_version,
    }


@router.put("/v1/feedback/{feedback_id}/labels")
def put_labels(feedback_id: RecordId, body: LabelsIn, request: Request, session: SessionDep, who: Analyst) -> dict:
    label_store.set_labels(session, feedback_id, body.topics, body.sentiment, author=who.name,
                           topic_ids=_topic_ids(session, request))
    session.commit()
    return _labels_view(session, feedback_id)


@router.get("/v1/feedback/{feedback_id}/labels")
def get_labels(feedback_id: RecordId, session: SessionDep, _who: Analyst) -> dict:
    return _labels_view(session, feedback_id)


@router.get("/v1/labels/export")
def export_labels(session: SessionDep, _who: Analyst, since: str | None = None, until: str | None = None):
    """Every current gold label as canonical JSONL (text = the stored, masked text)."""
    records = label_store.labelled_records(session, parse_when(since, "since"), parse_when(until, "until", end=True))
    lines = (json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n" for r in records)
    return StreamingResponse(lines, media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="gold-labels.jsonl"'})


@router.post("/v1/labels/import")
def import_labels(request: Request, session: SessionDep, who: Analyst,
                  file: Annotated[UploadFile, File(description="canonical JSONL, CSV or XLSX with labels")]) -> dict:
    """Labels made elsewhere: matched to stored records by feedback id, external id, or text."""
    from training.data import load_records

    suffix = Path(file.filename or "labels.jsonl").suffix.lower() or ".jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"labels{suffix}"
        path.write_bytes(file.file.read())
        records = load_records(path).records
    result = label_store.import_labels(session, records, author=who.name, topic_ids=_topic_ids(session, request))
    session.commit()
    return result.to_dict()
