"""Re-run the active model over stored feedback (a time range), replacing the model's output.

The slow part (analysis) runs first with no write lock held; the results are then written in one
transaction (feedback columns + topic mention rows), so a failure leaves every record as it was and
ingestion is blocked only for the short write. Gold labels are never touched. Each record's
``model_version`` (and each mention's) says which model produced it; ``analyzed_at`` moves on so the
indicator rollups pick the change up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from store.db import serialized_writes
from store.schema import Feedback, TopicMention

Progress = Callable[[float, str], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def feedback_columns(analysis) -> dict:
    """The feedback columns that hold one ``models.types.Analysis``."""
    scores = analysis.sentiment.scores
    return {
        "sentiment": analysis.sentiment.label,
        "sentiment_neg": float(scores.get("neg", 0.0)),
        "sentiment_neu": float(scores.get("neu", 0.0)),
        "sentiment_pos": float(scores.get("pos", 0.0)),
        "abstained": bool(analysis.abstained),
        "model_version": analysis.model,
        "analysis": analysis.to_dict(),
    }


def reanalyze(
    session_factory: sessionmaker[Session],
    analyzer,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> dict:
    """Analyse every record created in [since, until) with ``analyzer``; returns counts and the version."""
    say = progress or (lambda f, m: None)
    q = select(Feedback.id, Feedback.text, Feedback.raw_text, Feedback.model_version).order_by(Feedback.id)
    if since is not None:
        q = q.where(Feedback.created_at >= since)
    if until is not None:
        q = q.where(Feedback.created_at < until)
    with session_factory() as s:
        rows = s.execute(q).all()
    total = len(rows)
    results = []
    for start in range(0, total, batch_size):
        chunk = rows[start : start + batch_size]
        results.extend(analyzer.analyze([r.raw_text or r.text for r in chunk]))
        say(0.9 * (start + len(chunk)) / max(total, 1), f"analysed {start + len(chunk)} of {total}")

    say(0.92, "writing")
    changed_version = sum(r.model_version != a.model for r, a in zip(rows, results, strict=True))
    with session_factory() as s, serialized_writes(s.get_bind()), s.begin():
        # stamped inside the write turn: later than every analyzed_at committed before it, which is how
        # rollups and prepared intakes (store.complaints.prepare_intake) see that these records changed
        now = utcnow()
        for start in range(0, total, 1000):
            chunk = list(zip(rows[start : start + 1000], results[start : start + 1000], strict=True))
            ids = [r.id for r, _ in chunk]
            s.execute(update(Feedback), [{"id": r.id, **feedback_columns(a), "analyzed_at": now} for r, a in chunk])
            slices = {
                f.id: f
                for f in s.execute(
                    select(Feedback.id, Feedback.day, Feedback.jalali_day, Feedback.kind, Feedback.segment,
                           Feedback.channel, Feedback.product, Feedback.region).where(Feedback.id.in_(ids))
                )
            }
            s.execute(delete(TopicMention).where(TopicMention.feedback_id.in_(ids)))
            mentions = [
                {"feedback_id": r.id, "topic": t.topic, "score": float(t.score), "polarity": t.sentiment,
                 "model_version": a.model, "day": slices[r.id].day, "jalali_day": slices[r.id].jalali_day,
                 "kind": slices[r.id].kind, "segment": slices[r.id].segment, "channel": slices[r.id].channel,
                 "product": slices[r.id].product, "region": slices[r.id].region}
                for r, a in chunk
                for t in a.topics
            ]
            if mentions:
                s.execute(insert(TopicMention), mentions)
    say(1.0, "done")
    return {"reanalyzed": total, "changed_version": changed_version, "model": getattr(analyzer, "version", None),
            "since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
