"""What the analysts' routes share: the per-app job runner, sessions for jobs, the served analyser,
the current taxonomy, and time-range parsing."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta, timezone

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from api.deps import get_engine
from api.settings import Settings
from nlp.errors import BazkhordError
from store import registry
from store import taxonomy as tax_store
from store.db import make_sessionmaker
from store.jobs import JobRunner

_runner_lock = threading.Lock()


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return make_sessionmaker(get_engine(settings))


def get_runner(request: Request, settings: Settings) -> JobRunner:
    """The app's job runner, created on first use (jobs left running by a dead process are failed then)."""
    runner = getattr(request.app.state, "job_runner", None)
    if runner is None:
        with _runner_lock:
            runner = getattr(request.app.state, "job_runner", None)
            if runner is None:
                runner = JobRunner(session_factory(settings))
                runner.recover_orphans()
                request.app.state.job_runner = runner
    return runner


def holder_of(request: Request):
    holder = getattr(request.app.state, "analyzer_holder", None)
    if holder is None:
        raise BazkhordError("model.not_loaded", "No model is loaded yet.", http_status=503)
    return holder


def serving_analyzer(request: Request):
    analyzer = holder_of(request).get()
    if analyzer is None:
        raise BazkhordError("model.not_loaded", "No model is loaded yet.", http_status=503)
    return analyzer


def register_serving(session: Session, analyzer) -> None:
    """Put the model being served into the registry (active) if the registry has no active version yet,
    so that rolling back to it after a retrain is one activation like any other."""
    if registry.active_version(session) is not None:
        return
    path = getattr(analyzer, "path", None)
    if path is None:
        from models.analyzer import default_model_path  # what the service loads without a registry

        path = default_model_path()
    try:
        card = registry.read_card(path)
    except BazkhordError:
        return
    if card.get("version") != getattr(analyzer, "version", None):
        return  # the served model is not that directory's: nothing to register safely
    row = registry.ensure_registered(session, path)
    row.is_active = True
    row.activated_at = row.activated_at or registry.utcnow()
    session.commit()


def current_taxonomy_dict(session: Session, analyzer=None) -> dict:
    """{version, name, topics, ...}: the newest stored version, else (version 0) the served model's."""
    row = tax_store.latest(session)
    model_tax = analyzer.taxonomy.to_dict() if analyzer is not None else None
    if row is not None:
        content, out = row.content, {"version": row.version, "author": row.author,
                                     "created_at": row.created_at.isoformat()}
    elif model_tax is not None:
        content, out = model_tax, {"version": 0, "author": None, "created_at": None}
    else:
        raise BazkhordError("model.not_loaded", "No model is loaded yet.", http_status=503)
    out.update(name=content.get("name"), topics=content.get("topics", []))
    out["model_version"] = getattr(analyzer, "version", None)
    out["retrain_needed"] = row is not None and not tax_store.same_topics(content, model_tax)
    return out


def parse_when(value: str | None, field: str, end: bool = False) -> datetime | None:
    """ISO date or datetime → naive UTC datetime; a bare date as ``until`` means the end of that day."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d, time.min) + timedelta(days=1 if end else 0)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BazkhordError("request.invalid_date", f"{field} must be an ISO 8601 date or date-time.",
                            {"field": field}, 422) from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt
