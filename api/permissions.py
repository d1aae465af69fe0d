"""The intended route × role permission table, in one place (DESIGN.md "Roles").

Routes declare their roles with ``api.deps.require_roles``; this table is what they *should* declare.
``tests/test_roles_matrix.py`` reads the app's route table and fails when a route is missing here, when
a route's declared roles differ from this table, or when a real request with each role (and with no key)
is not answered 2xx/4xx-other vs 401/403 as this table says. Admin may use every keyed route.
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("ingest", "analyst", "manager", "admin")
PUBLIC = frozenset()  # no key needed

_READERS = frozenset({"ingest", "analyst", "manager", "admin"})  # ingest keys see only their own records
_ANALYST = frozenset({"analyst", "admin"})
_MANAGER = frozenset({"manager", "analyst", "admin"})  # indicators, themes, alerts, reports
_WRITER = frozenset({"ingest", "admin"})

# (method, path template) → roles allowed; PUBLIC = no key needed.
PERMISSIONS: dict[tuple[str, str], frozenset[str]] = {
    # health (no key; /metrics holds counts and timings only, see Settings.metrics_public)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # browser pages: the HTML shell is public, every call it makes carries the user's key
    ("GET", "/dashboard"): PUBLIC,
    ("GET", "/dashboard/static/{name}"): PUBLIC,
    ("GET", "/review"): PUBLIC,
    # analysis and ingestion
    ("POST", "/v1/analyze"): frozenset({"ingest", "analyst", "admin"}),
    ("POST", "/v1/feedback"): _WRITER,
    ("POST", "/v1/feedback/batch"): _WRITER,
    ("POST", "/v1/feedback/import"): _WRITER,
    ("GET", "/v1/feedback"): _READERS,
    ("GET", "/v1/feedback/{feedback_id}"): _READERS,
    # complaint handling (ISO 10002): handlers may be any keyed role
    ("PATCH", "/v1/feedback/{feedback_id}/status"): _READERS,
    ("GET", "/v1/complaints"): _READERS,
    ("GET", "/v1/complaints/{feedback_id}"): _READERS,
    # indicators and insight (ISO 10004)
    ("GET", "/v1/indicators"): _MANAGER,
    ("GET", "/v1/indicators/process"): _MANAGER,
    ("GET", "/v1/alerts"): _MANAGER,
    ("GET", "/v1/themes/top"): _MANAGER,
    ("GET", "/v1/themes/emerging"): _MANAGER,
    ("GET", "/v1/reports/management-review"): _MANAGER,
    # the analysts' loop
    ("PUT", "/v1/feedback/{feedback_id}/labels"): _ANALYST,
    ("GET", "/v1/feedback/{feedback_id}/labels"): _ANALYST,
    ("GET", "/v1/labels/export"): _ANALYST,
    ("POST", "/v1/labels/import"): _ANALYST,
    ("GET", "/v1/review/queue"): _ANALYST,
    ("GET", "/v1/taxonomy"): _ANALYST,
    ("PUT", "/v1/taxonomy"): _ANALYST,
    ("POST", "/v1/taxonomy/topics"): _ANALYST,
    ("GET", "/v1/taxonomy/versions"): _ANALYST,
    ("GET", "/v1/models"): _ANALYST,
    ("GET", "/v1/models/{version}"): _ANALYST,
    ("POST", "/v1/models/{version}/activate"): _ANALYST,
    ("POST", "/v1/models/train"): _ANALYST,
    ("GET", "/v1/jobs/{job_id}"): _ANALYST,
    ("POST", "/v1/feedback/reanalyze"): _ANALYST,
    # keys
    ("POST", "/v1/keys"): frozenset({"admin"}),
    ("GET", "/v1/keys"): frozenset({"admin"}),
    ("DELETE", "/v1/keys/{key_id}"): frozenset({"admin"}),
}


def allowed(method: str, path: str) -> frozenset[str] | None:
    """Roles allowed on a route (empty = public); None when the route is not in the table."""
    return PERMISSIONS.get((method.upper(), path))


def api_routes(routes) -> list:
    """Every ``APIRoute`` of a route table, included routers walked into."""
    from fastapi.routing import APIRoute

    out = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):  # FastAPI ≥ 0.16x wraps included routers
            out += api_routes(route.original_router.routes)
        elif hasattr(route, "routes") and not hasattr(route, "methods"):
            out += api_routes(route.routes)
    return out


def app_routes(app) -> list[tuple[str, str, tuple[str, ...] | None, bool]]:
    """(method, path, declared roles or None when no key is required, in OpenAPI) for every API route."""

    def declared(dependant) -> tuple[str, ...] | None:
        for dep in dependant.dependencies:
            roles = getattr(dep.call, "allowed_roles", None) or declared(dep)
            if roles:
                return tuple(roles)
        return None

    return [(m, route.path, declared(route.dependant), route.include_in_schema)
            for route in api_routes(app.routes) for m in sorted(route.methods - {"HEAD"})]
