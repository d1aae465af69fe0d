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
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sqlalchemy import Select, String, and_, bindparam, case, cast, exists, func, literal, or_, select, text
from sqlalchemy.orm import Session, aliased, selectinload

from models.triage import canonicalize
from store.schema import RECURRENCE, SCOPED_RECORDS, Feedback, TopicMention
from store.window_cache import Entry, WindowCache, window_cache

_LEVEL = {name: i for i, name in enumerate(RECURRENCE)}  # single 0 < recurring 1 < systemic 2
GLOBAL_SCOPE = "*"  # records with neither product nor segment share one scope
N_FEATURES = 2**16  # hashed char n-gram space: short complaints have a few hundred n-grams
VECTOR_CACHE_SIZE = 10_000  # texts (~2 KB each) whose vectors the process keeps between detectors
_VECTORS: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()  # text → (indices, values), LRU
_VECTOR_LOCK = threading.Lock()  # ingestion runs in the API's worker threads


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


def _scope_of(policy: RecurrencePolicy, item: ComplaintItem) -> str:
    for name in policy.scope_fields:
        value = getattr(item, name, None)
        if value:
            return f"{name}:{value}"
    return GLOBAL_SCOPE


class RecurrenceDetector:
    """Classifies a complaint against the earlier complaints of its window."""

    def __init__(self, policy: RecurrencePolicy | None = None) -> None:
        self.policy = policy or RecurrencePolicy()
        self._vectorizer = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 4), n_features=N_FEATURES, alternate_sign=False, norm="l2"
        )
        # (id, text) → row of its vector in ``matrix()``: each text vectorized once per detector
        self._rows: dict[tuple[int, str], int] = {}
        self._blocks: list[sparse.csr_matrix] = []  # one per ``prime`` call, stacked on demand
        self._n = 0
        # similarity rows of the items about to be classified, one sparse product per chunk of them
        self._plan: dict[tuple[int, str], int] = {}
        self._plan_items: list[ComplaintItem] = []
        self._chunk: tuple[int, int, np.ndarray | None] = (-1, 0, None)  # (chunk number, columns, rows)
        self._dense = np.zeros(N_FEATURES)  # scratch for the query vector of ``duplicates_among``

    def scope_of(self, item: ComplaintItem) -> str:
        return _scope_of(self.policy, item)

    def vectors(self, texts: Sequence[str]):
        return self._vectorizer.transform([canonicalize(t) for t in texts])

    def similarities(self, text: str, others: Sequence[str]) -> np.ndarray:
        """Cosine similarity of ``text`` to each of ``others`` (0..1)."""
        if not others:
            return np.zeros(0)
        m = self.vectors([text, *others])
        return np.asarray((m[1:] @ m[0].T).toarray()).ravel()

    def cached_vectors(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(indices, values) of each text's vector, through the process's bounded text → vector cache
        (the uncached ones vectorized in one call and kept)."""
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        with _VECTOR_LOCK:
            for t in texts:
                vec = _VECTORS.get(t)
                if vec is not None:
                    _VECTORS.move_to_end(t)
                    found[t] = vec
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            m = self.vectors(missing).tocsr()
            fresh = {t: (m.indices[m.indptr[r] : m.indptr[r + 1]].copy(), m.data[m.indptr[r] : m.indptr[r + 1]].copy())
                     for r, t in enumerate(missing)}
            found.update(fresh)
            with _VECTOR_LOCK:
                _VECTORS.update(fresh)
                while len(_VECTORS) > VECTOR_CACHE_SIZE:
                    _VECTORS.popitem(last=False)
        return [found[t] for t in texts]

    def prime(self, items: Iterable[ComplaintItem]) -> None:
        """Vectorize every uncached text in one call (per-text calls cost ~100x more in overhead).

        Texts vectorized by earlier detectors of this process come from a bounded cache: at intake
        the stored complaints of the window were the new ones of earlier batches.
        """
        todo = {(i.id, i.text): i.text for i in items if i.text and (i.id, i.text) not in self._rows}
        if not todo:
            return
        block = stack_rows(self.cached_vectors(list(todo.values())))
        self._blocks.append(block)
        for r, key in enumerate(todo, start=self._n):
            self._rows[key] = r
        self._n += len(todo)

    def matrix(self) -> sparse.csr_matrix:
        """Every vectorized text, one row each (see ``row_of``)."""
        if len(self._blocks) > 1:
            self._blocks = [sparse.vstack(self._blocks, format="csr")]
        return self._blocks[0] if self._blocks else sparse.csr_matrix((0, N_FEATURES))

    def row_of(self, item: ComplaintItem) -> int:
        """Row of the item's text in ``matrix()`` (vectorized now if it was not primed)."""
        key = (item.id, item.text)
        if key not in self._rows:
            self.prime([item])
        return self._rows[key]

    def known_row(self, item: ComplaintItem) -> int:
        """``row_of`` if the text was primed, else -1 (nothing is vectorized)."""
        return self._rows.get((item.id, item.text), -1)

    def vector_of(self, item: ComplaintItem) -> tuple[np.ndarray, np.ndarray]:
        """(indices, values) of the text's l2-normalized hashed n-gram vector."""
        r = self.row_of(item)
        m = self.matrix()
        lo, hi = m.indptr[r], m.indptr[r + 1]
        return m.indices[lo:hi], m.data[lo:hi]

    def near_duplicates(self, item: ComplaintItem, history: Sequence[ComplaintItem]) -> list[int]:
        """Ids among the latest ``duplicate_candidates`` of ``history`` whose text is a near-duplicate."""
        cands = [h for h in history if h.id != item.id and h.text][-self.policy.duplicate_candidates :]
        return self.duplicates_among(item, cands)

    SIM_CHUNK = 256  # planned items per sparse product (a chunk holds 256 x primed rows floats)
    # A chunk's product costs ~0.1 us per (item, primed text) against ~0.4 ms per item for its 300
    # candidates alone: planning pays below ~7,000 primed texts (a batch of 1,000: ~1,300).
    PLAN_MAX_ROWS = 4000

    def plan(self, items: Sequence[ComplaintItem]) -> None:
        """Items about to be classified, in that order (primed): their similarities to every primed text
        are then computed a chunk of items at a time, one sparse product each, instead of one product
        per item (the same sums in the same order, so the same floats). No-op for large matrices."""
        todo = [i for i in items if i.text] if self._n <= self.PLAN_MAX_ROWS else []
        self._plan_items = todo
        self._plan = {(i.id, i.text): k for k, i in enumerate(todo)}
        self._chunk = (-1, 0, None)

    def _planned_sims(self, item: ComplaintItem) -> tuple[np.ndarray, int] | None:
        """(similarities of ``item`` to the first n rows of ``matrix()``, n), if the item was planned."""
        k = self._plan.get((item.id, item.text))
        if k is None:
            return None
        size = self.SIM_CHUNK
        c = k // size
        if self._chunk[0] != c:
            m = self.matrix()
            q = [self.row_of(i) for i in self._plan_items[c * size : (c + 1) * size]]
            self._chunk = (c, m.shape[0], (m[q] @ m.T).toarray())
        _, n, sims = self._chunk
        return sims[k - c * size], n  # type: ignore[index]

    def duplicates_among(self, item: ComplaintItem, cands: Sequence[ComplaintItem],
                         rows: Sequence[int] | None = None) -> list[int]:
        """Ids of ``cands`` (all with text; ``rows`` their ``row_of``) whose text is a near-duplicate of ``item``'s."""
        if not item.text or not cands:
            return []
        if rows is None:
            self.prime([item, *cands])
            rows = [self._rows[(h.id, h.text)] for h in cands]
        planned = self._planned_sims(item)
        if planned is not None and max(rows) < planned[1]:
            sims = planned[0][rows]
        else:
            idx, val = self.vector_of(item)
            dense = self._dense
            dense[idx] = val
            try:  # the candidate rows picked in C (stacking cached rows in Python cost ~10x more)
                sims = self.matrix()[rows] @ dense
            finally:
                dense[idx] = 0.0
        return [cands[k].id for k in np.flatnonzero(sims >= self.policy.duplicate_threshold).tolist()]

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
        self.plan(ordered)
        results: dict[int, RecurrenceResult] = {}
        seen = HistoryIndex(self)
        for item in ordered:
            res = seen.classify(item)
            results[item.id] = res
            if propagate:
                for rid in res.related_ids:
                    lift(results[rid], res.recurrence, item.id, res.topics, self.policy.max_related)
            seen.add(with_borrowed_topics(item, res))
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


def stack_rows(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> sparse.csr_matrix:
    """One CSR matrix of (indices, values) rows."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(ix) for ix, _ in rows], out=indptr[1:])
    return sparse.csr_matrix(
        (np.concatenate([v for _, v in rows]), np.concatenate([ix for ix, _ in rows]), indptr),
        shape=(len(rows), N_FEATURES),
    )


def with_borrowed_topics(item: ComplaintItem, res: RecurrenceResult) -> ComplaintItem:
    """A complaint without topics borrows its near-duplicates' ones, so later records can match it."""
    if not item.topics and res.item_topics:
        return replace(item, topics=tuple(res.item_topics))
    return item


class _Timeline:
    """Items sorted by (at, id): the part inside a time window is two bisects away."""

    __slots__ = ("items", "keys")

    def __init__(self) -> None:
        self.keys: list[tuple[datetime, int]] = []
        self.items: list[ComplaintItem] = []

    def add(self, item: ComplaintItem) -> None:
        key = (item.at, item.id)
        pos = bisect.bisect_right(self.keys, key)
        self.keys.insert(pos, key)
        self.items.insert(pos, item)

    def append(self, item: ComplaintItem) -> None:
        """``add`` of an item that sorts after every one already here."""
        self.keys.append((item.at, item.id))
        self.items.append(item)

    def span(self, start: datetime, end: datetime) -> tuple[int, int]:
        """[lo, hi) of the items with start <= at <= end."""
        return bisect.bisect_left(self.keys, (start,)), bisect.bisect_right(self.keys, (end, math.inf))


class HistoryIndex:
    """Earlier complaints indexed by time, topic and (topic, scope), in (at, id) order.

    ``classify(item)`` answers exactly what ``RecurrenceDetector.classify(item, window)`` answers for the
    items inside ``item``'s window, without scanning the window: counts and the most recent members
    come from bisects, the distinct scopes of a topic from its latest members (or per scope). Item ids
    must be unique.
    """

    SCOPE_SCAN = 64  # latest members of a topic scanned for distinct scopes before asking each scope

    def __init__(self, detector: RecurrenceDetector, items: Iterable[ComplaintItem] = ()) -> None:
        self.detector = detector
        self.items: list[ComplaintItem] = []  # (at, id) order
        self.times: list[datetime] = []
        # the items with text, in the same order, and their rows in ``detector.matrix()``
        self.text_items: list[ComplaintItem] = []
        self.text_times: list[datetime] = []
        self.text_rows: list[int] = []
        self.by_id: dict[int, ComplaintItem] = {}
        self.stamp: dict[int, float] = {}  # id → at.timestamp(), the recency key of related ids
        self.scope: dict[int, str] = {}
        self.topic: dict[str, _Timeline] = {}
        self.topic_scope: dict[str, dict[str, _Timeline]] = {}
        self._fill(sorted(items, key=lambda i: (i.at, i.id)))

    def _fill(self, ordered: list[ComplaintItem]) -> None:
        """``add`` of each of ``ordered`` (sorted by (at, id)) into the empty index, by appends: every
        insert would land at the end, and the bisects cost most of ``add`` (intake builds an index of
        hundreds of stored complaints per request)."""
        det = self.detector
        self.items = list(ordered)
        self.times = [i.at for i in ordered]
        self.text_items = [i for i in ordered if i.text]
        self.text_times = [i.at for i in self.text_items]
        self.text_rows = [det.known_row(i) for i in self.text_items]
        for item in ordered:
            self.by_id[item.id] = item
            self.stamp[item.id] = item.at.timestamp()
            scope = self.scope[item.id] = det.scope_of(item)
            for topic in set(item.topics):
                self.topic.setdefault(topic, _Timeline()).append(item)
                self.topic_scope.setdefault(topic, {}).setdefault(scope, _Timeline()).append(item)

    @staticmethod
    def _slot(times: list[datetime], items: list[ComplaintItem], item: ComplaintItem) -> int:
        """Where ``item`` goes in (at, id) order: after the others of its time unless their ids are larger
        (items added in time order, as a batch's are, go after every tie)."""
        pos = bisect.bisect_right(times, item.at)
        while pos > 0 and times[pos - 1] == item.at and items[pos - 1].id > item.id:
            pos -= 1
        return pos

    def add(self, item: ComplaintItem) -> None:
        pos = self._slot(self.times, self.items, item)
        self.items.insert(pos, item)
        self.times.insert(pos, item.at)
        if item.text:
            pos = self._slot(self.text_times, self.text_items, item)
            self.text_items.insert(pos, item)
            self.text_times.insert(pos, item.at)
            self.text_rows.insert(pos, self.detector.known_row(item))
        self.by_id[item.id] = item
        self.stamp[item.id] = item.at.timestamp()
        scope = self.scope[item.id] = self.detector.scope_of(item)
        for topic in set(item.topics):
            self.topic.setdefault(topic, _Timeline()).add(item)
            self.topic_scope.setdefault(topic, {}).setdefault(scope, _Timeline()).add(item)

    def candidates(self, start: datetime, end: datetime) -> tuple[int, int]:
        """[lo, hi) in ``text_items`` of the latest ``duplicate_candidates`` texts filed in [start, end]."""
        lo = bisect.bisect_left(self.text_times, start)
        hi = bisect.bisect_right(self.text_times, end)
        limit = self.detector.policy.duplicate_candidates
        return (max(lo, hi - limit) if limit > 0 else lo), hi  # like [-limit:], which keeps all for 0

    def candidate_rows(self, lo: int, hi: int) -> list[int]:
        """``text_rows[lo:hi]``, vectorizing (in one call) the texts that were not primed."""
        rows = self.text_rows[lo:hi]
        if -1 in rows:
            missing = [k for k in range(lo, hi) if self.text_rows[k] < 0]
            self.detector.prime([self.text_items[k] for k in missing])
            for k in missing:
                self.text_rows[k] = self.detector.row_of(self.text_items[k])
            rows = self.text_rows[lo:hi]
        return rows

    def _enough_scopes(self, topic: str, start: datetime, end: datetime, own: str, need: int) -> bool:
        """Whether ``need`` distinct scopes (neither global nor ``own``) have the topic in [start, end]."""
        if need <= 0:
            return True
        line = self.topic.get(topic)
        if line is None:
            return False
        lo, hi = line.span(start, end)
        found: set[str] = set()
        for j in range(hi - 1, max(lo, hi - self.SCOPE_SCAN) - 1, -1):
            s = self.scope[line.items[j].id]
            if s != GLOBAL_SCOPE and s != own:
                found.add(s)
                if len(found) >= need:
                    return True
        if hi - lo <= self.SCOPE_SCAN:
            return False
        count = 0
        for s, sline in self.topic_scope[topic].items():
            if s != GLOBAL_SCOPE and s != own:
                a, b = sline.span(start, end)
                count += a < b
                if count >= need:
                    return True
        return False

    def classify(self, item: ComplaintItem) -> RecurrenceResult:
        det = self.detector
        policy = det.policy
        start = item.at - timedelta(days=policy.window_days)
        lo, hi = self.candidates(start, item.at)
        dups = det.duplicates_among(item, self.text_items[lo:hi], self.candidate_rows(lo, hi))
        topics = list(item.topics) or sorted({t for d in dups for t in self.by_id[d].topics})
        scope = det.scope_of(item)
        result = RecurrenceResult(duplicate_ids=sorted(dups), item_topics=list(topics))
        related: set[int] = set(dups)
        need = policy.systemic_min_scopes - (scope != GLOBAL_SCOPE)
        for topic in topics:
            if self._enough_scopes(topic, start, item.at, scope, need):
                found, line = "systemic", self.topic.get(topic)
            else:
                line = self.topic_scope.get(topic, {}).get(scope)
                lo, hi = line.span(start, item.at) if line is not None else (0, 0)
                if hi - lo + 1 < policy.recurring_min:
                    continue
                found = "recurring"
            if level(found) > level(result.recurrence):
                result.recurrence, result.topics = found, [topic]
            elif found == result.recurrence:
                result.topics.append(topic)
            if line is not None:  # only the most recent members can make the cut below
                lo, hi = line.span(start, item.at)
                related.update(h.id for h in line.items[max(lo, hi - policy.max_related) : hi])
        stamp = self.stamp
        result.related_ids = sorted(related, key=lambda i: (-stamp[i], -i))[: policy.max_related]
        result.related_ids.sort()
        return result


def lift(result: RecurrenceResult, to: str, new_id: int, topics: Sequence[str], max_related: int = 50) -> None:
    """Raise ``result`` to at least ``to`` and link ``new_id`` (an earlier member of a growing pattern)."""
    if level(to) > level(result.recurrence):
        result.recurrence = to
        result.topics = list(topics)
    if new_id not in result.related_ids and len(result.related_ids) < max_related:
        result.related_ids = sorted([*result.related_ids, new_id])


# --- stored complaints ---------------------------------------------------------------------------


def topics_of(mentions: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """(topic, polarity) pairs → the topics a complaint is about: the negative ones, or all if none is."""
    ms = list(mentions)
    neg = sorted({t for t, p in ms if p == "neg"})
    return tuple(neg or sorted({t for t, _ in ms}))


def complaint_topics(mentions: Sequence[TopicMention]) -> tuple[str, ...]:
    """Topics a complaint is about: its negative mentions, or every mention if none is negative."""
    return topics_of((m.topic, m.polarity) for m in mentions)


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


@dataclass(slots=True)
class WindowRecord:
    """A triaged record of the window with what intake reads of it (plain row, no ORM object)."""

    id: int
    created_at: datetime
    segment: str | None
    product: str | None
    text: str
    meta: dict | None = None
    topics: tuple[str, ...] = ()

    def item(self) -> ComplaintItem:
        return ComplaintItem(self.id, self.created_at, self.topics, self.segment, self.product, self.text)


def load_window_records(
    session: Session, start: datetime, end: datetime, exclude: Iterable[int] = (), with_meta: bool = False
) -> list[WindowRecord]:
    """``load_window`` as plain rows: two queries (records, their topic mentions), no ORM objects."""
    conds = (Feedback.priority.is_not(None), Feedback.created_at >= start, Feedback.created_at <= end)
    cols = [Feedback.id, Feedback.created_at, Feedback.segment, Feedback.product, Feedback.text]
    excluded = set(exclude)
    rows: dict[int, WindowRecord] = {}
    for r in session.execute(select(*cols, *([Feedback.meta] if with_meta else [])).where(*conds)):
        if r[0] not in excluded:
            rows[r[0]] = WindowRecord(r[0], r[1], r[2], r[3], r[4] or "", r[5] if with_meta else None)
    mentions: dict[int, list[tuple[str, str]]] = {}
    q = (
        select(TopicMention.feedback_id, TopicMention.topic, TopicMention.polarity)
        .join(Feedback, Feedback.id == TopicMention.feedback_id)
        .where(*conds)
    )
    for fid, topic, polarity in session.execute(q):
        if fid in rows:
            mentions.setdefault(fid, []).append((topic, polarity))
    for fid, ms in mentions.items():
        rows[fid].topics = topics_of(ms)
    return list(rows.values())


def attach_topics(session: Session, rows: dict[int, WindowRecord]) -> None:
    ids = sorted(rows)
    mentions: dict[int, list[tuple[str, str]]] = {}
    for i in range(0, len(ids), 900):
        q = select(TopicMention.feedback_id, TopicMention.topic, TopicMention.polarity).where(
            TopicMention.feedback_id.in_(ids[i : i + 900]))
        for fid, topic, polarity in session.execute(q):
            mentions.setdefault(fid, []).append((topic, polarity))
    for fid, ms in mentions.items():
        rows[fid].topics = topics_of(ms)


def _scope_sql(policy: RecurrencePolicy):
    """``_scope_of`` as a SQL expression: ``'<field>:<value>'`` of the first scope field set (not empty), else ``*``."""
    cols = [(name, getattr(Feedback, name)) for name in policy.scope_fields]
    whens = [(and_(col.is_not(None), col != ""), literal(f"{name}:", String) + col) for name, col in cols]
    return case(*whens, else_=literal(GLOBAL_SCOPE, String)) if whens else literal(GLOBAL_SCOPE, String)


def _scoped(scope_fields: tuple[str, ...]) -> tuple:
    """``SCOPED_RECORDS`` as a condition, when a scope other than the global one implies it: the partial
    index then holds the records of the window that can have one (none, on data without products or
    segments), instead of a walk over every record of the window."""
    if not set(scope_fields) <= {"product", "segment"}:
        return ()
    return (text(f"({SCOPED_RECORDS})"),)  # parenthesized: it is an OR among ANDs


# A topic with at most this many mentions on the window's days has its members found from those mentions
# (an index range on topic and day, then the records by id) rather than by walking the window's records
# newest first until enough of them mention it: that walk reads ~64 / (the topic's share of the window)
# records, ~3 ms for a rare topic of a window of 3,000 records, against ~1-2 us per mention the other way.
SPARSE_TOPIC = 500


@lru_cache(maxsize=8)
def _topic_members(scope_fields: tuple[str, ...]):
    """The three queries that pick, newest first, the members of a topic that decide one intake (see
    ``_pick_members``), for a topic mentioned often (``[False]``) and for a sparse one (``[True]``, the
    same rows among the records that mention it on days ``d0``..``d1``), and the bounded count of those
    mentions that chooses. Members are the triaged records of the window whose complaint topics
    (``topics_of``: the negative mentions, or all when none is negative) include the topic. Built once per
    scope fields (with bind parameters): constructing them costs more than running them."""
    m, n = aliased(TopicMention), aliased(TopicMention)
    member = exists().where(
        m.feedback_id == Feedback.id, m.topic == bindparam("topic"),
        or_(m.polarity == "neg", ~exists().where(n.feedback_id == m.feedback_id, n.polarity == "neg")))
    mentioned = select(TopicMention.feedback_id).where(
        TopicMention.topic == bindparam("topic"), TopicMention.day >= bindparam("d0"), TopicMention.day <= bindparam("d1"))
    count = select(func.count()).select_from(mentioned.limit(bindparam("m")).subquery())
    scope = _scope_sql(RecurrencePolicy(scope_fields=scope_fields))
    newest = (Feedback.created_at.desc(), Feedback.id.desc())
    cols = (Feedback.id, Feedback.created_at, Feedback.segment, Feedback.product)

    def queries(*among):
        window = (Feedback.priority.is_not(None), Feedback.created_at >= bindparam("start"),
                  Feedback.created_at <= bindparam("end"), Feedback.id != bindparam("item_id"), member, *among)
        # the created_at index, walked newest first, gives the order: each query stops after its LIMIT
        latest = select(*cols).where(*window).order_by(*newest).limit(bindparam("n"))
        own = select(*cols).where(*window, scope == bindparam("own")).order_by(*newest).limit(bindparam("n"))
        ranked = (
            select(*cols, func.row_number().over(partition_by=scope, order_by=newest).label("k"))
            .where(*window, scope.not_in([bindparam("own"), literal(GLOBAL_SCOPE, String)]), *_scoped(scope_fields))
            .subquery()
        )
        scopes = select(ranked.c.id, ranked.c.created_at, ranked.c.segment, ranked.c.product).where(ranked.c.k == 1)
        return latest, own, scopes

    return {False: queries(), True: queries(Feedback.id.in_(mentioned))}, count


def _pick_members(session: Session, policy: RecurrencePolicy, item: ComplaintItem, topic: str,
                  start: datetime) -> list:
    """The members of ``topic`` before ``item`` that its intake reads (what ``HistoryIndex.classify`` looks
    at for the topic): the latest ``line_n``; the latest ``own_n`` of its own scope; and, unless the
    latest already show enough other scopes for a systemic pattern, the latest of every other scope.
    Each query asks only when the one before cannot answer for it (fewer rows than asked for: that was
    every member)."""
    by_density, count_q = _topic_members(policy.scope_fields)
    own = _scope_of(policy, item)
    line_n = max(HistoryIndex.SCOPE_SCAN, policy.max_related)
    own_n = max(policy.max_related, policy.recurring_min)
    need = policy.systemic_min_scopes - (own != GLOBAL_SCOPE)
    # store-local days (``day``) are within a day of the UTC dates of the window's ends
    days = {"topic": topic, "d0": start.date() - timedelta(days=1), "d1": item.at.date() + timedelta(days=1)}
    sparse_topic = session.execute(count_q, {**days, "m": SPARSE_TOPIC + 1}).scalar_one() <= SPARSE_TOPIC
    latest_q, own_q, scopes_q = by_density[sparse_topic]
    params = {**days, "start": start, "end": item.at, "item_id": item.id, "own": own}
    rows = list(session.execute(latest_q, {**params, "n": line_n}))
    if len(rows) < line_n:
        return rows  # every member
    scopes = [_scope_of(policy, r) for r in rows]  # the row has .segment and .product, as an item does
    if sum(s == own for s in scopes) < own_n:
        rows += session.execute(own_q, {**params, "n": own_n})
    if need > 0 and len(set(scopes) - {own, GLOBAL_SCOPE}) < need:
        rows += session.execute(scopes_q, params)
    return rows


def load_window_for_one(
    session: Session, item: ComplaintItem, policy: RecurrencePolicy, contact: tuple[str, int] | None = None,
) -> list[WindowRecord] | None:
    """The records of the window that decide the intake of the one new complaint ``item``: with them,
    ``classify_intake`` and ``prior_contact_counts`` give it what they give with the whole window
    (``load_window_records``), and their number does not grow with the window:

    - the latest ``duplicate_candidates`` texts before it (its near-duplicate candidates);
    - per topic it is classified under (its own, or with none those it borrows from its near-duplicates):
      the latest members of the topic's time line (what the distinct-scope scan and a systemic pattern's
      related ids read), the latest of the topic in its own scope (a recurring pattern's count and
      related ids), and the latest member of every other scope (the distinct-scope count);
    - with ``contact`` = (customer key such as ``customer_id=42``, days): that customer's records of those
      days with their metadata (found by the key's value in the metadata text, checked exactly later).

    None when no cap on candidates makes the first part small (``duplicate_candidates`` 0).
    """
    limit = policy.duplicate_candidates
    if limit <= 0:
        return None
    at, start = item.at, item.at - timedelta(days=policy.window_days)
    cols = (Feedback.id, Feedback.created_at, Feedback.segment, Feedback.product)
    cache = window_cache(session)
    generation = cache.validated(session) if cache is not None else 0
    window = {"start": start, "end": at, "item_id": item.id, "n": limit}
    if cache is not None:  # their ids; what is not cached, by id
        ids = list(session.scalars(_CANDIDATE_IDS, window))
        entries = _entries(session, cache, generation, ids)
        rows = {i: WindowRecord(i, e.created_at, e.segment, e.product, e.text, None, e.topics)
                for i, e in ((i, entries[i]) for i in ids)}
    else:
        rows = _candidates(session, _CANDIDATES, window)
    topics = list(item.topics)
    if not topics:  # it borrows its near-duplicates' topics: classify it against the candidates alone
        results, _ = classify_intake([item], [r.item() for r in rows.values()], policy)
        topics = results[item.id].item_topics
    found: dict[int, WindowRecord] = {}

    for topic in topics:
        for r in _pick_members(session, policy, item, topic, start):
            if r[0] not in rows and r[0] not in found:
                found[r[0]] = WindowRecord(r[0], r[1], r[2], r[3], "")
    if contact is not None:
        key, days = contact
        value = key.split("=", 1)[1]
        q = select(*cols, Feedback.meta).where(
            Feedback.priority.is_not(None), Feedback.created_at <= at, Feedback.id != item.id,
            Feedback.created_at >= at - timedelta(days=days),
            cast(Feedback.meta, String).contains(value, autoescape=True))
        for r in session.execute(q):
            rec = rows.get(r[0]) or found.get(r[0])
            if rec is None:
                found[r[0]] = WindowRecord(r[0], r[1], r[2], r[3], "", r[4])
            else:
                rec.meta = r[4]
    if cache is not None:
        entries = _entries(session, cache, generation, list(found))
        for i, rec in found.items():
            rec.topics = entries[i].topics
    else:
        attach_topics(session, found)
    rows.update(found)
    return list(rows.values())


def _with_topics(records: Select) -> Select:
    """``records`` (id, created_at, segment, product, text) with their topic mentions, in one query (an
    IN list of hundreds of ids cost more to bind than to run)."""
    cands = records.subquery()
    return select(cands, TopicMention.topic, TopicMention.polarity).outerjoin(
        TopicMention, TopicMention.feedback_id == cands.c.id)


def _latest_candidates(*cols) -> Select:
    """``cols`` of the latest ``n`` triaged records with a text in [start, end], other than ``item_id``."""
    return (
        select(*cols)
        .where(Feedback.priority.is_not(None), Feedback.created_at <= bindparam("end"), Feedback.id != bindparam("item_id"),
               Feedback.created_at >= bindparam("start"), Feedback.text.is_not(None), Feedback.text != "")
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(bindparam("n"))
    )


# built once (constructing a statement costs more than running it on a few rows); ``_candidates`` reads
# the columns of ``_RECORD`` in this order
_RECORD = (Feedback.id, Feedback.created_at, Feedback.segment, Feedback.product, Feedback.text)
_CANDIDATE_IDS = _latest_candidates(Feedback.id)
_CANDIDATES = _with_topics(_latest_candidates(*_RECORD))
_BY_IDS = _with_topics(
    select(*_RECORD)
    .where(Feedback.id.in_(bindparam("ids", expanding=True)))
)


def _candidates(session: Session, query: Select, params: dict | None = None) -> dict[int, WindowRecord]:
    """The records of ``_with_topics`` ``query``."""
    rows: dict[int, WindowRecord] = {}
    mentions: dict[int, list[tuple[str, str]]] = {}
    for r in session.execute(query, params or {}):
        if r[0] not in rows:
            rows[r[0]] = WindowRecord(r[0], r[1], r[2], r[3], r[4] or "")
        if r[5] is not None:
            mentions.setdefault(r[0], []).append((r[5], r[6]))
    for fid, ms in mentions.items():
        rows[fid].topics = topics_of(ms)
    return rows


def _entries(session: Session, cache: WindowCache, generation: int, ids: list[int]) -> dict[int, Entry]:
    """The cache entries of ``ids``, the missing ones read (and kept)."""
    found, missing = cache.get_many(ids)
    for i in range(0, len(missing), 900):
        read = _candidates(session, _BY_IDS, {"ids": missing[i : i + 900]})
        fresh = {r.id: Entry(r.created_at, r.segment, r.product, r.text, r.topics) for r in read.values()}
        cache.put(fresh, generation)
        found.update(fresh)
    return found


Lift = tuple[str, int, list[str]]  # (level, id of the new complaint, its pattern topics)


def classify_intake(
    new: Sequence[ComplaintItem], stored: Sequence[ComplaintItem], policy: RecurrencePolicy | None = None
) -> tuple[dict[int, RecurrenceResult], dict[int, list[Lift]]]:
    """Classify new complaints, in time order, against the stored ones of the window and each other.

    Returns the result per new id and, per related record (stored or new), the ``lift`` calls that
    apply to it, in order (``replay_lifts`` turns them into its final recurrence and related ids).
    """
    results, lifts, _index = classify_intake_indexed(new, stored, policy)
    return results, lifts


def classify_intake_indexed(
    new: Sequence[ComplaintItem], stored: Sequence[ComplaintItem], policy: RecurrencePolicy | None = None
) -> tuple[dict[int, RecurrenceResult], dict[int, list[Lift]], HistoryIndex]:
    """``classify_intake`` and its index, which holds ``stored`` and every new item but the last one
    (``reclassify_one`` of one new item starts from it)."""
    detector = RecurrenceDetector(policy)
    index = HistoryIndex(detector, stored)
    # One vectorizer call for every text that can be a near-duplicate candidate: the new ones and, per
    # new timestamp, the latest stored texts up to it (new records only push stored ones out of reach).
    wanted: set[int] = set()
    for at in {i.at for i in new}:
        wanted.update(range(*index.candidates(at - timedelta(days=detector.policy.window_days), at)))
    detector.prime([*(index.text_items[k] for k in sorted(wanted)), *new])
    for k in wanted:
        index.text_rows[k] = detector.row_of(index.text_items[k])
    ordered = sorted(new, key=lambda i: (i.at, i.id))
    detector.plan(ordered)
    results: dict[int, RecurrenceResult] = {}
    lifts: dict[int, list[Lift]] = {}
    for k, item in enumerate(ordered):
        res = index.classify(item)
        results[item.id] = res
        for rid in res.related_ids:
            lifts.setdefault(rid, []).append((res.recurrence, item.id, res.topics))
        if k < len(ordered) - 1:  # the last one meets no later item
            index.add(with_borrowed_topics(item, res))
    return results, lifts, index


def reclassify_one(index: HistoryIndex, item: ComplaintItem, added: Iterable[ComplaintItem]
                   ) -> tuple[dict[int, RecurrenceResult], dict[int, list[Lift]]]:
    """``classify_intake([item], stored + added)``, given the index of ``classify_intake_indexed`` of the
    same complaint (under any id) against ``stored``: ``added`` (those not in it yet) join the index,
    and only ``item`` is classified again (no index of the whole window is built). Changes ``index``."""
    for a in added:
        if a.id not in index.by_id:
            index.add(a)
    res = index.classify(item)
    return {item.id: res}, {rid: [(res.recurrence, item.id, res.topics)] for rid in res.related_ids}


def replay_lifts(recurrence: str | None, related_ids: Sequence[int] | None, ops: Iterable[Lift],
                 max_related: int) -> tuple[str | None, list[int] | None]:
    """A record's recurrence and related ids after the ``lift`` calls of ``classify_intake`` (unchanged if none)."""
    ops = list(ops)
    if not ops:
        return recurrence, None if related_ids is None else list(related_ids)
    current, related = recurrence or "single", list(related_ids or [])
    present = set(related)
    top = _LEVEL.get(current, 0)
    for to, new_id, _topics in ops:  # what ``lift`` does, without a result object per call
        if _LEVEL.get(to or "single", 0) > top:
            current, top = to, _LEVEL.get(to or "single", 0)
        if new_id not in present and len(related) < max_related:
            related.append(new_id)
            related.sort()
            present.add(new_id)
    return current, related


def apply_recurrence(session: Session, records: Sequence[Feedback], policy: RecurrencePolicy | None = None) -> dict[int, RecurrenceResult]:
    """Classify newly stored complaints against the stored window and write recurrence + related ids.

    ``records`` must be flushed (ids assigned). The window holds the triaged records (priority set).
    Earlier complaints of a pattern that grows are lifted to its level and linked to the new one.
    """
    if not records:
        return {}
    policy = policy or RecurrencePolicy()
    new_ids = {fb.id for fb in records}
    start = min(fb.created_at for fb in records) - timedelta(days=policy.window_days)
    end = max(fb.created_at for fb in records)
    stored = load_window_records(session, start, end, exclude=new_ids)
    out, lifts = classify_intake([item_of(fb) for fb in records], [r.item() for r in stored], policy)
    for fb in records:
        res = out[fb.id]
        fb.recurrence, fb.related_ids = replay_lifts(res.recurrence, res.related_ids, lifts.get(fb.id, ()),
                                                     policy.max_related)
    others = sorted(set(lifts) - new_ids)
    for i in range(0, len(others), 500):
        for other in session.scalars(select(Feedback).where(Feedback.id.in_(others[i : i + 500]))):
            other.recurrence, other.related_ids = replay_lifts(other.recurrence, other.related_ids, lifts[other.id],
                                                               policy.max_related)
    session.flush()
    return out


__all__ = [
    "GLOBAL_SCOPE",
    "ComplaintItem",
    "HistoryIndex",
    "RecurrenceDetector",
    "RecurrencePolicy",
    "RecurrenceResult",
    "WindowRecord",
    "apply_recurrence",
    "attach_topics",
    "classify_intake",
    "classify_intake_indexed",
    "complaint_topics",
    "item_of",
    "level",
    "lift",
    "load_window",
    "load_window_for_one",
    "load_window_records",
    "reclassify_one",
    "replay_lifts",
    "topics_of",
]
