"""CLI for complaint handling (ISO 10002): `bazkhord complaints list|show|status|indicators|triage`."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Annotated

import typer

from api.cli.app import app

complaints_app = typer.Typer(help="Complaint handling (ISO 10002): the triaged queue, status changes, process indicators.",
                             no_args_is_help=True)
app.add_typer(complaints_app, name="complaints")


def _factory():
    from api.settings import get_settings
    from store.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().database_url))


def _print(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@complaints_app.command("list")
def complaints_list(
    priority: Annotated[str | None, typer.Option(help="urgent | high | normal | low")] = None,
    status: Annotated[str | None, typer.Option(help="received | acknowledged | in_progress | resolved | closed | reopened")] = None,
    recurrence: Annotated[str | None, typer.Option(help="single | recurring | systemic")] = None,
    segment: Annotated[str | None, typer.Option()] = None,
    product: Annotated[str | None, typer.Option()] = None,
    topic: Annotated[str | None, typer.Option()] = None,
    open_only: Annotated[bool, typer.Option("--open", help="only complaints not yet resolved/closed")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Triaged complaints, most urgent and oldest first, with the reasons for their priority."""
    from store.complaints import complaint_to_dict, list_complaints

    with _factory()() as s:
        rows, total = list_complaints(
            s, priority=priority, status=status, recurrence=recurrence, segment=segment, product=product, topic=topic,
            open_only=open_only, limit=limit,
        )
        items = [complaint_to_dict(fb) for fb in rows]
    if as_json:
        _print({"items": items, "total": total})
        return
    typer.echo(f"{total} complaint(s){'' if total <= len(items) else f', showing {len(items)}'}")
    for it in items:
        reasons = ", ".join(r["code"] for r in it["priority_reasons"]) or "-"
        typer.echo(
            f"#{it['id']:<7} {it['priority'] or '-':<7} {it['status']:<12} {it['recurrence'] or '-':<9} "
            f"{(it['created_at'] or '')[:16]:<16} {reasons}"
        )


@complaints_app.command("show")
def complaints_show(feedback_id: int) -> None:
    """One complaint with its triage reasons and status history (JSON)."""
    from store.complaints import complaint_to_dict
    from store.lifecycle import event_to_dict, get_feedback, status_history

    with _factory()() as s:
        fb = get_feedback(s, feedback_id)
        _print({**complaint_to_dict(fb), "history": [event_to_dict(e) for e in status_history(s, feedback_id)]})


@complaints_app.command("status")
def complaints_status(
    feedback_id: int,
    to: Annotated[str | None, typer.Option("--to", help="the new status (leave out to record only a rating/note)")] = None,
    actor: Annotated[str, typer.Option(help="who did it")] = "cli",
    note: Annotated[str | None, typer.Option(help="resolution note or comment")] = None,
    rating: Annotated[float | None, typer.Option(help="customer's satisfaction with the handling, 1..5")] = None,
    at: Annotated[datetime | None, typer.Option(help="when it happened (default now, UTC)")] = None,
) -> None:
    """Move a complaint through its lifecycle; an invalid step exits 1 naming the allowed ones."""
    from nlp.errors import BazkhordError
    from store.lifecycle import change_status

    if to is None and rating is None and not note:
        raise BazkhordError("request.invalid", "Give --to, --rating or --note.")
    with _factory()() as s:
        try:
            fb = change_status(s, feedback_id, to, actor=actor, at=at, note=note, handling_rating=rating)
            s.commit()
        except BazkhordError as exc:
            s.rollback()
            if exc.code == "complaint.invalid_transition":
                allowed = ", ".join(exc.details["allowed"])
                raise BazkhordError(exc.code, f"{exc.message} Allowed from here: {allowed}.", exc.details, 409) from None
            raise
        typer.echo(f"#{fb.id}: {fb.status}")


@complaints_app.command("indicators")
def complaints_indicators(
    start: Annotated[datetime | None, typer.Option("--from", help="first day (YYYY-MM-DD)")] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="last day (YYYY-MM-DD)")] = None,
    period: Annotated[str, typer.Option(help="day | week | month | quarter | year | none")] = "month",
    calendar: Annotated[str, typer.Option(help="jalali | gregorian")] = "jalali",
    by: Annotated[str | None, typer.Option(help="segment | product | channel | topic | priority")] = None,
) -> None:
    """Process indicators (time to acknowledge/resolve, SLA shares, reopen rate, backlog, handling satisfaction), JSON."""
    from api.settings import get_settings
    from indicators.process import process_indicators

    settings = get_settings()
    with _factory()() as s:
        out = process_indicators(
            s, start=_day(start), end=_day(end), period=None if period == "none" else period, calendar=calendar, by=by,
            ack_sla_hours=settings.complaint_ack_sla_hours, sla_hours=settings.complaint_sla_hours, min_n=settings.min_n,
        )
    _print(out)


@complaints_app.command("triage")
def complaints_triage(
    text: Annotated[str | None, typer.Argument(help="the complaint text (default: read lines from stdin)")] = None,
    kind: Annotated[str, typer.Option(help="record kind")] = "complaint",
) -> None:
    """Triage text with the rules only (no model, no history): priority and reasons per line, JSON lines."""
    from api.settings import get_settings
    from models.triage import get_triage
    from nlp import get_pipeline

    triage = get_triage(get_settings().triage_rules_path)
    lines = [text] if text is not None else [ln.rstrip("\n") for ln in sys.stdin if ln.strip()]
    pipe = get_pipeline()
    for line in lines:
        res = triage.triage(pipe.process(line).text, None, kind)
        typer.echo(json.dumps(res.to_dict(), ensure_ascii=False))


def _day(d: datetime | None) -> date | None:
    return d.date() if d is not None else None
