"""Recurring and systemic complaints (ISO 10002 §8.4: classify and analyse to find recurring problems).

Each complaint is ``single``, ``recurring`` (its topic came up again and again for the same product or
segment within the window) or ``systemic`` (the same topic in several products/segments within the
window), with the ids of the complaints it is related to. Near-duplicate texts (cosine of hashed
character 3–4-gram vectors, no fitting: the same two texts always score the same) are related too,
and a complaint the model found no topic in borrows the topics of its near-duplicates.

``RecurrenceDetector`` is pure (streams of ``ComplaintItem``); ``apply_recurrence`` runs it at intake
against the complaints stored in the window and upgrades earlier members of a pattern as it grows.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models.triage import canonicalize
from store.schema import RECURRENCE, Feedback, TopicMention

_LEVEL = {name: i for i, name in enumerate(RECURRENCE)}  # single 0 < recurring 1 < systemic 2
GLOBAL_SCOPE = "*"  # records with neither product nor segment share one scope
N_FEATURES = 2**16  # hashed char n-gram space: short complaints have a few hundred n-grams


@dataclass(frozen=True, slots=True)
class ComplaintItem:
    id: int
    at: datetime
    topics: tuple[str, ...] = ()  # topics the complaint is about (negative mentions first choice)
    segment: str | None = None
    product: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class RecurrencePolicy:
    window_days: int = 30
    recurring_min: int = 3  # complaints (this one included) on one topic in one scope
    systemic_min_scopes: int = 3  # distinct products/segments with the topic
    scope_fields: tuple[str, ...] = ("product", "segment")  # the first one a record has is its scope
    duplicate_threshold: float = 0.8  # cosine of char n-gram vectors
    max_related: int = 50
    duplicate_candidates: int = 300  # near-duplicates are sought among the latest complaints of the window


@dataclass(slots=True)
class RecurrenceResult:
    recurrence: str = "single"
    related_ids: list[int] = field(default_factory=list)
    duplicate_ids: list[int] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # topics that made it recurring/systemic
    item_topics: list[str] = field(default_factory=list)  # its own topics, or its near-duplicates'

    def to_dict(self) -> dict:
        return {
            "recurrence": self.recurrence,
            "related_ids": list(self.related_ids),
            "duplicate_ids": list(self.duplicate_ids),
            "topics": list(self.topics),
            "item_topics": list(self.item_topics),
        }


def level(recurrence: str | None) -> int:
    return _LEVEL.get(recurrence or "single", 0)


class RecurrenceDetector:
    """Classifies a complaint against the earlier complaints of its window."""

    def __init__(self, policy: RecurrencePolicy | None = None) -> None:
        self.policy = policy or RecurrencePolicy()
        self._vectorizer = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 4), n_features=N_FEATURES, alternate_sign=False, norm="l2"
        )
        # (id, text) → (indices, values) of its vector: each text vectorized once per detector
        self._cache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    def scope_of(self, item: ComplaintItem) -> str:
        for name in self.policy.scope_fields:
            value = getattr(item, name, None)
            if value:
                return f"{name}:{value}"
        return GLOBAL_SCOPE

    def vectors(self, texts: Sequence[str]):
        return self._vectorizer.transform([canonicalize(t) for t in texts])

    def similarities(self, text: str, others: Sequence[str]) -> np.ndarray:
        """Cosine similarity of ``text`` to each of ``others`` (0..1)."""
        if not others:
            return np.zeros(0)
        m = self.vectors([text, *others])
        return np.asarray((m[1:] @ m[0].T).toarray()).ravel()

    def prime(self, items: Iterable[ComplaintItem]) -> None:
        """Vectorize every uncached text in one call (per-text calls cost ~100x more in overhead)."""
        todo = {(i.id, i.text): i.text for i in items if i.text and (i.id, i.text) not in self._cache}
        if not todo:
            return
        m = self.vectors(list(todo.values())).tocsr()
        for r, key in enumerate(todo):
            lo, hi = m.indptr[r], m.indptr[r + 1]
            self._cache[key] = (m.indices[lo:hi].copy(), m.data[lo:hi].copy())

    def vector_of(self, item: ComplaintItem) -> tuple[np.ndarray, np.ndarray]:
        key = (item.id, item.text)
        vec = self._cache.get(key)
        if vec is None:
            row = self.vectors([item.text])
            vec = self._cache[key] = (row.indices.copy(), row.data.copy())
        return vec

    def near_duplicates(self, item: ComplaintItem, history: Sequence[ComplaintItem]) -> list[int]:
        """Ids among the latest ``duplicate_candidates`` of ``history`` whose text is a near-duplicate."""
        cands = [h for h in history if h.id != item.id and h.text][-self.policy.duplicate_candidates :]
        if not item.text or not cands:
            return []
        # stack the cached rows into one CSR matrix by hand (far cheaper than sparse.vstack per item)
        rows = [self.vector_of(h) for h in cands]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(ix) for ix, _ in rows], out=indptr[1:])
        others = sparse.csr_matrix(
            (np.concatenate([v for _, v in rows]), np.concatenate([ix for ix, _ in rows]), indptr),
            shape=(len(rows), N_FEATURES),
        )
        idx, val = self.vector_of(item)
        dense = np.zeros(N_FEATURES)
        dense[idx] = val
        sims = others @ dense
        return [h.id for h, s in zip(cands, sims, strict=True) if s >= self.policy.duplicate_threshold]

    def window_slice(self, item: ComplaintItem, history: Sequence[ComplaintItem], times: Sequence[datetime]) -> Sequence[ComplaintItem]:
        """The part of a time-sorted ``history`` (``times`` its timestamps) inside ``item``'s window."""
        lo = bisect.bisect_left(times, item.at - timedelta(days=self.policy.window_days))
        hi = bisect.bisect_right(times, item.at)
        return history[lo:hi]

    def in_window(self, item: ComplaintItem, history: Iterable[ComplaintItem]) -> list[ComplaintItem]:
        start = item.at - timedelta(days=self.policy.window_days)
        return [h for h in history if h.id != item.id and start <= h.at <= item.at]

    def classify(self, item: ComplaintItem, history: Sequence[ComplaintItem]) -> RecurrenceResult:
        """``item`` against the complaints before it (those outside the window are ignored)."""
        window = self.in_window(item, history)
        dups = self.near_duplicates(item, window)
        by_id = {h.id: h for h in window}
        topics = list(item.topics) or sorted({t for d in dups for t in by_id[d].topics})
        scope = self.scope_of(item)
        result = RecurrenceResult(duplicate_ids=sorted(dups), item_topics=list(topics))
        related: set[int] = set(dups)
        for topic in topics:
            same_topic = [h for h in window if topic in h.topics]
            scopes = {self.scope_of(h) for h in same_topic} | {scope}
            scopes.discard(GLOBAL_SCOPE)
            same_scope = [h for h in same_topic if self.scope_of(h) == scope]
            if len(scopes) >= self.policy.systemic_min_scopes:
                found, members = "systemic", same_topic
            elif len(same_scope) + 1 >= self.policy.recurring_min:
                found, members = "recurring", same_scope
            else:
                continue
            if level(found) > level(result.recurrence):
                result.recurrence, result.topics = found, [topic]
            elif found == result.recurrence:
                result.topics.append(topic)
            related.update(h.id for h in members)
        result.related_ids = sorted(related, key=lambda i: (-by_id[i].at.timestamp(), -i))[: self.policy.max_related]
        result.related_ids.sort()
        return result

    def classify_stream(self, items: Sequence[ComplaintItem], propagate: bool = True) -> dict[int, RecurrenceResult]:
        """Every item against the ones before it, in time order (as intake sees them).

        With ``propagate``, a complaint that turns a pattern recurring/systemic lifts the earlier
        complaints it is related to to the same level and links them back.
        """
        ordered = sorted(items, key=lambda i: (i.at, i.id))
        self.prime(ordered)
        results: dict[int, RecurrenceResult] = {}
        seen: list[ComplaintItem] = []
        times: list[datetime] = []
        for item in ordered:
            res = self.classify(item, self.window_slice(item, seen, times))
            results[item.id] = res
            if propagate:
                for rid in res.related_ids:
                    lift(results[rid], res.recurrence, item.id, res.topics, self.policy.max_related)
            # near-duplicates borrow topics so later records can match them
            if not item.topics and res.item_topics:
                item = replace(item, topics=tuple(res.item_topics))
            seen.append(item)
            times.append(item.at)
        return results

    def duplicate_groups(self, items: Sequence[ComplaintItem]) -> list[list[int]]:
        """Connected groups (size ≥ 2) of near-duplicate texts, each sorted, groups by first id."""
        items = [i for i in items if i.text]
        if len(items) < 2:
            return []
        m = self.vectors([i.text for i in items])
        sims = (m @ m.T).toarray()
        parent = list(range(len(items)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        rows, cols = np.nonzero(np.triu(sims, k=1) >= self.policy.duplicate_threshold)
        for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
            parent[find(a)] = find(b)
        groups: dict[int, list[int]] = {}
        for idx, it in enumerate(items):
            groups.setdefault(find(idx), []).append(it.id)
        return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def lift(result: RecurrenceResult, to: str, new_id: int, topics: Sequence[str], max_related: int = 50) -> None:
    """Raise ``result`` to at least ``to`` and link ``new_id`` (an earlier member of a growing pattern)."""
    if level(to) > level(result.recurrence):
        result.recurrence = to
        result.topics = list(topics)
    if new_id not in result.related_ids and len(result.related_ids) < max_related:
        result.related_ids = sorted([*result.related_ids, new_id])


# --- stored complaints ---------------------------------------------------------------------------


def complaint_topics(mentions: Sequence[TopicMention]) -> tuple[str, ...]:
    """Topics a complaint is about: its negative mentions, or every mention if none is negative."""
    neg = sorted({m.topic for m in mentions if m.polarity == "neg"})
    return tuple(neg or sorted({m.topic for m in mentions}))


def item_of(fb: Feedback, mentions: Sequence[TopicMention] | None = None) -> ComplaintItem:
    ms = fb.topics if mentions is None else mentions
    return ComplaintItem(
        id=fb.id, at=fb.created_at, topics=complaint_topics(ms), segment=fb.segment, product=fb.product, text=fb.text or ""
    )


def load_window(session: Session, start: datetime, end: datetime, exclude: Iterable[int] = ()) -> list[Feedback]:
    """Triaged records (priority set: complaints and negative comments) filed in [start, end]."""
    q = (
        select(Feedback)
        .where(Feedback.priority.is_not(None), Feedback.created_at >= start, Feedback.created_at <= end)
        .options(selectinload(Feedback.topics))  # item_of reads them: one query, not one per record
    )
    excluded = set(exclude)
    return [fb for fb in session.scalars(q) if fb.id not in excluded]


def apply_recurrence(session: Session, records: Sequence[Feedback], policy: RecurrencePolicy | None = None) -> dict[int, RecurrenceResult]:
    """Classify newly stored complaints against the stored window and write recurrence + related ids.

    ``records`` must be flushed (ids assigned). The window holds the triaged records (priority set).
    Earlier complaints of a pattern that grows are lifted to its level and linked to the new one.
    """
    if not records:
        return {}
    detector = RecurrenceDetector(policy)
    window = timedelta(days=detector.policy.window_days)
    new_ids = {fb.id for fb in records}
    start = min(fb.created_at for fb in records) - window
    end = max(fb.created_at for fb in records)
    stored = load_window(session, start, end, exclude=new_ids)
    by_id: dict[int, Feedback] = {fb.id: fb for fb in stored}
    by_id.update({fb.id: fb for fb in records})
    history = sorted((item_of(fb) for fb in stored), key=lambda i: (i.at, i.id))
    times = [h.at for h in history]
    detector.prime([*history, *(item_of(fb) for fb in records)])
    out: dict[int, RecurrenceResult] = {}
    for fb in sorted(records, key=lambda f: (f.created_at, f.id)):
        item = item_of(fb)
        res = detector.classify(item, detector.window_slice(item, history, times))
        out[fb.id] = res
        fb.recurrence = res.recurrence
        fb.related_ids = list(res.related_ids)
        for rid in res.related_ids:
            other = by_id.get(rid)
            if other is None:
                continue
            current = RecurrenceResult(other.recurrence or "single", list(other.related_ids or []))
            lift(current, res.recurrence, fb.id, res.topics, detector.policy.max_related)
            other.recurrence = current.recurrence
            other.related_ids = current.related_ids
        if not item.topics and res.item_topics:
            item = replace(item, topics=tuple(res.item_topics))
        # stored complaints may be newer than this one: insert in time order for the window bisect
        pos = bisect.bisect_right(times, item.at)
        history.insert(pos, item)
        times.insert(pos, item.at)
    session.flush()
    return out


__all__ = [
    "GLOBAL_SCOPE",
    "ComplaintItem",
    "RecurrenceDetector",
    "RecurrencePolicy",
    "RecurrenceResult",
    "apply_recurrence",
    "complaint_topics",
    "item_of",
    "level",
    "lift",
    "load_window",
]
