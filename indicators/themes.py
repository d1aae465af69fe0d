"""Top complaint themes and emerging (unclaimed) themes, with Persian key phrases and masked examples.

Key phrases are class-based TF-IDF (c-TF-IDF, as in BERTopic): every theme's texts form one class
document and a term's weight is ``tf(t, c) / words(c) * log(1 + A / f(t))`` with ``A`` the mean
number of words per class and ``f(t)`` the term's frequency over all classes, so phrases that are
frequent in one theme and rare in the others rise. Texts are read masked (``feedback.text``) and a
bounded, deterministic sample is used (the most recent ``sample`` texts of the window).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from indicators import stats
from indicators.compute import _topic_totals, topic_figures
from indicators.query import NONE_GROUP, Slice, data_range, feedback_sums, topic_sums
from indicators.rollup import fresh_rollups
from store.schema import Feedback, TopicMention

_TOKEN = re.compile(r"[\u0621-\u064A\u067E\u0686\u0698\u06AF\u06A9\u06CC\u200c]+|[A-Za-z]+")


# Greetings, thanks and intensifiers: frequent in feedback, never what a theme is about.
CONVERSATIONAL = frozenset(
    "سلام ممنون مرسی تشکر متشکرم متاسفانه راستش لطفا لطفاً خیلی واقعا واقعاً اصلا اصلاً کاملا کاملاً دیگه هم بود بودند بودم "
    "شد شده است هست نیست داره داشت کنید کردند کردم".split()
)


@lru_cache(maxsize=1)
def persian_stopwords() -> frozenset[str]:
    """``nlp.stopwords()`` when the text pipeline provides it, else hazm's list (same normalizer)."""
    try:
        from nlp import stopwords  # type: ignore[attr-defined]

        return frozenset(stopwords()) | CONVERSATIONAL
    except ImportError:
        from hazm import stopwords_list

        words = set(stopwords_list())
        words |= {w.replace("_", " ") for w in words} | {w.replace("_", "\u200c") for w in words}
        return frozenset(words | CONVERSATIONAL)


def terms(text: str, stop: frozenset[str] | None = None) -> list[str]:
    """Unigrams and bigrams of a normalized text, without stopwords, placeholders or 1-letter tokens."""
    if stop is None:
        return list(_terms(text))
    return _split(text, stop)


@lru_cache(maxsize=50_000)
def _terms(text: str) -> tuple[str, ...]:
    # feedback repeats itself ("پیک دیر رسید"): the same text is tokenized once per process
    return tuple(_split(text, persian_stopwords()))


def _split(text: str, stop: frozenset[str]) -> list[str]:
    tokens = [t.strip("\u200c") for t in _TOKEN.findall(text)]
    tokens = [t for t in tokens if len(t) > 1]
    out = [t for t in tokens if t not in stop]
    out += [f"{a} {b}" for a, b in itertools.pairwise(tokens) if a not in stop and b not in stop]
    return out


def class_tfidf(classes: Mapping[str, Sequence[str]], top: int = 8) -> dict[str, list[tuple[str, float]]]:
    """c-TF-IDF key phrases per class: {class: [(phrase, weight), ...]} best first (ties by phrase)."""
    counts = {c: _term_counts(docs) for c, docs in classes.items()}
    total = Counter()
    for cnt in counts.values():
        total.update(cnt)
    if not total:
        return {c: [] for c in classes}
    avg_words = sum(sum(c.values()) for c in counts.values()) / max(len(counts), 1)
    out = {}
    for c, cnt in counts.items():
        words = sum(cnt.values()) or 1
        scored = [(t, (k / words) * math.log(1 + avg_words / total[t])) for t, k in cnt.items() if k >= 2 or len(cnt) < 20]
        # prefer a bigram over its own words when it is as strong (reads better as a phrase)
        scored.sort(key=lambda x: (-round(x[1], 9), -x[0].count(" "), x[0]))
        out[c] = [(t, round(w, 5)) for t, w in _dedupe(scored, top)]
    return out


def _term_counts(docs: Sequence[str]) -> Counter:
    """Term frequencies over ``docs``; each distinct text is tokenized once (feedback repeats itself)."""
    cnt: Counter = Counter()
    for doc, k in Counter(docs).items():
        for t in _terms(doc):
            cnt[t] += k
    return cnt


def _dedupe(scored: list[tuple[str, float]], top: int) -> list[tuple[str, float]]:
    kept: list[tuple[str, float]] = []
    shown: set[str] = set()
    for t, w in scored:
        if t in shown:
            continue  # a word already shown inside a kept bigram
        kept.append((t, w))
        if " " in t:
            shown.update(t.split(" "))
        if len(kept) == top:
            break
    return kept


