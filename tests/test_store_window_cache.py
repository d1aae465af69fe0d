"""The per-process cache of what intake reads of stored complaints never serves what changed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from indicators.bulk import bulk_insert
from models.types import Analysis, SentimentResult, TopicResult
from store.db import make_engine, make_sessionmaker
from store.reanalyze import reanalyze
from store.recurrence import RecurrencePolicy, item_of, load_window_for_one
from store.schema import Base, Feedback
from store.window_cache import Entry, window_cache

T0 = datetime(2024, 6, 1, 9, 0)


def _complaints(n: int, topic: str) -> list[dict]:
    return [{"text": f"شکایت شماره {k}", "created_at": T0 + timedelta(hours=k), "kind": "complaint", "sentiment": "neg",
             "topics": {topic: "neg"}, "product": "pizza"} for k in range(n)]


def _database(path, n: int, topic: str = "price"):
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        bulk_insert(s, _complaints(n, topic))
        s.execute(update(Feedback).values(priority="normal"))
        s.commit()
    return engine


def _topics_seen(engine, probe_id: int) -> set[tuple[str, ...]]:
    with Session(engine) as s:
        window = load_window_for_one(s, item_of(s.get(Feedback, probe_id)), RecurrencePolicy())
        return {r.topics for r in window}


class _Relabel:
    version = "relabel"

    def analyze(self, texts):
        scores = {"neg": 0.9, "neu": 0.05, "pos": 0.05}
        return [Analysis(clean_text=t, pii=[], sentiment=SentimentResult("neg", scores),
                         topics=[TopicResult("delivery", "delivery", 0.9, "neg")], abstained=False, model="relabel")
                for t in texts]


def test_a_reanalysis_empties_the_cache(tmp_path):
    engine = _database(tmp_path / "a.db", 20)
    assert _topics_seen(engine, 20) == {("price",)}
    with Session(engine) as s:
        assert len(window_cache(s)) == 19  # the candidates, kept
    reanalyze(make_sessionmaker(engine), _Relabel())
    assert _topics_seen(engine, 20) == {("delivery",)}  # not the cached topics


def test_another_database_at_the_same_path_empties_the_cache(tmp_path):
    path = tmp_path / "b.db"
    engine = _database(path, 30)
    assert _topics_seen(engine, 30) == {("price",)}
    engine.dispose()
    path.unlink()
    engine = _database(path, 10, topic="hygiene")  # fewer records: ids seen before are other records now
    with Session(engine) as s:  # analysed long ago (a restored copy): only its size tells it apart
        s.execute(update(Feedback).values(analyzed_at=datetime(2000, 1, 1)))
        s.commit()
    assert _topics_seen(engine, 10) == {("hygiene",)}


def test_entries_read_before_an_emptying_are_not_kept(tmp_path):
    engine = _database(tmp_path / "c.db", 5)
    with Session(engine) as s:
        cache = window_cache(s)
        generation = cache.validated(s)
        cache.generation += 1  # as an emptying by another thread between this one's read and its put
        cache.put({1: Entry(T0, None, "pizza", "x", ("stale",))}, generation)
        assert cache.get_many([1]) == ({}, [1])
        cache.put({1: Entry(T0, None, "pizza", "x", ("fresh",))}, cache.generation)
        assert cache.get_many([1])[0][1].topics == ("fresh",)


def test_only_file_databases_of_sqlite_have_one(tmp_path):
    engine = make_engine("sqlite://")
    with Session(engine) as s:
        assert window_cache(s) is None


def test_a_record_committed_after_the_check_and_then_reanalysed_is_not_served_stale(tmp_path):
    from store.recurrence import _entries

    engine = _database(tmp_path / "d.db", 5)
    with Session(engine) as s:
        cache = window_cache(s)
        generation = cache.validated(s)
        # committed after that check, read before the next one (as by a request of another worker)
        bulk_insert(s, [{"text": "شکایت تازه", "created_at": T0 + timedelta(hours=6), "kind": "complaint",
                         "sentiment": "neg", "topics": {"price": "neg"}, "product": "pizza"}])
        s.execute(update(Feedback).values(priority="normal"))
        s.commit()
        assert _entries(s, cache, generation, [6])[6].topics == ("price",)
    reanalyze(make_sessionmaker(engine), _Relabel(), since=T0 + timedelta(hours=6))  # that record alone
    with Session(engine) as s:
        probe = Feedback(id=99, created_at=T0 + timedelta(days=1), text="x", product="pizza")
        window = load_window_for_one(s, item_of(probe, []), RecurrencePolicy())
        assert {r.id: r.topics for r in window}[6] == ("delivery",)
