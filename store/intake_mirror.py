"""The intake window of one SQLite database, mirrored in memory per process (one-record intake).

A one-record intake used to read, per request, the part of its window that decides it (its latest
near-duplicate candidates, the latest members of its topics, the customer's earlier complaints: ~7
statements) and to index those few hundred records again: ~15 ms of a triaged record's ingestion, most of
the server's time under a mixed load. The mirror holds every triaged record of the window instead, as a
``HistoryIndex`` and a per-customer time line, and is brought up to date inside the write turn from the
records committed since its last use (one indexed read of the few new ids). Inside the turn nothing else
can commit, so the mirror then holds exactly the stored window: the decision is the one the whole window
gives (``classify_intake`` and ``prior_contact_counts`` against ``load_window_records``).

What intake reads of a stored record (time, scope fields, text, topics, metadata) is written once, at
insert, and rewritten only by ``store.reanalyze``, which stamps ``analyzed_at`` inside its write turn:
a reanalysis since the last use, or a database that shrank, rebuilds the mirror (the same check as
``store.window_cache``). SQLite only: there ids are handed out in commit order under the write turn, so
"ids above the last one seen" is "committed since".

The mirror is built by the first record prepared before its write turn when it must be (none yet, or
built 6 hours ago: records that left every window are dropped), so writers do not wait for that read.
A record filed long before the mirror's start (a backfill older than its window) is decided the old way.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from store.recurrence import (
    ComplaintItem,
    HistoryIndex,
    RecurrenceDetector,
    RecurrencePolicy,
    RecurrenceResult,
    WindowRecord,
    load_window_records,
    stack_rows,
    topics_of,
)
from store.schema import Feedback, TopicMention
from store.window_cache import newest_record, reanalysed_since

REBUILD_AFTER = timedelta(hours=6)  # drop records that left every window (the start moves on)
MARGIN = timedelta(days=1)  # records filed up to a day before the mirror's window still use it
MAX_RECORDS = 50_000  # a larger window is read per intake, as before (memory, and seconds per rebuild)
VECTORS_KEPT = 4096  # candidate vectors kept by record id (the latest few hundred texts are the candidates)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class _MirrorDetector(RecurrenceDetector):
    """Near-duplicates from each candidate's own vector: a long-lived index cannot use one matrix of
    every text it met (it would be stacked again after every new text). The similarities are the same
    sparse-row dot products as ``RecurrenceDetector.duplicates_among``'s."""

    def __init__(self, policy: RecurrencePolicy) -> None:
        super().__init__(policy)
        self.by_id: OrderedDict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def known_row(self, item: ComplaintItem) -> int:
        return 0  # rows are not used: ``duplicates_among`` looks vectors up by id

    def warm(self, text: str) -> None:
        """Vectorize ``text`` into the process's text → vector cache (before the write turn, where the
        intake of the record with this text then only looks it up)."""
        if text:
            self.cached_vectors([text])

    def duplicates_among(self, item: ComplaintItem, cands: Sequence[ComplaintItem],
                         rows: Sequence[int] | None = None) -> list[int]:
        if not item.text or not cands:
            return []
        by_id = self.by_id
        todo = [c for c in cands if (c.id, c.text) not in by_id]
        # one vectorizer call (~1 ms of overhead each): the item and the candidates not met before
        got = self.cached_vectors([item.text, *(c.text for c in todo)])
        for c, vec in zip(todo, got[1:], strict=True):
            by_id[(c.id, c.text)] = vec
        # the item is the next intake's newest candidate once committed (by id and text: a rolled-back
        # record's id is given to the next one)
        by_id[(item.id, item.text)] = got[0]
        while len(by_id) > max(VECTORS_KEPT, 2 * len(cands)):
            by_id.popitem(last=False)
        m = stack_rows([by_id[(c.id, c.text)] for c in cands])
        idx, val = got[0]
        dense = self._dense
        dense[idx] = val
        try:
            sims = m @ dense
        finally:
            dense[idx] = 0.0
        return [cands[k].id for k in np.flatnonzero(sims >= self.policy.duplicate_threshold).tolist()]


