"""Health endpoints (no key): liveness, readiness (database, migrations, model) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SessionRoute, get_engine, get_principal
from nlp.errors import BazkhordError

router = APIRouter(route_class=SessionRoute, tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict:
    return {"status": "ok"}


def _check_db(request: Request) -> tuple[bool, bool, str | None]:
    """(database reachable, migrations current, why not) for the app's database."""
    from store.migrate import current_revisions, head_revisions

    engine = get_engine(request.app.state.settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return False, False, f"database unreachable ({type(exc).__name__})"
    try:
        current, head = set(current_revisions(engine)), set(head_revisions())
    except Exception as exc:
        return True, False, f"migration state unreadable ({type(exc).__name__})"
    if current != head:
        at = ", ".join(sorted(current)) or "no revision"
        return True, False, f"migrations pending: database at {at}, code at {', '.join(sorted(head))} (run `bazkhord db upgrade`)"
    return True, True, None


@router.get("/readyz", summary="Readiness: database reachable, migrations current, model loaded",
            responses={503: {"description": "Not ready; `checks` says what is missing, `reason` why"}})
def readyz(request: Request) -> JSONResponse:
    db_ok, migrations_ok, db_reason = _check_db(request)
    holder = request.app.state.analyzer_holder
    model_ok = holder.get() is not None
    loading = getattr(request.app.state, "model_load_done", None)
    reasons = [db_reason] if db_reason else []
    if not model_ok:
        reasons.append("model loading" if loading is not None and not loading.is_set() else "no model loaded")
    checks = {"database": db_ok, "migrations": migrations_ok, "model": model_ok}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "model": holder.version}
    if not ready:
        body["reason"] = "; ".join(reasons)
    return JSONResponse(body, status_code=200 if ready else 503)


async def _metrics_access(request: Request) -> None:
    """/metrics is public unless ``metrics_public`` is off; then it needs a manager or admin key."""
    settings = request.app.state.settings
    if settings.metrics_public:
        return
    principal = await get_principal(request)
    if principal.role not in ("manager", "admin"):
        raise BazkhordError("auth.forbidden", "Only manager and admin keys may read /metrics.", http_status=403)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            dependencies=[Depends(_metrics_access)])
def metrics(request: Request) -> Response:
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