def representatives(docs: Sequence[str], phrases: Sequence[tuple[str, float]], k: int = 3) -> list[str]:
    """The ``k`` texts that carry most of the class's key-phrase weight (distinct, readable length)."""
    weights = dict(phrases)
    scored = []
    # each distinct text once, at its first position: a repeat sorts right after it and would be skipped
    # as its own near-duplicate (feedback repeats itself, so this is most of the sample)
    first: dict[str, int] = {}
    for i, doc in enumerate(docs):
        first.setdefault(doc, i)
    for doc, i in first.items():
        ts = set(_terms(doc))
        if not ts:
            continue
        s = sum(map(weights.get, ts, itertools.repeat(0.0))) / math.sqrt(len(ts))
        length_ok = 15 <= len(doc) <= 280
        scored.append((not length_ok, -s, i, doc))
    scored.sort()
    out: list[str] = []
    seen: list[set[str]] = []
    for *_, doc in scored:
        ts = {t for t in terms(doc) if " " not in t}
        # skip near-duplicates of an example already chosen (same words, another opener)
        if any(len(ts & s) >= 0.7 * max(len(ts | s), 1) for s in seen):
            continue
        out.append(doc)
        seen.append(ts)
        if len(out) == k:
            break
    return out


def _filtered(q, sl: Slice, model):
    if sl.start is not None:
        q = q.where(model.day >= sl.start)
    if sl.end is not None:
        q = q.where(model.day <= sl.end)
    for k, values in sl.filters.items():
        col = getattr(model, k)
        vals = [v for v in values if v != NONE_GROUP]
        cond = col.in_(vals) if vals else None
        if NONE_GROUP in values:
            cond = col.is_(None) if cond is None else (cond | col.is_(None))
        q = q.where(cond)
    return q


def negative_texts(session: Session, sl: Slice, topic: str, limit: int) -> list[str]:
    """The most recent masked texts that mention ``topic`` negatively in the slice."""
    q = select(Feedback.text).join(TopicMention, TopicMention.feedback_id == Feedback.id)
    q = q.where(TopicMention.topic == topic, TopicMention.polarity == "neg")
    q = _filtered(q, sl, TopicMention).order_by(TopicMention.day.desc(), TopicMention.id.desc()).limit(limit)
    # plain strings: through the connection, without the ORM's per-row processing
    return list(session.connection().execute(q).scalars().all())  # .all(): one fetchall, not a fetchone a row


def window(session: Session, sl: Slice, days: int) -> tuple[date, date]:
    """The slice's window; a missing ``to`` is the last day with data, a missing ``from`` ``days`` before it."""
    end = sl.end
    if end is None:
        end = data_range(session)[1] or date.today()
    start = sl.start if sl.start is not None else end - timedelta(days=days - 1)
    return start, end


def previous_window(start: date, end: date) -> tuple[date, date]:
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def top_themes(
    session: Session,
    sl: Slice,
    min_n: int = 30,
    labels: Mapping[str, str] | None = None,
    limit: int = 10,
    sample: int = 300,
    examples: int = 3,
) -> dict:
    """Topics ranked by complaint volume x negativity (negative mentions x negative share)."""
    labels = labels or {}
    with fresh_rollups(session):
        start, end = window(session, sl, 30)
        cur = Slice(start, end, sl.filters)
        pstart, pend = previous_window(start, end)
        prev = Slice(pstart, pend, sl.filters)
        fs = next(iter(feedback_sums(session, cur).values()), None)
        fs_prev = next(iter(feedback_sums(session, prev).values()), None)
        by_topic = _topic_totals(topic_sums(session, cur))
        by_topic_prev = _topic_totals(topic_sums(session, prev))
    if fs is None:
        return {"from": str(start), "to": str(end), "previous": {"from": str(pstart), "to": str(pend)}, "themes": []}
    figs = {f["topic"]: f for f in topic_figures(fs, by_topic, min_n, labels)}
    rows = []
    for t, f in figs.items():
        neg, m = f["neg"], f["mentions"]
        if neg == 0:
            continue
        pp = by_topic_prev.get(t, {})
        prev_neg = int(pp.get("neg", {}).get("mentions", 0))
        n_prev = int(fs_prev["n_analyzed"]) if fs_prev else 0
        n_cur = int(fs["n_analyzed"])
        z, p = stats.two_proportion_z(neg, n_cur, prev_neg, n_prev)
        rows.append({
            "topic": t,
            "label_fa": f["label_fa"],
            "score": round(neg * neg / m, 2),
            "negative_mentions": neg,
            "mentions": m,
            "negative_share": f["negative_share"],
            "net_sentiment": f["net_sentiment"],
            "complaint_rate": stats.wilson(neg, n_cur, min_n).to_dict(),
            "change": {
                "previous_negative_mentions": prev_neg,
                "previous_complaint_rate": stats.wilson(prev_neg, n_prev, min_n).to_dict(),
                "delta_negative_mentions": neg - prev_neg,
                "delta_pct": None if prev_neg == 0 else round(100 * (neg - prev_neg) / prev_neg, 1),
                "z": round(z, 3),
                "p_value": round(p, 5),
            },
            "impact": f["impact"],
        })
    rows.sort(key=lambda r: (-r["score"], r["topic"]))
    rows = rows[:limit]
    texts = {r["topic"]: negative_texts(session, cur, r["topic"], sample) for r in rows}
    phrases = class_tfidf(texts)
    for r in rows:
        r["key_phrases"] = [p for p, _ in phrases.get(r["topic"], [])]
        r["examples"] = representatives(texts[r["topic"]], phrases.get(r["topic"], []), examples)
    return {"from": str(start), "to": str(end), "previous": {"from": str(pstart), "to": str(pend)}, "min_n": min_n, "themes": rows}


