"""One record's intake decided before its write turn (``prepare_intake``) ends as if decided inside it.

A single POST reads its window and classifies with no lock held; inside the write turn the decision
is brought up to date with what was committed meanwhile. These tests interleave preparations and
commits as concurrent requests would, and compare every triage, recurrence and lifecycle field with
the same records stored one after another without preparation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import store.complaints as complaints
from api.settings import Settings
from indicators.bulk import bulk_insert
from models.types import Analysis, SentimentResult, TopicResult
from store.db import make_engine, make_sessionmaker
from store.feedback import insert_feedback, prepare_record
from store.migrate import upgrade
from store.reanalyze import reanalyze
from store.schema import Feedback, StatusEvent

T0 = datetime(2024, 3, 1, 9, 0)
TEXTS = [
    "غذا خیلی دیر رسید و سرد بود",
    "بسته بندی پاره شده بود و غذا ریخته بود",
    "قیمت ها نسبت به کیفیت خیلی بالاست",
    "پیک بی ادب بود و زنگ نزد",
    "سفارش ناقص رسید نوشابه نداشت",
    "عالی بود ممنون از شما",
]
TOPICS = ["delivery", "food_quality", "price", "packaging"]


def analysis(text: str, neg: float, topics: dict[str, str]) -> Analysis:
    pos = round((1 - neg) * 0.8, 4)
    scores = {"neg": neg, "neu": round(1 - neg - pos, 4), "pos": pos}
    return Analysis(clean_text=text, pii=[], sentiment=SentimentResult(max(scores, key=scores.get), scores),
                    topics=[TopicResult(t, t, 0.9, p) for t, p in topics.items()], abstained=not topics, model="test")


def _stream(seed: int, n: int, t0: datetime = T0, steps: Sequence[int] = (0, 1, 5, 60, 600),
            late: Sequence[float] = (0, 0, 0, 3, 48)) -> list[tuple[dict, Analysis]]:
    """``n`` records arriving ``steps`` minutes apart from ``t0``, filed ``late`` hours before they arrive."""
    rnd = random.Random(seed)
    out = []
    at = t0
    for i in range(n):
        at += timedelta(minutes=rnd.choice(steps))
        created = at - timedelta(hours=rnd.choice(late))  # some arrive late (backfills)
        text = rnd.choice(TEXTS) + ("" if rnd.random() < 0.5 else f" سفارش {rnd.randint(1, 9)}")
        topics = {t: rnd.choice(["neg", "neg", "neu"]) for t in rnd.sample(TOPICS, rnd.choice([0, 1, 1, 2]))}
        item = {
            "text": text, "created_at": created, "external_id": f"s{seed}-{i}",
            "kind": rnd.choice(["complaint", "complaint", "comment"]),
            "product": rnd.choice([None, "pizza", "kebab", "salad"]),
            "segment": rnd.choice([None, "vendor-1", "vendor-2", "vendor-3"]),
            "metadata": {"customer_id": f"c{rnd.randint(1, 6)}"} if rnd.random() < 0.5 else {},
        }
        out.append((item, analysis(text, rnd.choice([0.9, 0.8, 0.1]), topics)))
    return out


def _database(tmp_path, name: str):
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    return make_sessionmaker(make_engine(url)), Settings(database_url=url, timezone="UTC")


def _state(factory) -> tuple[list, list]:
    with factory() as s:
        records = s.execute(select(
            Feedback.external_id, Feedback.priority, Feedback.priority_reasons, Feedback.status, Feedback.recurrence,
            Feedback.related_ids).order_by(Feedback.id)).all()
        events = s.execute(select(StatusEvent.feedback_id, StatusEvent.from_status, StatusEvent.to_status)
                           .order_by(StatusEvent.feedback_id, StatusEvent.id)).all()
    return [tuple(r) for r in records], [tuple(e) for e in events]


class _Outcomes:
    """How each prepared decision was used: reused as it was, redone on the window plus new records, or
    dropped for fresh reads."""

    def __init__(self, monkeypatch) -> None:
        self.counts = {"reused": 0, "merged": 0, "fresh": 0}
        real = complaints._brought_up_to_date

        def spy(session, prep, fb, policy, triage):
            out = real(session, prep, fb, policy, triage)
            reused = out is not None and out.results[fb.id] is prep.decision.results[complaints.PROVISIONAL_ID]
            key = "fresh" if out is None else "reused" if reused else "merged"
            self.counts[key] += 1
            return out

        monkeypatch.setattr(complaints, "_brought_up_to_date", spy)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interleaved_preparations_decide_as_one_after_another(tmp_path, monkeypatch, seed):
    stream = _stream(seed, 160)
    serial, settings_a = _database(tmp_path, "serial.db")
    with serial() as s:
        for item, an in stream:
            insert_feedback(s, [item], [an], None, settings_a)
            s.commit()

    outcomes = _Outcomes(monkeypatch)
    rnd = random.Random(seed)
    prepared_db, settings_b = _database(tmp_path, "prepared.db")
    # record i is prepared just before record i - lag commits (lag 0: right before its own insert)
    due: dict[int, list[int]] = {}
    for i in range(len(stream)):
        due.setdefault(max(0, i - rnd.choice([0, 1, 1, 2, 4, 8])), []).append(i)
    ready = {}
    with prepared_db() as reader, prepared_db() as writer:
        for j, (item, an) in enumerate(stream):
            for i in due.get(j, ()):
                ready[i] = prepare_record(reader, stream[i][0], stream[i][1], None, settings_b)
                reader.rollback()
            insert_feedback(writer, [item], [an], None, settings_b, ready.pop(j))
            writer.commit()
    assert _state(prepared_db) == _state(serial)
    # every path ran: decisions reused, and redone with the records committed since
    assert outcomes.counts["reused"] > 10 and outcomes.counts["merged"] > 10, outcomes.counts


class _Relabel:
    """An analyser for ``reanalyze``: every text is now about delivery (negative)."""

    version = "relabel"

    def analyze(self, texts):
        return [analysis(t, 0.9, {"delivery": "neg"}) for t in texts]


def test_a_reanalysis_committed_after_the_reads_sends_intake_back_to_fresh_reads(tmp_path, monkeypatch):
    outcomes = _Outcomes(monkeypatch)
    factory, settings = _database(tmp_path, "re.db")
    with factory() as s:  # earlier complaints of the product about price
        for k in range(3):
            text = f"قیمت خیلی بالاست {k}"
            insert_feedback(s, [{"text": text, "kind": "complaint", "product": "pizza",
                                 "created_at": T0 + timedelta(hours=k)}], [analysis(text, 0.9, {"price": "neg"})],
                            None, settings)
        s.commit()
    item = {"text": "پیک دیر رسید", "kind": "complaint", "product": "pizza", "created_at": T0 + timedelta(days=1)}
    with factory() as s:
        prep = prepare_record(s, item, analysis(item["text"], 0.9, {"delivery": "neg"}), None, settings)
        s.rollback()
    assert prep.intake is not None and prep.intake.decision.results[complaints.PROVISIONAL_ID].recurrence == "single"
    reanalyze(factory, _Relabel())  # the three are about delivery now
    with factory() as s:
        (fb,) = insert_feedback(s, [item], [analysis(item["text"], 0.9, {"delivery": "neg"})], None, settings, prep)
        s.commit()
        assert fb.recurrence == "recurring" and len(fb.related_ids) == 3
    assert outcomes.counts == {"reused": 0, "merged": 0, "fresh": 1}


def test_borrowed_topics_that_change_with_new_records_send_intake_back_to_fresh_reads(tmp_path, monkeypatch):
    """A record without topics borrows its near-duplicates': one committed after its reads brings a topic
    whose earlier members (beyond the latest candidates) the reads never fetched."""
    outcomes = _Outcomes(monkeypatch)
    factory, settings = _database(tmp_path, "borrow.db")
    engine = factory.kw["bind"]
    with Session(engine) as s:
        old = [{"text": f"بسته بندی پاره بود {k}", "created_at": T0 + timedelta(hours=k), "kind": "complaint",
                "sentiment": "neg", "topics": {"packaging": "neg"}, "product": "pizza"} for k in range(2)]
        filler = [{"text": f"متن دیگری شماره {k} درباره قیمت", "created_at": T0 + timedelta(days=1, minutes=k),
                   "kind": "complaint", "sentiment": "neg", "topics": {"price": "neg"}, "product": "kebab"}
                  for k in range(320)]
        bulk_insert(s, [*old, *filler])
        s.execute(update(Feedback).values(priority="normal"))
        s.commit()
    at = T0 + timedelta(days=2)
    text = "جعبه غذا کاملا له شده و پاره بود"
    item = {"text": text, "kind": "complaint", "product": "pizza", "created_at": at}
    with factory() as s:
        prep = prepare_record(s, item, analysis(text, 0.9, {}), None, settings)
        s.rollback()
    with factory() as s:  # its near-duplicate, about packaging, arrives first
        twin = {"text": text + "!", "kind": "complaint", "product": "pizza", "created_at": at - timedelta(minutes=1)}
        insert_feedback(s, [twin], [analysis(twin["text"], 0.9, {"packaging": "neg"})], None, settings)
        s.commit()
    with factory() as s:
        (fb,) = insert_feedback(s, [item], [analysis(text, 0.9, {})], None, settings, prep)
        s.commit()
        # with the two old packaging complaints of the product: recurring, as fresh reads find
        assert fb.recurrence == "recurring" and {1, 2} <= set(fb.related_ids), (fb.recurrence, fb.related_ids)
    assert outcomes.counts["fresh"] == 1, outcomes.counts


def test_only_a_record_that_intake_triages_is_prepared(tmp_path):
    factory, settings = _database(tmp_path, "none.db")
    with factory() as s:
        praise = prepare_record(s, {"text": "عالی بود", "kind": "comment", "created_at": T0}, analysis("عالی بود", 0.05, {}),
                                None, settings)
        assert praise.intake is None and praise.values["text"] == "عالی بود"
        complaint = prepare_record(s, {"text": "دیر رسید", "kind": "complaint", "created_at": T0},
                                   analysis("دیر رسید", 0.9, {"delivery": "neg"}), None, settings)
        assert complaint.intake is not None


def test_an_intake_rewrites_only_the_earlier_records_it_changes(tmp_path):
    """A pattern that keeps growing lifts its latest members at every complaint; those already at its
    level with a full list of related ids are left as they are (not written again), the others are."""
    from sqlalchemy import event

    factory, settings = _database(tmp_path, "grow.db")
    engine = factory.kw["bind"]
    # 70 complaints of one pattern (same topic and scope): each reaches 50 related ids
    stream = [({"text": f"{TEXTS[0]} {i}", "created_at": T0 + timedelta(minutes=i), "external_id": f"g-{i}",
                "kind": "complaint", "segment": "vendor-1"}, analysis(TEXTS[0], 0.9, {"delivery": "neg"}))
              for i in range(70)]
    for item, an in stream[:-1]:
        with factory() as s:
            insert_feedback(s, [item], [an], None, settings)
            s.commit()
    with factory() as s:  # five of its latest members with short lists (as stored by an older version)
        for fb in s.scalars(select(Feedback).where(Feedback.external_id.in_([f"g-{i}" for i in range(60, 65)]))):
            fb.related_ids = fb.related_ids[:10]
        s.commit()
    before = dict((r[0], r[1:]) for r in _state(factory)[0])
    written: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE FEEDBACK"):
            rows = parameters if executemany else [parameters]
            written.extend(len(rows) * [0])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with factory() as s:
            item, an = stream[-1]
            insert_feedback(s, [item], [an], None, settings, prepare_record(s, item, an, None, settings))
            s.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    after = dict((r[0], r[1:]) for r in _state(factory)[0])
    changed = [k for k in before if before[k] != after[k]]
    assert sorted(changed) == [f"g-{i}" for i in range(60, 65)]
    assert len(written) == len(changed) + 1  # and the new record itself
