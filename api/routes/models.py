"""Model registry, training jobs and re-analysis (roles analyst/admin).

Activation swaps the served analyser in place (requests in flight finish on the old one); rollback is
activating an older version. Training and re-analysis run as background jobs, one at a time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.analyst_runtime import (
    get_runner,
    holder_of,
    parse_when,
    register_serving,
    serving_analyzer,
    session_factory,
)
from api.deps import Principal, SessionDep, SessionRoute, SettingsDep, require_roles
from nlp.errors import BazkhordError
from store import jobs as job_store
from store import labels as label_store
from store import registry

router = APIRouter(route_class=SessionRoute, tags=["analysts"])
Analyst = Annotated[Principal, Depends(require_roles("analyst"))]


class TrainIn(BaseModel):
    seed: int = 0
    holdout: float | None = Field(None, ge=0.05, le=0.5)  # default: settings.train_holdout


class ReanalyzeIn(BaseModel):
    since: str | None = None  # ISO date or date-time; records created in [since, until)
    until: str | None = None


def _register_serving(request: Request, session) -> None:
    holder = getattr(request.app.state, "analyzer_holder", None)
    if holder is not None and holder.get() is not None:
        register_serving(session, holder.get())


@router.get("/v1/models")
def list_models(request: Request, session: SessionDep, _who: Analyst) -> dict:
    _register_serving(request, session)
    holder = getattr(request.app.state, "analyzer_holder", None)
    serving = getattr(holder.get(), "version", None) if holder is not None and holder.get() is not None else None
    return {"serving": serving, "models": [registry.version_to_dict(v) for v in registry.list_versions(session)]}


@router.get("/v1/models/{version}")
def show_model(version: str, session: SessionDep, _who: Analyst) -> dict:
    return registry.version_to_dict(registry.get_version(session, version), full=True)


@router.post("/v1/models/{version}/activate")
def activate_model(version: str, request: Request, session: SessionDep, _who: Analyst) -> dict:
    _register_serving(request, session)  # so the model served now can be rolled back to
    row = registry.activate(session, version, holder_of(request))
    return registry.version_to_dict(row)


@router.post("/v1/models/train", status_code=202)
def train_model(request: Request, session: SessionDep, settings: SettingsDep, _who: Analyst,
                body: TrainIn | None = None) -> dict:
    """Start a training job: base data + gold labels → new version registered with its comparison."""
    from training.retrain import RetrainConfig, retrain

    body = body or TrainIn()
    n_labels = len(label_store.labelled_ids(session))
    if n_labels < settings.train_min_labels:  # say so now rather than in a job that fails
        raise BazkhordError("train.not_enough_labels",
                            f"{n_labels} gold labels; at least {settings.train_min_labels} are needed to train and compare.",
                            {"labels": n_labels, "min_labels": settings.train_min_labels}, 409)
    _register_serving(request, session)
    active = holder_of(request).get()
    config = RetrainConfig(model_dir=settings.model_dir, base_data=list(settings.train_base_data),
                           holdout=settings.train_holdout if body.holdout is None else body.holdout,
                           min_labels=settings.train_min_labels, seed=body.seed)
    factory = session_factory(settings)

    def work(ctx: job_store.JobContext) -> dict:
        return retrain(factory, config, active_analyzer=active, progress=lambda f, m: ctx.progress(f, m))

    return get_runner(request, settings).start("train", {"seed": body.seed, "holdout": config.holdout}, work)


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, session: SessionDep, _who: Analyst) -> dict:
    return job_store.job_to_dict(job_store.get_job(session, job_id))


@router.post("/v1/feedback/reanalyze", status_code=202)
def reanalyze(request: Request, settings: SettingsDep, _who: Analyst, body: ReanalyzeIn | None = None) -> dict:
    """Re-run the active model over records created in [since, until) as a background job."""
    from store.reanalyze import reanalyze as run

    body = body or ReanalyzeIn()
    since, until = parse_when(body.since, "since"), parse_when(body.until, "until", end=True)
    analyzer = serving_analyzer(request)
    factory = session_factory(settings)

    def work(ctx: job_store.JobContext) -> dict:
        return run(factory, analyzer, since=since, until=until, progress=lambda f, m: ctx.progress(f, m))

    params = {"since": body.since, "until": body.until, "model": getattr(analyzer, "version", None)}
    return get_runner(request, settings).start("reanalyze", params, work)
