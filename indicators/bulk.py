"""Bulk-load records whose analysis is already known (imports of labelled data, tests, benchmarks).

The service path is ``store.feedback.insert_feedback`` (runs the analyser); this one writes
``feedback`` and ``topic_mentions`` rows directly with Core ``executemany`` for speed, taking the
sentiment and topics from each record. Ids are assigned here (max id + 1...), so use it on a
database nothing else writes to at the same time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime, timezone

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from indicators.periods import jalali_day
from store.schema import Feedback, TopicMention

_SCORES = {"pos": (0.05, 0.1, 0.85), "neu": (0.15, 0.7, 0.15), "neg": (0.85, 0.1, 0.05)}


def bulk_insert(session: Session, records: Iterable[dict], model_version: str = "labels", chunk: int = 5000) -> int:
    """Insert records: dicts with ``text``, ``created_at`` and optionally ``kind``, ``segment``, ``channel``,
    ``product``, ``region``, ``rating``, ``rating_scale``, ``nps``, ``sentiment`` and ``topics``
    ({topic: polarity}; a record with ``sentiment`` but no topics is stored as abstained).
    Returns the number inserted; commits per chunk.
    """
    next_id = (session.scalar(select(func.max(Feedback.id))) or 0) + 1
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    fb_rows: list[dict] = []
    tm_rows: list[dict] = []
    total = 0
    jcache: dict[date, int] = {}

    def flush() -> None:
        if fb_rows:
            session.execute(insert(Feedback), fb_rows)
        if tm_rows:
            session.execute(insert(TopicMention), tm_rows)
        session.commit()
        fb_rows.clear()
        tm_rows.clear()

    for rec in records:
        created = rec["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        d = created.date()
        jd = jcache.get(d) or jcache.setdefault(d, jalali_day(d))
        sentiment = rec.get("sentiment")
        topics = rec.get("topics") or {}
        analysed = sentiment is not None
        kind = rec.get("kind") or "comment"
        fid = next_id
        next_id += 1
        neg, neu, pos = _SCORES.get(sentiment or "", (None, None, None))
        fb_rows.append({
            "id": fid, "external_id": rec.get("external_id"),
            "payload_hash": hashlib.sha256(json.dumps([rec.get("text"), str(created)], ensure_ascii=False).encode()).hexdigest(),
            "kind": kind, "channel": rec.get("channel"), "segment": rec.get("segment"), "product": rec.get("product"),
            "region": rec.get("region"), "created_at": created, "received_at": now, "day": d, "jalali_day": jd,
            "text": rec["text"], "pii_types": [], "rating": rec.get("rating"), "rating_scale": rec.get("rating_scale"),
            "nps": rec.get("nps"), "meta": rec.get("meta") or {},
            "sentiment": sentiment, "sentiment_neg": neg, "sentiment_neu": neu, "sentiment_pos": pos,
            "abstained": (not topics) if analysed else None, "model_version": model_version if analysed else None,
            "analyzed_at": now if analysed else None, "reopen_count": 0,
        })
        for t, pol in topics.items():
            tm_rows.append({
                "feedback_id": fid, "topic": t, "score": 1.0, "polarity": pol, "model_version": model_version,
                "day": d, "jalali_day": jd, "kind": kind, "segment": rec.get("segment"), "channel": rec.get("channel"),
                "product": rec.get("product"), "region": rec.get("region"),
            })
        total += 1
        if len(fb_rows) >= chunk:
            flush()
    flush()
    return total
