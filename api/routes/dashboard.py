"""GET /dashboard: the managers' right-to-left Persian dashboard (server-rendered shell + JSON APIs).

The page itself holds no data and needs no key; the manager enters a key in its login form, the
browser keeps it in sessionStorage and calls the /v1 insight APIs with it, so the dashboard shows
exactly what the API returns. Chart.js is served from ``api/static`` (no CDN: works offline).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.settings import get_settings
from nlp.errors import BazkhordError

router = APIRouter(tags=["dashboard"])
HERE = Path(__file__).resolve().parents[1]
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".md": "text/markdown; charset=utf-8"}


def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request) -> HTMLResponse:
    static = f"{request.scope.get('root_path', '')}/dashboard/static/"
    html = _env().get_template("dashboard.html").render(min_n=get_settings().min_n, static=static)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/dashboard/static/{name}", name="dashboard_static", include_in_schema=False)
def dashboard_static(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    # only plain files directly inside api/static (no traversal, no sub-folders)
    if path.parent != STATIC or not path.is_file() or path.suffix not in _TYPES:
        raise BazkhordError("dashboard.not_found", "No such dashboard file.", {"name": name}, 404)
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={"Cache-Control": "public, max-age=3600"})
