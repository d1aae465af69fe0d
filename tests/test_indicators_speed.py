"""What keeps indicators fast on a million records, checked for giving the same answers as the slow way."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime

import pytest
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.orm import Session

from indicators.bulk import bulk_insert
from indicators.compute import indicators
from indicators.demo_texts import generate
from indicators.process import load_rows
from indicators.query import NONE_GROUP, Slice, feedback_sums
from indicators.themes import class_tfidf, representatives, terms, top_themes
from store.db import make_engine
from store.schema import Base, Feedback, FeedbackRollup


def _demo_db(path=None, n: int = 2500) -> tuple:
    engine = make_engine(f"sqlite:///{path}" if path else "sqlite://")
    Base.metadata.create_all(engine)
    items = generate(n, end=date(2024, 9, 30), seed=11)
    with Session(engine) as s:
        bulk_insert(s, [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in items])
    return engine, items


def _statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, *_a: seen.append(stmt))
    return seen


def test_complaint_rows_read_the_status_index_when_sqlite_statistics_say_otherwise():
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        bulk_insert(s, [{"text": f"t{i}", "created_at": datetime(2024, 1 + i % 12, 1 + i % 28, 10), "segment": f"s{i % 5}",
                         "kind": "complaint" if i % 3 == 0 else "comment"} for i in range(4000)])
        tracked = [3, 6, 9, 301, 3001]
        s.execute(update(Feedback).where(Feedback.id.in_(tracked)).values(status="received"))
        s.commit()
        s.execute(text("ANALYZE"))  # the statistics then say a status value matches half the table
        seen = _statements(engine)
        rows = load_rows(s, date(2024, 1, 1), date(2024, 12, 31), segment=["s0", "s1"])
        # the same rows as a direct filter of the tracked ids
        expected = set(s.scalars(select(Feedback.id).where(Feedback.id.in_(tracked), Feedback.segment.in_(["s0", "s1"]))))
        assert {r.id for r in rows} == expected and expected
        stmt = next(st for st in seen if "FROM feedback" in st and "status" in st)
        params = [date(2024, 1, 1).isoformat(), date(2024, 12, 31).isoformat(), "s0", "s1"]
        plan = " ".join(str(r[-1]) for r in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, tuple(params)))
        assert "ix_feedback_status" in plan, plan


def test_month_rows_give_the_daily_sums():
    engine, _items = _demo_db()
    with Session(engine) as s:
        window = Slice(date(2024, 4, 5), date(2024, 8, 31))  # part of Farvardin, whole months, part of Shahrivar
        regions = (*s.scalars(select(Feedback.region).where(Feedback.region.is_not(None)).distinct()), NONE_GROUP)
        raw_window = Slice(window.start, window.end, {"region": regions})  # every record, but from the raw tables
        for period in ("month", "quarter", "year", None):
            for group_by in ("segment", None):
                fast = feedback_sums(s, window, group_by, period, "jalali")
                raw = feedback_sums(s, raw_window, group_by, period, "jalali")
                assert fast.keys() == raw.keys()
                for key, sums in fast.items():
                    for k, v in sums.items():
                        assert v == pytest.approx(raw[key][k], rel=1e-12), (period, group_by, key, k)
        months = s.scalar(select(func.count()).select_from(FeedbackRollup).where(FeedbackRollup.grain == "month"))
        assert months > 0


def test_rollups_written_before_month_rows_get_them(tmp_path):
    engine, _items = _demo_db(tmp_path / "old.db", n=800)
    window = Slice(date(2024, 4, 5), date(2024, 8, 31))
    with Session(engine) as s:
        before = indicators(s, window, group_by="segment", min_n=1)
        s.execute(delete(FeedbackRollup).where(FeedbackRollup.grain == "month"))  # the older layout
        s.commit()
    engine.dispose()
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")  # a new process, as after an upgrade
    with Session(engine) as s:
        assert indicators(s, window, group_by="segment", min_n=1) == before
        assert s.scalar(select(func.count()).select_from(FeedbackRollup).where(FeedbackRollup.grain == "month")) > 0


def test_one_freshness_check_per_answer_and_new_records_still_seen():
    engine, _items = _demo_db(n=600)
    with Session(engine) as s:
        first = indicators(s, Slice(), group_by="segment", min_n=1)
        seen = _statements(engine)
        indicators(s, Slice(), group_by="segment", min_n=1)
        assert sum("max(feedback.id)" in st for st in seen) == 1
        seen.clear()
        top_themes(s, Slice(), min_n=1)
        assert sum("max(feedback.id)" in st for st in seen) == 1
        bulk_insert(s, [{"text": "پیک دیر رسید", "created_at": datetime(2024, 9, 30, 9), "sentiment": "neg", "topics": {"delivery": "neg"}}])
        after = indicators(s, Slice(), group_by="segment", min_n=1)
        assert after["overall"]["volume"] == first["overall"]["volume"] + 1


def _reference_phrases(classes: dict, top: int = 8) -> dict:
    """c-TF-IDF with every document tokenized on its own (the definition, without the shortcuts)."""
    import math

    from indicators.themes import _dedupe

    counts = {c: Counter(t for doc in docs for t in terms(doc)) for c, docs in classes.items()}
    total: Counter = Counter()
    for cnt in counts.values():
        total.update(cnt)
    avg_words = sum(sum(c.values()) for c in counts.values()) / len(counts)
    out = {}
    for c, cnt in counts.items():
        words = sum(cnt.values()) or 1
        scored = [(t, (k / words) * math.log(1 + avg_words / total[t])) for t, k in cnt.items() if k >= 2 or len(cnt) < 20]
        scored.sort(key=lambda x: (-round(x[1], 9), -x[0].count(" "), x[0]))
        out[c] = [(t, round(w, 5)) for t, w in _dedupe(scored, top)]
    return out


def _reference_examples(docs: list[str], phrases: list, k: int = 3) -> list[str]:
    """Every document scored on its own, every candidate compared with the chosen ones."""
    weights = dict(phrases)
    scored = []
    for i, doc in enumerate(docs):
        ts = set(terms(doc))
        if ts:
            scored.append((not 15 <= len(doc) <= 280, -sum(weights.get(t, 0.0) for t in ts) / len(ts) ** 0.5, i, doc))
    out: list[str] = []
    seen: list[set[str]] = []
    for *_, doc in sorted(scored):
        ts = {t for t in terms(doc) if " " not in t}
        if any(len(ts & s) >= 0.7 * max(len(ts | s), 1) for s in seen):
            continue
        out.append(doc)
        seen.append(ts)
        if len(out) == k:
            break
    return out


def test_key_phrases_and_examples_of_repeated_texts_match_one_by_one_scoring():
    rng = random.Random(4)
    base = ["پیک خیلی دیر رسید و غذا سرد بود", "غذا سرد بود", "بسته بندی پاره شده بود و سس ریخته بود",
            "پیک دیر رسید", "قیمت ها خیلی گران شده", "سس ریخته بود", "برنج خام بود و غذا سرد", "پیک دیر رسید!"]
    for _ in range(5):
        classes = {c: [rng.choice(base) for _ in range(rng.randint(3, 60))] for c in ("a", "b", "c")}
        phrases = class_tfidf(classes)
        assert phrases == _reference_phrases(classes)
        for c, docs in classes.items():
            assert representatives(docs, phrases[c], 3) == _reference_examples(docs, phrases[c], 3)


def _rollup_rows(s: Session) -> list[tuple]:
    from store.schema import TopicRollup

    out = []
    for R, keys, cols in ((FeedbackRollup, ("grain", "day", "kind", "segment", "channel"), ("n", "pos", "neg", "n_rated", "rating_sum", "promoters")),
                          (TopicRollup, ("grain", "day", "topic", "kind", "segment", "channel"), ("pos", "neu", "neg", "neg_rated", "neg_rating_sum"))):
        for r in s.scalars(select(R)):
            out.append((R.__tablename__, *(getattr(r, k) for k in keys), *(round(float(getattr(r, c)), 9) for c in cols)))
    return sorted(out, key=repr)


def test_new_records_are_added_to_the_rollups_and_give_what_a_rebuild_gives(tmp_path):
    from indicators.rollup import ensure_fresh, rebuild

    engine, _items = _demo_db(tmp_path / "inc.db", n=500)
    more = generate(60, end=date(2024, 10, 3), seed=5)  # existing days, a new day, other slices
    with Session(engine) as s:
        ensure_fresh(s)
        for k in range(0, 60, 20):
            bulk_insert(s, [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in more[k:k + 20]])
            seen = _statements(engine)
            assert ensure_fresh(s) > 0
            # added, not recomputed: no day's rollup rows were deleted
            assert not any(st.startswith("DELETE") and ".grain IN" in st for st in seen), seen
            incremental = _rollup_rows(s)
            rebuild(s)
            assert incremental == _rollup_rows(s)
        # a re-analysed old record cannot be added: its days are recomputed, with the same result as a rebuild
        s.execute(update(Feedback).where(Feedback.id == 3).values(sentiment="pos", analyzed_at=datetime(2030, 1, 1)))
        s.commit()
        assert ensure_fresh(s) > 0
        recomputed = _rollup_rows(s)
        rebuild(s)
        assert recomputed == _rollup_rows(s)


def test_concurrent_readers_always_see_what_was_committed_before_they_asked(tmp_path):
    """Readers waiting on another reader's refresh may reuse it only if it saw their writes."""
    import threading
    import time

    from indicators.rollup import ensure_fresh

    engine, _items = _demo_db(tmp_path / "conc.db", n=300)
    more = generate(400, end=date(2024, 9, 30), seed=21)
    with Session(engine) as s:
        ensure_fresh(s)
    stop = time.monotonic() + 3.0
    failures: list[str] = []
    checks = [0]

    def writer() -> None:
        with Session(engine) as s:
            for k in range(0, 400, 4):
                if time.monotonic() > stop:
                    break
                bulk_insert(s, [dict(it.to_feedback(), external_id=f"c{k}-{j}", sentiment=it.sentiment, topics=it.topics)
                                for j, it in enumerate(more[k:k + 4])])

    def reader() -> None:
        with Session(engine) as s:
            while time.monotonic() < stop:
                committed = s.scalar(select(func.count()).select_from(Feedback))
                s.commit()
                ensure_fresh(s)
                total = s.scalar(select(func.sum(FeedbackRollup.n)).where(FeedbackRollup.grain == "segment"))
                s.commit()
                checks[0] += 1
                if total < committed:
                    failures.append(f"{total} < {committed}")

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader) for _ in range(4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert checks[0] > 20 and not failures, failures[:5]


@pytest.mark.parametrize("query", [
    {"period": "day"},
    {"period": "week", "group_by": "segment", "calendar": "gregorian"},
    {"period": "month", "group_by": "channel"},
    {"period": "quarter", "group_by": "kind", "calendar": "gregorian"},
])
def test_new_records_read_beside_the_rollups_give_what_a_refresh_gives(tmp_path, query):
    """A few new records are read from the raw tables beside the rollups, without writing anything, and the
    answers (themes too) are those of refreshed rollups; a new last day moves the default window."""
    from indicators.rollup import DELTA_MAX, ensure_fresh, rollup_delta
    from store.schema import RollupState

    engine, _items = _demo_db(tmp_path / "delta.db", n=400)
    more = [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in generate(80, end=date(2024, 9, 30), seed=9)]
    more += [{"text": "پیک دیر رسید", "created_at": datetime(2024, 10, 3, 9), "sentiment": "neg", "rating": 2,
              "segment": "vip", "topics": {"delivery": "neg"}},
             {"text": "غذا عالی بود", "created_at": datetime(2024, 10, 4, 12), "sentiment": "pos", "nps": 10,
              "channel": "app", "topics": {"food_quality": "pos"}}]  # two new last days
    window = Slice(date(2024, 6, 1), date(2024, 10, 4))
    with Session(engine) as s:
        ensure_fresh(s)
        watermark = s.get(RollupState, 1).max_feedback_id
        bulk_insert(s, more)
        assert len(more) <= DELTA_MAX
        seen = _statements(engine)
        live = [indicators(s, sl, min_n=1, **query) for sl in (Slice(), window, Slice(filters={"segment": ("vip",)}))]
        themes = top_themes(s, window, min_n=1)
        writes = [st for st in seen if st.split(None, 1)[0] in ("INSERT", "UPDATE", "DELETE")]
        assert not writes, writes
        assert s.scalar(select(RollupState.max_feedback_id)) == watermark  # the rollups were not touched
        assert rollup_delta(s) is None  # outside an answer
        assert ensure_fresh(s) > 0
        assert [indicators(s, sl, min_n=1, **query) for sl in (Slice(), window, Slice(filters={"segment": ("vip",)}))] == live
        assert top_themes(s, window, min_n=1) == themes
        assert live[0]["to"] == "2024-10-04"  # the new days are in the default window


def test_many_new_records_are_added_to_the_rollups_by_the_next_answer(tmp_path):
    from indicators import rollup
    from store.schema import RollupState

    engine, _items = _demo_db(tmp_path / "many.db", n=200)
    more = generate(60, end=date(2024, 10, 1), seed=3)
    with Session(engine) as s:
        rollup.ensure_fresh(s)
        bulk_insert(s, [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in more])
        old, rollup.DELTA_MAX = rollup.DELTA_MAX, 50
        try:
            indicators(s, Slice(), min_n=1)
        finally:
            rollup.DELTA_MAX = old
        assert s.scalar(select(RollupState.max_feedback_id)) == s.scalar(select(func.max(Feedback.id)))
