"""GET /v1/reports/management-review: the management-review figures as JSON, XLSX or printable HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, SessionRoute
from api.routes.indicators import MinNDep, Reader, SliceDep, topic_labels
from indicators.periods import fa_digits
from indicators.report import fmt_figure, management_review, to_xlsx
from nlp.errors import BazkhordError

router = APIRouter(route_class=SessionRoute, prefix="/v1/reports", tags=["reports"])
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render_html(report: dict) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    env.filters["fig"] = fmt_figure
    env.filters["fa"] = fa_digits
    return env.get_template("management_review.html").render(r=report)


@router.get("/management-review", summary="Management review report (format=json | xlsx | html)")
def get_management_review(
    request: Request,
    session: SessionDep,
    sl: SliceDep,
    min_n: MinNDep,
    format: Annotated[str, Query(description="json | xlsx | html")] = "html",
    calendar: Annotated[str, Query(description="jalali | gregorian")] = "jalali",
    _principal=Reader,
):
    """Window defaults to the last 90 days with data, compared with the 90 days before."""
    if format not in ("json", "xlsx", "html"):
        raise BazkhordError("reports.bad_format", "format must be json, xlsx or html", {"format": format}, 422)
    st = request.app.state.settings
    report = management_review(session, sl, min_n=min_n, labels=topic_labels(request, session), calendar=calendar,
                               complaint_sla={"ack_sla_hours": st.complaint_ack_sla_hours, "sla_hours": st.complaint_sla_hours})
    if format == "json":
        return report
    name = f"management-review_{report['from']}_{report['to']}"
    if format == "xlsx":
        return Response(to_xlsx(report), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return HTMLResponse(render_html(report))
