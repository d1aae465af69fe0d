"""Satisfaction indicators (ISO 10004) from additive sums: CSAT, NPS, net sentiment, topics, CSI, impact.

Direct measures come from what customers rated (CSAT, mean rating, NPS); indirect indicators from
what the model read in their words (net sentiment, complaints, topic mentions). Formulas are in
the README ("Indicators"); every figure is a :class:`indicators.stats.Figure`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date

from sqlalchemy.orm import Session

from indicators import stats
from indicators.periods import check, period_of, periods_between, previous
from indicators.query import (
    FEEDBACK_SUMS,
    TOPIC_SUMS,
    Slice,
    data_range,
    feedback_sums,
    group_value,
    topic_sums,
)
from indicators.rollup import fresh_rollups
from nlp.errors import BazkhordError

WEIGHT_METHODS = ("driver", "mentions", "equal")
DEFAULT_SPAN = {"day": 30, "week": 12, "month": 12, "quarter": 8, "year": 5}


def kpis(s: Mapping[str, float], min_n: int) -> dict:
    """The headline figures of one slice from its feedback sums."""
    return {
        "volume": int(s["n"]),
        "csat": stats.wilson(s["top2"], int(s["n_rated"]), min_n).to_dict(),
        "mean_rating": stats.mean(s["rating_sum"], s["rating_sq_sum"], int(s["n_rated"]), min_n).to_dict(),
        "nps": stats.net_score(s["promoters"], s["detractors"], int(s["n_nps"]), min_n).to_dict(),
        "net_sentiment": stats.net_score(s["pos"], s["neg"], int(s["n_analyzed"]), min_n).to_dict(),
        "negative_share": stats.wilson(s["neg"], int(s["n_analyzed"]), min_n).to_dict(),
        "complaints": {
            "volume": int(s["complaints"]),
            "share": stats.wilson(s["complaints"], int(s["n"]), min_n).to_dict(),
        },
    }


def _topic_totals(tsums: Mapping[tuple, dict]) -> dict[str, dict[str, dict]]:
    """{topic: {polarity: sums}} from sums keyed (topic, polarity, ...) (other keys summed over)."""
    out: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(TOPIC_SUMS, 0)))
    for key, s in tsums.items():
        acc = out[key[0]][key[1]]
        for k in TOPIC_SUMS:
            acc[k] += s[k]
    return out


def driver_weights(fs: Mapping[str, float], by_topic: Mapping[str, Mapping[str, dict]], min_n: int) -> dict[str, float | None]:
    """Rating points a negative mention of each topic costs: mean rating of all rated records minus the
    mean rating of rated records that mention the topic negatively (1..5 scale, clipped at 0).

    ``None`` where fewer than ``min_n`` rated records mention the topic negatively.
    """
    if fs["n_rated"] <= 0:
        return dict.fromkeys(by_topic)
    overall = fs["rating_sum"] / fs["n_rated"]
    out: dict[str, float | None] = {}
    for t, pols in by_topic.items():
        neg = pols.get("neg")
        if not neg or neg["rated"] < min_n:
            out[t] = None
        else:
            out[t] = max(0.0, overall - neg["rating_sum"] / neg["rated"])
    return out


def csi_weights(
    method: str | Mapping[str, float], fs: Mapping[str, float], by_topic: Mapping[str, Mapping[str, dict]], min_n: int
) -> tuple[dict[str, float], str]:
    """Normalized topic weights for the CSI and the method actually used.

    ``driver`` falls back to ``mentions`` when no topic has enough rated negative mentions; topics
    without enough data get the mean of the others' driver weights.
    """
    topics = sorted(by_topic)
    if not topics:
        return {}, method if isinstance(method, str) else "configured"
    if isinstance(method, Mapping):
        raw = {t: float(method.get(t, 0.0)) for t in topics}
        used = "configured"
    elif method == "equal":
        raw, used = dict.fromkeys(topics, 1.0), "equal"
    elif method == "driver":
        d = driver_weights(fs, by_topic, min_n)
        known = [v for v in d.values() if v is not None]
        if known and sum(known) > 0:
            fill = sum(known) / len(known)
            raw, used = {t: (fill if d[t] is None else d[t]) for t in topics}, "driver"
        else:
            return csi_weights("mentions", fs, by_topic, min_n)[0], "mentions"
    elif method == "mentions":
        raw, used = {t: float(sum(p["mentions"] for p in by_topic[t].values())) for t in topics}, "mentions"
    else:
        raise BazkhordError("indicators.bad_weights", f"weights must be one of {', '.join(WEIGHT_METHODS)} or topic:weight pairs", None, 422)
    total = sum(raw.values())
    if total <= 0:
        return dict.fromkeys(topics, 0.0), used
    return {t: raw[t] / total for t in topics}, used


def topic_figures(
    fs: Mapping[str, float], by_topic: Mapping[str, Mapping[str, dict]], min_n: int, labels: Mapping[str, str]
) -> list[dict]:
    """Per topic: mentions, share of analysed texts, negative share, net sentiment, satisfaction, impact."""
    out = []
    n_an = int(fs["n_analyzed"])
    base_net = stats.net_score(fs["pos"], fs["neg"], n_an, min_n)
    base_csat = stats.wilson(fs["top2"], int(fs["n_rated"]), min_n)
    for t in sorted(by_topic):
        p = by_topic[t]
        pos, neu, neg = (p.get(k, {}).get("mentions", 0) for k in ("pos", "neu", "neg"))
        m = int(pos + neu + neg)
        net = stats.net_score(pos, neg, m, min_n)
        negs = p.get("neg", dict.fromkeys(TOPIC_SUMS, 0))
        # Impact: the change in the overall figure if the records complaining about t were not there.
        impact_net = None
        if base_net.value is not None and n_an - negs["mentions"] > 0:
            without = stats.net_score(fs["pos"] - negs["rec_pos"], fs["neg"] - negs["rec_neg"], int(n_an - negs["mentions"]), min_n)
            impact_net = round(without.value - base_net.value, 2)  # type: ignore[operator]
        impact_csat = None
        if base_csat.value is not None and fs["n_rated"] - negs["rated"] > 0:
            without = stats.wilson(fs["top2"] - negs["top2"], int(fs["n_rated"] - negs["rated"]), min_n)
            impact_csat = round(without.value - base_csat.value, 2)  # type: ignore[operator]
        out.append({
            "topic": t,
            "label_fa": labels.get(t, t),
            "mentions": m,
            "pos": int(pos), "neu": int(neu), "neg": int(neg),
            "share": stats.wilson(m, n_an, min_n).to_dict(),
            "negative_share": stats.wilson(neg, m, min_n).to_dict(),
            "net_sentiment": net.to_dict(),
            "satisfaction": stats.satisfaction_from_net(net).to_dict(),
            "impact": {"net_sentiment": impact_net, "csat": impact_csat},
        })
    return out


def csi(topics: list[dict], weights: Mapping[str, float], min_n: int) -> dict:
    figs = [stats.Figure(**t["satisfaction"]) for t in topics]
    return stats.weighted_mean(figs, [weights.get(t["topic"], 0.0) for t in topics], min_n).to_dict()


def default_window(session: Session, start: date | None, end: date | None, period: str, calendar: str) -> tuple[date | None, date | None]:
    """Missing ends: ``to`` = the last day with data, ``from`` = the start of the last N periods."""
    if start is not None and end is not None:
        return start, end
    lo, hi = data_range(session)
    if end is None:
        end = hi or date.today()
    if start is None:
        start = previous(period_of(end, period, calendar), period, calendar, DEFAULT_SPAN[period] - 1).start
        if lo is not None:
            start = max(start, period_of(lo, period, calendar).start)
    return start, end


def _block(fs: Mapping[str, float], by_topic, min_n: int, labels, weights_method) -> dict:
    block = kpis(fs, min_n)
    topics = topic_figures(fs, by_topic, min_n, labels)
    weights, used = csi_weights(weights_method, fs, by_topic, min_n)
    block["topics"] = topics
    block["csi"] = csi(topics, weights, min_n)
    block["csi_weights"] = {t: round(w, 4) for t, w in weights.items()}
    block["csi_method"] = used
    return block


def _sum(items) -> dict:
    items = items if isinstance(items, list) else list(items)
    if len(items) == 1:  # most series cells: one row (0 + keeps the types and values of the loop below)
        only = items[0]
        return {k: 0 + only[k] for k in FEEDBACK_SUMS}
    acc = dict.fromkeys(FEEDBACK_SUMS, 0)
    for s in items:
        for k in FEEDBACK_SUMS:
            acc[k] += s[k]
    return acc


def indicators(
    session: Session,
    sl: Slice,
    period: str = "month",
    calendar: str = "jalali",
    group_by: str | None = None,
    min_n: int = 30,
    weights: str | Mapping[str, float] = "driver",
    labels: Mapping[str, str] | None = None,
) -> dict:
    """Everything ``GET /v1/indicators`` returns: overall block, per-period series, per-group blocks."""
    check(period, calendar)
    labels = labels or {}
    with fresh_rollups(session):
        start, end = default_window(session, sl.start, sl.end, period, calendar)
        sl = Slice(start, end, sl.filters)
        fsums = feedback_sums(session, sl, group_by, period, calendar)
        tsums = topic_sums(session, sl, group_by, None, calendar)
    # fsums keys: (Period,) or (Period, group)
    per_period: dict = defaultdict(list)
    per_group: dict = defaultdict(list)
    per_group_period: dict = defaultdict(list)
    for key, s in fsums.items():
        per_period[key[0]].append(s)
        if group_by:
            g = group_value(key[1])
            per_group[g].append(s)
            per_group_period[(g, key[0])].append(s)
    total = _sum(fsums.values())
    all_periods = periods_between(start, end, period, calendar) if start and end else sorted(per_period, key=lambda p: p.start)

    heads = [(p, p.to_dict()) for p in all_periods]

    def series(lookup) -> list[dict]:
        return [{**head, **kpis(_sum(lookup(p)), min_n)} for p, head in heads]

    result = {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "period": period,
        "calendar": calendar,
        "group_by": group_by,
        "filters": {k: list(v) for k, v in sl.filters.items()},
        "min_n": min_n,
        "overall": _block(total, _topic_totals(tsums), min_n, labels, weights),
        "series": series(lambda p: per_period.get(p, [])),
        "groups": [],
    }
    if group_by:
        tsums_by_group: dict = defaultdict(dict)
        for key, s in tsums.items():
            tsums_by_group[group_value(key[2])][key] = s
        gsums = {g: _sum(rows) for g, rows in per_group.items()}
        for g in sorted(per_group, key=lambda g: -gsums[g]["n"]):
            block = _block(gsums[g], _topic_totals(tsums_by_group.get(g, {})), min_n, labels, weights)
            block["group"] = g
            block["series"] = series(lambda p, g=g: per_group_period.get((g, p), []))
            result["groups"].append(block)
    return result
