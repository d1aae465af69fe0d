"""What one-record intake reads of stored complaints, kept per process and SQLite database.

Each intake reads the latest few hundred triaged records of its window (its near-duplicate candidates)
with their texts and topics: under load the same records, request after request. Their time, scope
fields and text never change once written; their topics change only when ``store.reanalyze`` rewrites
them, and it stamps ``analyzed_at`` inside its write turn, later than every record committed before.
So the cache is checked with two indexed reads per use (``validated``): a database that shrank (another
file at that path) or any record analysed again since the last check empties it. Entries
fetched before an emptying are not kept (a generation number), so no stale topics survive one.

SQLite only: a reanalysis there takes its write turn, so its stamp is later than the newest ``analyzed_at``
any earlier check saw (on PostgreSQL it has no write turn: a stamp may lag behind a commit).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from store.schema import Feedback

CACHE_SIZE = 20_000  # records per database (a few hundred bytes each)


@dataclass(frozen=True, slots=True)
class Entry:
    created_at: datetime
    segment: str | None
    product: str | None
    text: str
    topics: tuple[str, ...]


# Analysed again after it was stored: every insert path stamps ``analyzed_at`` with its ``received_at``
# (store.feedback, indicators.bulk), a reanalysis with its own later time. Records inserted since the last
# check (cached or not) are thus told apart from those re-analysed, whatever their ids.
_REANALYSED = or_(Feedback.received_at.is_(None), Feedback.analyzed_at != Feedback.received_at)


# Built once, with bind parameters: every one-record intake runs them, and constructing a statement
# (and its cache key) costs more than running it.
_NEWEST = select(select(func.max(Feedback.id)).scalar_subquery(), select(func.max(Feedback.analyzed_at)).scalar_subquery())
_ANY_ANALYSED = select(Feedback.id).where(Feedback.analyzed_at.is_not(None), _REANALYSED).limit(1)
_ANALYSED_AFTER = select(Feedback.id).where(Feedback.analyzed_at > bindparam("seen_at"), _REANALYSED).limit(1)


def newest_record(session: Session) -> tuple[int, datetime | None]:
    """(the newest record id or 0, the newest ``analyzed_at``), in one read."""
    newest_id, newest_at = session.execute(_NEWEST).one()
    return newest_id or 0, newest_at


def reanalysed_since(session: Session, seen_at: datetime | None) -> bool:
    """Whether a stored record was analysed again after ``seen_at`` (a ``newest_record`` time)."""
    if seen_at is None:
        return session.execute(_ANY_ANALYSED).first() is not None
    return session.execute(_ANALYSED_AFTER, {"seen_at": seen_at}).first() is not None


class WindowCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._seen: tuple[int, datetime | None] = (0, None)  # newest id and analyzed_at at the last check
        self.generation = 0  # moves on at every emptying

    def validated(self, session: Session) -> int:
        """Empty the cache if anything in it may have changed since the last check; the generation to
        pass to ``put`` for entries read from now on."""
        with self._lock:
            newest_id, newest_at = newest_record(session)
            seen_id, seen_at = self._seen
            stale = newest_id < seen_id or (bool(self._entries) and reanalysed_since(session, seen_at))
            if stale:
                self._entries.clear()
                self.generation += 1
            self._seen = (newest_id, newest_at)
            return self.generation

    def get_many(self, ids: Iterable[int]) -> tuple[dict[int, Entry], list[int]]:
        """(entries found, ids missing)."""
        found: dict[int, Entry] = {}
        missing: list[int] = []
        with self._lock:
            for i in ids:
                e = self._entries.get(i)
                if e is None:
                    missing.append(i)
                else:
                    self._entries.move_to_end(i)
                    found[i] = e
        return found, missing

    def put(self, entries: dict[int, Entry], generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return  # read before an emptying: may hold what changed
            self._entries.update(entries)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: dict[str, WindowCache] = {}
_GUARD = threading.Lock()


def window_cache(session: Session) -> WindowCache | None:
    """The cache of this session's SQLite database (None on other databases and in-memory ones)."""
    engine = session.get_bind().engine
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    key = str(url)
    cache = _CACHES.get(key)
    if cache is None:
        with _GUARD:
            cache = _CACHES.setdefault(key, WindowCache())
    return cache


__all__ = ["CACHE_SIZE", "Entry", "WindowCache", "newest_record", "reanalysed_since", "window_cache"]
