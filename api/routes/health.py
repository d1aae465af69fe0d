"""Health endpoints (no key): liveness, readiness (database, migrations, model) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import get_engine, get_principal
from nlp.errors import BazkhordError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict:
    return {"status": "ok"}


def _check_db(request: Request) -> tuple[bool, bool]:
    from store.migrate import is_current

    settings = request.app.state.settings
    engine = get_engine(settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False, False
    try:
        return True, is_current(engine)
    except Exception:
        return True, False


@router.get("/readyz", summary="Readiness: database reachable, migrations current, model loaded",
            responses={503: {"description": "Not ready; `checks` says what is missing"}})
def readyz(request: Request) -> JSONResponse:
    db_ok, migrations_ok = _check_db(request)
    holder = request.app.state.analyzer_holder
    model_ok = holder.get() is not None
    checks = {"database": db_ok, "migrations": migrations_ok, "model": model_ok}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "model": holder.version}
    return JSONResponse(body, status_code=200 if ready else 503)


def _metrics_access(request: Request) -> None:
    """/metrics is public unless ``metrics_public`` is off; then it needs a manager or admin key."""
    settings = request.app.state.settings
    if settings.metrics_public:
        return
    from api.deps import _sessionmaker_for

    with _sessionmaker_for(settings.database_url)() as session:
        principal = get_principal(request, session)
    if principal.role not in ("manager", "admin"):
        raise BazkhordError("auth.forbidden", "Only manager and admin keys may read /metrics.", http_status=403)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            dependencies=[Depends(_metrics_access)])
def metrics(request: Request) -> Response:
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