# the triaged records committed since the last use, with what intake reads of them (built once)
_SINCE = (
    select(Feedback.id, Feedback.created_at, Feedback.segment, Feedback.product, Feedback.text, Feedback.meta,
           TopicMention.topic, TopicMention.polarity)
    .outerjoin(TopicMention, TopicMention.feedback_id == Feedback.id)
    .where(Feedback.id > bindparam("after"), Feedback.id < bindparam("below"), Feedback.priority.is_not(None),
           Feedback.created_at >= bindparam("start"))
)


@dataclass(slots=True)
class _Built:
    index: HistoryIndex
    customers: dict[str, list[tuple[datetime, int]]]
    start: datetime
    built_at: datetime


@dataclass(slots=True)
class Decided:
    result: RecurrenceResult
    prior_contacts: int | None  # None: no repeat-contact rule


class IntakeMirror:
    """The triaged records of one database from ``start`` on (see the module doc). Use only with the
    database's write turn held (``store.db.serialized_writes``)."""

    def __init__(self, policy: RecurrencePolicy, meta_keys: tuple[str, ...] | None, contact_days: int) -> None:
        self.policy = policy
        self.meta_keys = meta_keys  # None: no repeat-contact rule
        self.contact_days = contact_days
        self.days = max(policy.window_days, contact_days if meta_keys is not None else 0)
        self.lock = threading.Lock()
        self.index: HistoryIndex | None = None
        self.customers: dict[str, list[tuple[datetime, int]]] = {}
        self.start: datetime | None = None  # records filed before this are not held
        self.built_at: datetime | None = None
        self.seen_id = 0  # every id up to this one is reflected
        self.seen_at: datetime | None = None  # the newest analyzed_at at the last use
        self.disabled_until: datetime | None = None  # a window over MAX_RECORDS: not mirrored for a while
        self.detector = _MirrorDetector(policy)  # kept across rebuilds (its vectors stay valid)
        self._building = threading.Lock()  # one build outside the turn at a time (``prepare``)

    def covers(self, at: datetime, now: datetime | None = None) -> bool:
        """Whether a record filed at ``at`` can be decided here (its window lies after the start)."""
        now = now or utcnow()
        if self.disabled_until is not None and now < self.disabled_until:
            return False
        if self.start is not None and now - self.built_at < REBUILD_AFTER:  # type: ignore[operator]
            start = self.start
        else:  # where the next rebuild will start
            start = now - timedelta(days=self.days) - MARGIN
        return at - timedelta(days=self.days) >= start

    def _customer(self, meta: dict | None) -> str | None:
        meta = meta or {}
        for k in self.meta_keys or ():
            if meta.get(k) not in (None, ""):
                return f"{k}={meta[k]}"
        return None

    def _add(self, rec: WindowRecord) -> None:
        if rec.id in self.index.by_id:  # type: ignore[union-attr]
            return  # read by a build that began after the last use (``prepare``)
        self.index.add(rec.item())  # type: ignore[union-attr]
        key = self._customer(rec.meta) if self.meta_keys is not None else None
        if key is not None:
            bisect.insort(self.customers.setdefault(key, []), (rec.created_at, rec.id))

    def _read(self, session: Session, below: int, now: datetime) -> _Built | None:
        """A new index of the triaged records of the window with ids below ``below`` (None: over the cap)."""
        start = now - timedelta(days=self.days) - MARGIN
        records = load_window_records(session, start, datetime.max, with_meta=self.meta_keys is not None)
        records = [r for r in records if r.id < below]
        if len(records) > MAX_RECORDS:
            return None
        customers: dict[str, list[tuple[datetime, int]]] = {}
        if self.meta_keys is not None:
            for r in records:
                key = self._customer(r.meta)
                if key is not None:
                    customers.setdefault(key, []).append((r.created_at, r.id))
            for line in customers.values():
                line.sort()
        return _Built(HistoryIndex(self.detector, [r.item() for r in records]), customers, start, now)

    def _install(self, built: _Built | None, seen_id: int, seen_at: datetime | None, now: datetime) -> bool:
        if built is None:
            self.index, self.customers, self.start = None, {}, None
            self.disabled_until = now + REBUILD_AFTER
            return False
        self.index, self.customers, self.start, self.built_at = built.index, built.customers, built.start, built.built_at
        self.seen_id, self.seen_at, self.disabled_until = seen_id, seen_at, None
        return True

    def _rebuild(self, session: Session, below: int, now: datetime) -> bool:
        return self._install(self._read(session, below, now), below - 1, self.seen_at, now)

    def _due(self, now: datetime) -> bool:
        """Whether the next use must build the mirror anew (none yet, or built too long ago)."""
        if self.disabled_until is not None and now < self.disabled_until:
            return False
        return self.index is None or now - self.built_at >= REBUILD_AFTER  # type: ignore[operator]

    def prepare(self, session: Session, now: datetime | None = None) -> None:
        """Before the write turn: build the mirror here when the next use would have to, so that the turn
        only catches up with the records committed since (a window of 50,000 records takes seconds to read,
        and every writer would wait for it). Reads with no lock held; one thread builds at a time."""
        now = now or utcnow()
        if not self._due(now) or not self._building.acquire(blocking=False):
            return
        try:
            # first: records committed after this read have larger ids, and the turn reads those again
            # (``_add`` skips the ones the build saw); a reanalysis after it is seen by the turn's check
            seen_id, seen_at = newest_record(session)
            built = self._read(session, seen_id + 1, now)
            with self.lock:
                if self._due(now):
                    self._install(built, seen_id, seen_at, now)
        finally:
            self._building.release()

    def sync(self, session: Session, below: int, now: datetime | None = None) -> bool:
        """Bring the mirror up to the records committed before the new record ``below`` (whose insert is
        in this session's transaction). False when it cannot serve (a window over ``MAX_RECORDS``)."""
        now = now or utcnow()
        newest_id, newest_at = newest_record(session)
        stale = (self.index is None or newest_id < self.seen_id or now - self.built_at >= REBUILD_AFTER  # type: ignore[operator]
                 or reanalysed_since(session, self.seen_at))
        if stale:
            if self.disabled_until is not None and now < self.disabled_until:
                return False
            if not self._rebuild(session, below, now):
                return False
            self.seen_at = newest_at
            return True
        else:
            fresh: dict[int, WindowRecord] = {}
            mentions: dict[int, list[tuple[str, str]]] = {}
            for r in session.execute(_SINCE, {"after": self.seen_id, "below": below, "start": self.start}):
                if r[0] not in fresh:
                    fresh[r[0]] = WindowRecord(r[0], r[1], r[2], r[3], r[4] or "", r[5])
                if r[6] is not None:
                    mentions.setdefault(r[0], []).append((r[6], r[7]))
            for fid in sorted(fresh):
                rec = fresh[fid]
                rec.topics = topics_of(mentions.get(fid, ()))
                self._add(rec)
            if len(self) > MAX_RECORDS:  # the window outgrew the cap: read per intake until the next try
                self.index, self.customers, self.start = None, {}, None
                self.disabled_until = now + REBUILD_AFTER
                return False
        # every id below the new record's is committed (SQLite numbers a row max(rowid) + 1 under the turn)
        self.seen_id, self.seen_at = below - 1, newest_at
        return True

    def decide(self, item: ComplaintItem, meta: dict | None) -> Decided:
        """``item`` (the new record, not held here) against the mirrored window."""
        result = self.index.classify(item)  # type: ignore[union-attr]
        priors = None
        if self.meta_keys is not None:
            priors = 0
            key = self._customer(meta)
            line = self.customers.get(key) if key is not None else None
            if line:
                lo = bisect.bisect_left(line, (item.at - timedelta(days=self.contact_days),))
                hi = bisect.bisect_left(line, (item.at, item.id))
                priors = max(0, hi - lo)
        return Decided(result, priors)

    def __len__(self) -> int:
        return len(self.index.items) if self.index is not None else 0


_MIRRORS: dict[tuple, IntakeMirror] = {}
_GUARD = threading.Lock()


def intake_mirror(session: Session, policy: RecurrencePolicy, meta_keys: tuple[str, ...] | None,
                  contact_days: int) -> IntakeMirror | None:
    """The mirror of this session's SQLite file for this policy (None on other databases, in-memory ones,
    and without a cap on near-duplicate candidates)."""
    if policy.duplicate_candidates <= 0:
        return None
    url = session.get_bind().engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    key = (str(url), policy, meta_keys, contact_days)
    mirror = _MIRRORS.get(key)
    if mirror is None:
        with _GUARD:
            mirror = _MIRRORS.setdefault(key, IntakeMirror(policy, meta_keys, contact_days))
    return mirror


__all__ = ["Decided", "IntakeMirror", "intake_mirror"]
