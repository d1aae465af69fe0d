"""The management-review report: the satisfaction figures a review needs, as a dict, XLSX or HTML.

Contents (ISO 10004 monitoring inputs to a management review): headline indicators for the window
and the window before it, the monthly trend, per-topic figures with impact, top complaint themes with
examples, alerts, and figures per segment.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from indicators.alerts import alerts
from indicators.compute import indicators
from indicators.periods import period_of
from indicators.process import complaint_review, review_sheets
from indicators.query import Slice
from indicators.themes import previous_window, top_themes, window

HEADLINES = (
    ("csat", "رضایت (CSAT، دو گزینهٔ بالا) ٪"),
    ("mean_rating", "میانگین امتیاز (از ۵)"),
    ("nps", "NPS"),
    ("net_sentiment", "احساس خالص"),
    ("negative_share", "سهم نظرات منفی ٪"),
    ("csi", "شاخص رضایت مشتری (CSI)"),
)


def management_review(session: Session, sl: Slice, min_n: int = 30, labels: Mapping[str, str] | None = None,
                      calendar: str = "jalali", complaint_sla: Mapping[str, float] | None = None) -> dict:
    labels = labels or {}
    start, end = window(session, sl, 90)
    cur = Slice(start, end, sl.filters)
    pstart, pend = previous_window(start, end)
    now = indicators(session, cur, "month", calendar, "segment", min_n, "driver", labels)
    before = indicators(session, Slice(pstart, pend, sl.filters), "month", calendar, None, min_n, "driver", labels)
    headline = []
    for key, label in HEADLINES:
        a, b = now["overall"][key], before["overall"][key]
        change = None if a["value"] is None or b["value"] is None else round(a["value"] - b["value"], 2)
        headline.append({"key": key, "label_fa": label, "current": a, "previous": b, "change": change})
    themes = top_themes(session, cur, min_n=min_n, labels=labels, limit=5)
    al = alerts(session, Slice(None, None, sl.filters), "month", calendar, end, 3, 0.05, min_n, labels)
    return {
        "title": "گزارش بازنگری مدیریت — رضایت مشتری",
        "generated_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
        "from": str(start), "to": str(end),
        "from_fa": period_of(start, "day", calendar).label_fa, "to_fa": period_of(end, "day", calendar).label_fa,
        "previous": {"from": str(pstart), "to": str(pend)},
        "filters": {k: list(v) for k, v in sl.filters.items()},
        "min_n": min_n,
        "volume": now["overall"]["volume"],
        "complaints": now["overall"]["complaints"],
        "headline": headline,
        "csi_method": now["overall"]["csi_method"],
        "csi_weights": now["overall"]["csi_weights"],
        "trend": now["series"],
        "topics": now["overall"]["topics"],
        "themes": themes["themes"],
        "alerts": al["alerts"],
        # ISO 10002 complaint-handling figures (indicators/process.py); complaint_sla: ack_sla_hours, sla_hours
        "complaint_handling": complaint_review(session, start, end, sl.filters, calendar, min_n, **(complaint_sla or {})),
        "segments": [
            {"group": g["group"], "volume": g["volume"], "csat": g["csat"], "mean_rating": g["mean_rating"],
             "net_sentiment": g["net_sentiment"], "complaints": g["complaints"], "csi": g["csi"]}
            for g in now["groups"]
        ],
    }


def fmt_figure(f: Mapping | None) -> str:
    """'72.3 (68.1–76.2)' with a trailing * when n is below the minimum."""
    if not f or f.get("value") is None:
        return "—"
    s = f"{f['value']:.1f}"
    if f.get("ci_low") is not None:
        s += f" ({f['ci_low']:.1f}–{f['ci_high']:.1f})"
    if f.get("insufficient_data"):
        s += " *"
    return s


def safe_cell(value):
    """Spreadsheet formula injection guard: text starting with = + - @ (or tab/CR) is prefixed with '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_xlsx(report: dict) -> bytes:
    """An XLSX workbook (right-to-left sheets): summary, trend, topics, themes, alerts, segments."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    bold = Font(bold=True)

    def sheet(title: str, header: list[str], rows: list[list], first: bool = False):
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        ws.sheet_view.rightToLeft = True
        ws.append(header)
        for c in ws[1]:
            c.font = bold
        for r in rows:
            ws.append([safe_cell(v) for v in r])
        for col in ws.columns:
            ws.column_dimensions[col[0].column_letter].width = min(60, max(12, *(len(str(c.value or "")) for c in col)))
        return ws

    def fig(f):
        return [f.get("value"), f.get("ci_low"), f.get("ci_high"), f.get("n"), "yes" if f.get("insufficient_data") else ""]

    ws = sheet("summary", ["indicator", "شاخص", "value", "ci_low", "ci_high", "n", "insufficient_data", "previous", "change"],
               [[h["key"], h["label_fa"], *fig(h["current"]), h["previous"].get("value"), h["change"]] for h in report["headline"]],
               first=True)
    ws.append([])
    ws.append(["window", f"{report['from']} .. {report['to']}", report["from_fa"], report["to_fa"]])
    ws.append(["volume", report["volume"], "complaints", report["complaints"]["volume"]])
    ws.append(["csi_method", report["csi_method"], *[f"{k}={v}" for k, v in report["csi_weights"].items()]])
    ws.append(["min_n", report["min_n"]])
    sheet("trend", ["period", "label_fa", "start", "end", "volume", "csat", "csat_low", "csat_high", "mean_rating", "net_sentiment", "complaints"],
          [[p["period"], p["label_fa"], p["start"], p["end"], p["volume"], p["csat"]["value"], p["csat"]["ci_low"], p["csat"]["ci_high"],
            p["mean_rating"]["value"], p["net_sentiment"]["value"], p["complaints"]["volume"]] for p in report["trend"]])
    sheet("topics", ["topic", "label_fa", "mentions", "negative_share", "net_sentiment", "satisfaction", "sat_low", "sat_high",
                     "impact_net_sentiment", "impact_csat"],
          [[t["topic"], t["label_fa"], t["mentions"], t["negative_share"]["value"], t["net_sentiment"]["value"],
            t["satisfaction"]["value"], t["satisfaction"]["ci_low"], t["satisfaction"]["ci_high"],
            t["impact"]["net_sentiment"], t["impact"]["csat"]] for t in report["topics"]])
    sheet("themes", ["topic", "label_fa", "negative_mentions", "change", "key_phrases", "example_1", "example_2", "example_3"],
          [[t["topic"], t["label_fa"], t["negative_mentions"], t["change"]["delta_negative_mentions"], "، ".join(t["key_phrases"]),
            *(t["examples"] + ["", "", ""])[:3]] for t in report["themes"]])
    sheet("alerts", ["kind", "topic", "segment", "current_rate", "baseline_rate", "z", "q_value", "example"],
          [[a["kind"], a["label_fa"] or "", a["segment"] or "", a["current"]["rate"]["value"], a["baseline"]["rate"]["value"],
            a["z"], a["q_value"], (a["examples"] or [""])[0]] for a in report["alerts"]])
    sheet("segments", ["segment", "volume", "csat", "csat_low", "csat_high", "mean_rating", "net_sentiment", "complaints", "csi"],
          [[s["group"], s["volume"], s["csat"]["value"], s["csat"]["ci_low"], s["csat"]["ci_high"], s["mean_rating"]["value"],
            s["net_sentiment"]["value"], s["complaints"]["volume"], s["csi"]["value"]] for s in report["segments"]])
    for title, header, rows in review_sheets(report.get("complaint_handling")):
        sheet(title, header, rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
