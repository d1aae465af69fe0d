"""Trend alerts: significant rises in negative mentions against a trailing baseline.

For the current period (holding ``at``) and the ``baseline`` periods before it, each candidate is
tested: every topic (all segments), every segment (negative overall sentiment) and every
topic x segment. The rate is negative mentions per analysed record; a one-sided pooled
two-proportion z test asks whether the current rate is higher than the baseline rate. Candidates
with fewer than ``min_n`` records on either side are not tested. Benjamini-Hochberg keeps the
expected share of false alerts among all alerts at ``alpha`` (default 5%).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from indicators import stats
from indicators.periods import check, period_of, previous
from indicators.query import NONE_GROUP, Slice, data_range, feedback_sums, group_value, topic_sums
from indicators.themes import _filtered, negative_texts
from store.schema import Feedback

ALL = "*"


def _neg_texts_segment(session: Session, sl: Slice, limit: int) -> list[str]:
    q = select(Feedback.text).where(Feedback.sentiment == "neg")
    q = _filtered(q, sl, Feedback).order_by(Feedback.day.desc(), Feedback.id.desc()).limit(limit)
    return list(session.scalars(q))


def alerts(
    session: Session,
    sl: Slice,
    period: str = "week",
    calendar: str = "jalali",
    at: date | None = None,
    baseline: int = 4,
    alpha: float = 0.05,
    min_n: int = 30,
    labels: Mapping[str, str] | None = None,
    examples: int = 3,
) -> dict:
    check(period, calendar)
    labels = labels or {}
    if at is None:
        # the last complete period: a half-filled current week would compare 2 days with 4 weeks
        last = data_range(session)[1] or date.today()
        cur_p = period_of(last, period, calendar)
        if cur_p.end > last:
            cur_p = previous(cur_p, period, calendar)
    else:
        cur_p = period_of(at, period, calendar)
    base_start = previous(cur_p, period, calendar, baseline).start
    cur = Slice(cur_p.start, cur_p.end, sl.filters)
    base = Slice(base_start, cur_p.start - timedelta(days=1), sl.filters)

    def denominators(s: Slice) -> dict[str, dict]:
        out = {group_value(k[0]): v for k, v in feedback_sums(session, s, "segment").items()}
        out[ALL] = {k: sum(v[k] for v in out.values()) for k in ("n_analyzed", "neg")} if out else {"n_analyzed": 0, "neg": 0}
        return out

    def negatives(s: Slice) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = defaultdict(int)
        for (topic, pol, seg), v in topic_sums(session, s, "segment").items():
            if pol == "neg":
                out[(topic, group_value(seg))] += int(v["mentions"])
                out[(topic, ALL)] += int(v["mentions"])
        return out

    d_cur, d_base = denominators(cur), denominators(base)
    t_cur, t_base = negatives(cur), negatives(base)
    candidates = []
    for seg in d_cur:
        if seg != ALL:
            candidates.append((None, seg, d_cur[seg]["neg"], d_cur[seg]["n_analyzed"], d_base.get(seg, {}).get("neg", 0), d_base.get(seg, {}).get("n_analyzed", 0)))
    for (topic, seg), x1 in t_cur.items():
        n1 = d_cur.get(seg, {}).get("n_analyzed", 0)
        x0, n0 = t_base.get((topic, seg), 0), d_base.get(seg, {}).get("n_analyzed", 0)
        candidates.append((topic, seg, x1, n1, x0, n0))
    tested = []
    for topic, seg, x1, n1, x0, n0 in candidates:
        if n1 < min_n or n0 < min_n:
            continue
        z, p = stats.two_proportion_z(x1, int(n1), x0, int(n0))
        tested.append((topic, seg, int(x1), int(n1), int(x0), int(n0), z, p))
    qs = stats.benjamini_hochberg([t[-1] for t in tested])
    out = []
    for (topic, seg, x1, n1, x0, n0, z, p), q in zip(tested, qs, strict=True):
        if q > alpha or z <= 0:
            continue
        r1, r0 = x1 / n1, (x0 / n0 if n0 else 0.0)
        filters = dict(sl.filters)
        if seg != ALL:
            filters["segment"] = (seg,)
        ex_slice = Slice(cur.start, cur.end, filters)
        ex = negative_texts(session, ex_slice, topic, 50) if topic else _neg_texts_segment(session, ex_slice, 50)
        out.append({
            "kind": "topic_negative_rise" if topic else "segment_negative_rise",
            "topic": topic,
            "label_fa": labels.get(topic, topic) if topic else None,
            "segment": None if seg == ALL else seg,
            "current": {"negative": x1, "n": n1, "rate": stats.wilson(x1, n1, min_n).to_dict()},
            "baseline": {"negative": x0, "n": n0, "rate": stats.wilson(x0, n0, min_n).to_dict()},
            "relative_rise": None if r0 == 0 else round(r1 / r0, 3),
            "z": round(z, 3),
            "p_value": float(f"{p:.3g}"),
            "q_value": float(f"{q:.3g}"),
            "examples": _distinct(ex, examples),
        })
    out.sort(key=lambda a: (a["q_value"], -a["z"], a["topic"] or "", a["segment"] or ""))
    return {
        "period": period,
        "calendar": calendar,
        "current": cur_p.to_dict(),
        "baseline": {"from": base_start.isoformat(), "to": (cur_p.start - timedelta(days=1)).isoformat(), "periods": baseline},
        "alpha": alpha,
        "tests": len(tested),
        "alerts": out,
        "none_group": NONE_GROUP,
    }


def _distinct(texts: list[str], k: int) -> list[str]:
    out: list[str] = []
    for t in texts:
        if t not in out:
            out.append(t)
        if len(out) == k:
            break
    return out