def abstained_texts(session: Session, sl: Slice, limit: int) -> list[tuple[int, str, date]]:
    q = select(Feedback.id, Feedback.text, Feedback.day).where(Feedback.abstained.is_(True))
    q = _filtered(q, sl, Feedback).order_by(Feedback.day.desc(), Feedback.id.desc()).limit(limit)
    rows = [(i, t, d if isinstance(d, date) else date.fromisoformat(d)) for i, t, d in session.execute(q)]
    # by content, not id: the clustering input must not depend on insertion or row order
    rows.sort(key=lambda r: (r[1], r[2], r[0]))
    return rows


def emerging_themes(
    session: Session, sl: Slice, sample: int = 2000, max_themes: int = 8, min_size: int = 5, examples: int = 3
) -> dict:
    """Cluster texts no topic claimed into candidate themes (deterministic: same data, same themes and ids).

    TF-IDF over unigrams+bigrams (Persian stopwords removed), k-means with a fixed seed, k chosen by
    silhouette; a theme's id is a hash of its key phrases, so it survives re-runs and new data that
    does not change what the theme is about.
    """
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import silhouette_score

    start, end = window(session, sl, 90)
    cur = Slice(start, end, sl.filters)
    rows = abstained_texts(session, cur, sample)
    head = {"from": str(start), "to": str(end), "abstained": len(rows), "clustered": 0, "themes": []}
    # a theme needs content: short verdicts ("خیلی بد بود", "ممنون") cluster by sentiment, not subject
    rows = [r for r in rows if sum(" " not in t for t in terms(r[1])) >= 3]
    docs = [t for _, t, _ in rows]
    if len(docs) < 2 * min_size:
        return head
    vec = TfidfVectorizer(analyzer=terms, min_df=2, sublinear_tf=True)
    try:
        X = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return head
    keep = np.asarray(X.getnnz(axis=1) > 0)
    idx = np.flatnonzero(keep)
    X = X[idx]
    if X.shape[0] < 2 * min_size:
        return head
    head["clustered"] = int(X.shape[0])
    best = None
    for k in range(2, min(max_themes, X.shape[0] // min_size) + 1):
        km = KMeans(n_clusters=k, random_state=0, n_init=3).fit(X)
        if len(set(km.labels_)) < 2:
            continue
        s = silhouette_score(X, km.labels_, metric="cosine", random_state=0, sample_size=min(1000, X.shape[0]))
        if best is None or s > best[0] + 1e-9:
            best = (s, km)
    if best is None:
        return head
    labels_ = best[1].labels_
    classes: dict[str, list[str]] = {}
    members: dict[str, list[int]] = {}
    for pos, lab in enumerate(labels_):
        classes.setdefault(str(lab), []).append(docs[idx[pos]])
        members.setdefault(str(lab), []).append(int(idx[pos]))
    phrases = class_tfidf(classes, top=6)
    themes = []
    for lab, texts in classes.items():
        if len(texts) < min_size or not phrases[lab]:
            continue
        kp = [p for p, _ in phrases[lab]]
        days = [rows[i][2] for i in members[lab]]
        themes.append({
            "id": "emg-" + hashlib.sha1("|".join(sorted(kp[:3])).encode("utf-8")).hexdigest()[:10],
            "size": len(texts),
            "share": round(100 * len(texts) / len(docs), 2),
            "key_phrases": kp,
            "examples": representatives(texts, phrases[lab], examples),
            "first_day": str(min(days)),
            "last_day": str(max(days)),
        })
    themes.sort(key=lambda t: (-t["size"], t["id"]))
    head["themes"] = themes
    return head
