"""A self-contained HTML evaluation report for analysts (``bazkhord evaluate --report OUT.html``).

One file, no scripts, fonts or styles from a CDN, right-to-left layout: confusion matrices,
bootstrap 95% intervals per label and per topic, a reliability diagram (inline SVG) and the worst
errors with the evidence the model gave. Only the masked ``clean_text`` of an analysis is shown,
never the raw text, so personal data masked by the pipeline stays out of the report.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from models.types import SENTIMENTS
from training.evaluate import (
    Evaluation,
    bootstrap_label_intervals,
    bootstrap_topic_intervals,
    confusion_matrix,
    reliability_bins,
    worst_sentiment_errors,
    worst_topic_errors,
)

LABEL_FA = {"neg": "منفی", "neu": "خنثی", "pos": "مثبت"}


def confusion_table(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Counts plus row-normalised shares (for shading): rows are gold labels, columns predictions."""
    m = confusion_matrix(gold, pred, labels)
    rows = []
    for i, label in enumerate(labels):
        total = int(m[i].sum())
        rows.append({
            "label": label,
            "total": total,
            "cells": [{"count": int(c), "share": (c / total) if total else 0.0} for c in m[i]],
        })
    return {"labels": list(labels), "rows": rows}


def reliability_svg(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10, size: int = 320) -> Markup:
    """Inline SVG: per-bin accuracy bars against the diagonal of perfect calibration, with bin counts."""
    bins = reliability_bins(confidence, correct, n_bins)
    pad, plot = 40, size - 60
    total = max(1, sum(b["n"] for b in bins))

    def x(v: float) -> float:
        return pad + v * plot

    def y(v: float) -> float:
        return pad / 2 + (1 - v) * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
        'role="img" aria-label="reliability diagram" direction="ltr">',
        f'<rect x="{x(0)}" y="{y(1)}" width="{plot}" height="{plot}" fill="#fafafa" stroke="#999"/>',
    ]
    width = plot / n_bins
    for b in bins:
        if not b["n"]:
            continue
        # the share of rows in each bin as a faint bar behind: where the evidence is
        share_h = plot * b["n"] / total
        parts.append(f'<rect x="{x(b["lo"]):.1f}" y="{y(0) - share_h:.1f}" width="{width:.1f}" '
                     f'height="{share_h:.1f}" fill="#e5e7eb"/>')
        h = plot * b["accuracy"]
        parts.append(
            f'<rect x="{x(b["lo"]) + 2:.1f}" y="{y(b["accuracy"]):.1f}" width="{width - 4:.1f}" height="{h:.1f}" '
            f'fill="#2563eb" fill-opacity="0.75"><title>{b["lo"]:.1f}–{b["hi"]:.1f}: n={b["n"]}, '
            f'accuracy {b["accuracy"]:.3f}, confidence {b["confidence"]:.3f}</title></rect>'
        )
        parts.append(f'<circle cx="{x(b["confidence"]):.1f}" cy="{y(b["confidence"]):.1f}" r="2.5" fill="#dc2626"/>')
    parts.append(f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#dc2626" stroke-dasharray="4 3"/>')
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{x(v):.1f}" y="{y(0) + 14:.1f}" font-size="10" text-anchor="middle">{v:g}</text>')
        parts.append(f'<text x="{x(0) - 4:.1f}" y="{y(v) + 3:.1f}" font-size="10" text-anchor="end">{v:g}</text>')
    parts.append(f'<text x="{x(0.5):.1f}" y="{size - 4}" font-size="11" text-anchor="middle">confidence</text>')
    parts.append(f'<text x="10" y="{y(0.5):.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 10 {y(0.5):.1f})">accuracy</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def highlight(text: str, phrases: Sequence[str]) -> Markup:
    """Escape ``text`` and wrap each evidence phrase found in it in ``<mark>``."""
    phrases = sorted({p for p in phrases if p and p.strip()}, key=len, reverse=True)
    if not phrases:
        return Markup(html.escape(text))
    pattern = re.compile("|".join(re.escape(p) for p in phrases))
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


def _evidence(topics: Sequence[dict]) -> list[str]:
    return [e for t in topics for e in t.get("evidence", [])]


def build_context(ev: Evaluation, n_boot: int = 1000, seed: int = 0, worst: int = 20) -> dict[str, Any]:
    """Everything the template shows, as plain values (handy for tests and other renderers)."""
    summary = ev.summary()
    ctx: dict[str, Any] = {
        "summary": summary,
        "model": ev.model,
        "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "n_boot": n_boot,
        "label_fa": LABEL_FA,
        "sentiment": None,
        "topics": None,
        "sentiment_errors": [],
        "topic_errors": [],
    }
    s = ev.sentiment
    if s is not None:
        ctx["sentiment"] = {
            "binary": s.binary,
            "confusion": confusion_table(s.gold, s.pred, s.labels),
            "ci": bootstrap_label_intervals(s.gold, s.pred, s.labels, n_boot=n_boot, seed=seed),
            "reliability": reliability_svg(s.confidence, s.correct),
            "mean_confidence": float(np.mean(s.confidence)),
        }
        errors = worst_sentiment_errors(ev, worst)
        for e in errors:
            e["html"] = highlight(e["clean_text"], _evidence(e["topics"]))
        ctx["sentiment_errors"] = errors
    t = ev.topics
    if t is not None:
        label_fa: dict[str, str] = {}
        for a in ev.analyses:
            for x in a.topics:
                label_fa.setdefault(x.topic, x.label_fa)
        counts = {}
        for topic in t.topics:
            tp = sum(1 for g, p in zip(t.gold, t.pred, strict=True) if topic in g and topic in p)
            fp = sum(1 for g, p in zip(t.gold, t.pred, strict=True) if topic not in g and topic in p)
            fn = sum(1 for g, p in zip(t.gold, t.pred, strict=True) if topic in g and topic not in p)
            counts[topic] = {"tp": tp, "fp": fp, "fn": fn, "tn": len(t.gold) - tp - fp - fn}
        ctx["topics"] = {
            "label_fa": label_fa,
            "counts": counts,
            "ci": bootstrap_topic_intervals(t.gold, t.pred, t.topics, n_boot=n_boot, seed=seed),
            "abstained": sum(1 for i in t.rows if ev.analyses[i].abstained),
            "polarity_confusion": None,
            "polarity_ci": None,
        }
        if t.polarity_gold:
            ctx["topics"]["polarity_confusion"] = confusion_table(t.polarity_gold, t.polarity_pred, SENTIMENTS)
            ctx["topics"]["polarity_ci"] = bootstrap_label_intervals(
                t.polarity_gold, t.polarity_pred, SENTIMENTS, n_boot=n_boot, seed=seed)
        errors = worst_topic_errors(ev, worst)
        for e in errors:
            e["html"] = highlight(e["clean_text"], _evidence(e["topics"]))
        ctx["topic_errors"] = errors
    return ctx


_TEMPLATE = r"""<!doctype html>
<html lang="fa" dir="rtl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>گزارش ارزیابی مدل — Bazkhord evaluation {{ model }}</title>
<style>
body { font-family: Vazirmatn, "Vazir", Tahoma, "Segoe UI", "Noto Sans Arabic", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #111827; line-height: 1.6; }
h1, h2, h3 { line-height: 1.3; }
h2 { border-bottom: 2px solid #e5e7eb; padding-bottom: .3rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #d1d5db; padding: .3rem .6rem; text-align: start; vertical-align: top; }
th { background: #f3f4f6; }
td.num, th.num { text-align: left; direction: ltr; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci { color: #6b7280; font-size: .85em; direction: ltr; unicode-bidi: isolate; }
.muted { color: #6b7280; }
.text { max-width: 34rem; unicode-bidi: plaintext; }
mark { background: #fde68a; padding: 0 .1em; }
.en { direction: ltr; unicode-bidi: isolate; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.card { border: 1px solid #d1d5db; border-radius: .5rem; padding: .6rem 1rem; min-width: 9rem; }
.card b { display: block; font-size: 1.4rem; direction: ltr; text-align: right; }
code { direction: ltr; unicode-bidi: isolate; }
</style>
</head>
<body>
<h1>گزارش ارزیابی مدل <span class="en">(evaluation report)</span></h1>
<p>مدل <code>{{ model or "?" }}</code> · {{ summary.n }} رکورد · <span class="en">{{ created }}</span></p>
<p class="muted">بازه‌ها: بازهٔ اطمینان ۹۵٪ بوت‌استرپ با {{ n_boot }} نمونه‌گیری مجدد از ردیف‌ها.
متن‌ها پس از پوشاندن اطلاعات شخصی (clean_text) نمایش داده می‌شوند.</p>

{% macro pct(v) %}{{ "%.3f"|format(v) if v is not none else "—" }}{% endmacro %}
{% macro ci(pair) %}<span class="ci">[{{ "%.3f"|format(pair[0]) }}, {{ "%.3f"|format(pair[1]) }}]</span>{% endmacro %}
{% macro confusion(tbl) %}
<table>
<tr><th>واقعی ↓ / پیش‌بینی ←</th>{% for l in tbl.labels %}<th class="num">{{ label_fa.get(l, l) }} <span class="en">{{ l }}</span></th>{% endfor %}<th class="num">جمع</th></tr>
{% for row in tbl.rows %}
<tr><th>{{ label_fa.get(row.label, row.label) }} <span class="en">{{ row.label }}</span></th>
{% for c in row.cells %}<td class="num" style="background: rgba(37, 99, 235, {{ "%.2f"|format(0.08 + 0.6 * c.share) }})">{{ c.count }} <span class="ci">({{ "%.0f"|format(100 * c.share) }}%)</span></td>{% endfor %}
<td class="num">{{ row.total }}</td></tr>
{% endfor %}
</table>
{% endmacro %}

{% if sentiment %}
{% set s = summary.sentiment %}
<h2>احساس کلی <span class="en">(overall sentiment)</span></h2>
{% if sentiment.binary %}<p class="muted">داده فقط برچسب مثبت/منفی دارد: پیش‌بینی با مقایسهٔ امتیاز <code>pos</code> و <code>neg</code> به‌تنهایی.</p>{% endif %}
<div class="cards">
<div class="card">تعداد <b>{{ s.n }}</b></div>
<div class="card">دقت <span class="en">accuracy</span><b>{{ pct(s.accuracy) }}</b>{{ ci(sentiment.ci.accuracy) }}</div>
<div class="card">میانگین F1 <span class="en">macro</span><b>{{ pct(s.macro_f1) }}</b>{{ ci(sentiment.ci.macro_f1) }}</div>
<div class="card">خطای کالیبراسیون <span class="en">ECE</span><b>{{ pct(s.ece) }}</b></div>
</div>
<h3>به تفکیک برچسب <span class="en">(per label)</span></h3>
<table>
<tr><th>برچسب</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th><th class="num">support</th></tr>
{% for l in s.labels %}{% set m = s.per_label[l] %}{% set c = sentiment.ci.per_label[l] %}
<tr><th>{{ label_fa.get(l, l) }} <span class="en">{{ l }}</span></th>
<td class="num">{{ pct(m.precision) }} {{ ci(c.precision) }}</td><td class="num">{{ pct(m.recall) }} {{ ci(c.recall) }}</td>
<td class="num">{{ pct(m.f1) }} {{ ci(c.f1) }}</td><td class="num">{{ m.support }}</td></tr>
{% endfor %}
</table>
<h3>ماتریس درهم‌ریختگی <span class="en">(confusion matrix)</span></h3>
{{ confusion(sentiment.confusion) }}
<h3>نمودار اطمینان‌پذیری <span class="en">(reliability diagram)</span></h3>
<p class="muted">ستون آبی: دقت هر بازهٔ اطمینان؛ نقطهٔ قرمز: میانگین اطمینان؛ خط‌چین: کالیبراسیون کامل؛ خاکستری: سهم ردیف‌ها.
میانگین اطمینان {{ pct(sentiment.mean_confidence) }}.</p>
{{ sentiment.reliability }}
{% endif %}

{% if topics %}
{% set t = summary.topics %}
<h2>موضوع‌ها <span class="en">(topics)</span></h2>
<div class="cards">
<div class="card">ردیف‌های برچسب‌خورده <b>{{ t.n }}</b></div>
<div class="card">micro-F1<b>{{ pct(t.micro_f1) }}</b>{% if topics.ci.micro_f1 %}{{ ci(topics.ci.micro_f1) }}{% endif %}</div>
<div class="card">macro-F1<b>{{ pct(t.macro_f1) }}</b>{% if topics.ci.macro_f1 %}{{ ci(topics.ci.macro_f1) }}{% endif %}</div>
<div class="card">بدون موضوع مطمئن <span class="en">abstained</span><b>{{ topics.abstained }}</b></div>
</div>
<table>
<tr><th>موضوع</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th><th class="num">support</th>
<th class="num">TP</th><th class="num">FP</th><th class="num">FN</th><th class="num">TN</th></tr>
{% for name, m in t.per_topic.items() %}{% set c = topics.ci.per_topic[name] %}{% set k = topics.counts[name] %}
<tr><th>{% if topics.label_fa.get(name, name) != name %}{{ topics.label_fa[name] }} {% endif %}<span class="en">{{ name }}</span></th>
<td class="num">{{ pct(m.precision) }} {{ ci(c.precision) }}</td><td class="num">{{ pct(m.recall) }} {{ ci(c.recall) }}</td>
<td class="num">{{ pct(m.f1) }} {{ ci(c.f1) }}</td><td class="num">{{ m.support }}</td>
<td class="num">{{ k.tp }}</td><td class="num">{{ k.fp }}</td><td class="num">{{ k.fn }}</td><td class="num">{{ k.tn }}</td></tr>
{% endfor %}
</table>
{% set tp = summary.topic_polarity %}
<h3>احساس هر موضوع <span class="en">(topic polarity, on gold topics the model also found)</span></h3>
<p>n = {{ tp.n }} · accuracy {{ pct(tp.accuracy) }}{% if topics.polarity_ci %} {{ ci(topics.polarity_ci.accuracy) }}{% endif %}
 · macro-F1 {{ pct(tp.macro_f1) }}{% if topics.polarity_ci %} {{ ci(topics.polarity_ci.macro_f1) }}{% endif %}</p>
{% if topics.polarity_confusion %}{{ confusion(topics.polarity_confusion) }}{% endif %}
{% endif %}

{% if sentiment_errors %}
<h2>بدترین خطاهای احساس <span class="en">(most confident sentiment errors)</span></h2>
<table>
<tr><th>#</th><th>متن (پوشانده‌شده)</th><th>واقعی</th><th>پیش‌بینی</th><th class="num">اطمینان</th><th>موضوع‌ها و شواهد</th></tr>
{% for e in sentiment_errors %}
<tr><td class="num">{{ loop.index }}</td><td class="text" dir="auto">{{ e.html }}<div class="muted en">{{ e.id }}</div></td>
<td>{{ label_fa.get(e.gold, e.gold) }}</td><td>{{ label_fa.get(e.pred, e.pred) }}</td>
<td class="num">{{ pct(e.confidence) }}<div class="ci">{% for k, v in e.scores.items() %}{{ k }} {{ "%.2f"|format(v) }} {% endfor %}</div></td>
<td>{% for x in e.topics %}<div>{{ x.label_fa or x.topic }} ({{ label_fa.get(x.sentiment, x.sentiment) }}, <span class="en">{{ "%.2f"|format(x.score) }}</span>){% if x.evidence %}: {% for ev in x.evidence %}<mark>{{ ev }}</mark>{% if not loop.last %}، {% endif %}{% endfor %}{% endif %}</div>{% else %}<span class="muted">—</span>{% endfor %}</td></tr>
{% endfor %}
</table>
{% endif %}

{% if topic_errors %}
<h2>بدترین خطاهای موضوع <span class="en">(topic errors)</span></h2>
<table>
<tr><th>#</th><th>متن (پوشانده‌شده)</th><th>موضوع‌های واقعی</th><th>جاافتاده <span class="en">missed</span></th><th>اضافی <span class="en">spurious</span> و شواهد</th></tr>
{% for e in topic_errors %}
<tr><td class="num">{{ loop.index }}</td><td class="text" dir="auto">{{ e.html }}<div class="muted en">{{ e.id }}</div></td>
<td>{% for k, v in e.gold.items() %}<div><span class="en">{{ k }}</span> ({{ label_fa.get(v, v) }})</div>{% else %}<span class="muted">هیچ</span>{% endfor %}</td>
<td>{% for k in e.missed %}<div class="en">{{ k }}</div>{% else %}<span class="muted">—</span>{% endfor %}</td>
<td>{% for x in e.spurious %}<div>{{ x.label_fa or x.topic }} <span class="en">{{ "%.2f"|format(x.score) }}</span>{% if x.evidence %}: {% for ev in x.evidence %}<mark>{{ ev }}</mark>{% if not loop.last %}، {% endif %}{% endfor %}{% endif %}</div>{% else %}<span class="muted">—</span>{% endfor %}</td></tr>
{% endfor %}
</table>
{% endif %}
</body>
</html>
"""


def render_report(ev: Evaluation, n_boot: int = 1000, seed: int = 0, worst: int = 20) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(**build_context(ev, n_boot=n_boot, seed=seed, worst=worst))


def write_report(ev: Evaluation, path: str | Path, n_boot: int = 1000, seed: int = 0, worst: int = 20) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_report(ev, n_boot=n_boot, seed=seed, worst=worst), encoding="utf-8")
    return p
