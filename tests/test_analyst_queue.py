"""Review queue: each signal on Persian inputs, MMR diversity, and the DB candidate filters."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from store.db import make_engine
from store.schema import Base, Feedback, GoldLabel, TopicMention
from training.review_queue import Candidate, ReviewQueue, candidates_from_db, labelled_vocabulary, words


def analysis(neg=0.1, neu=0.1, pos=0.8, topics=(), abstained=False):
    return {
        "clean_text": "",
        "sentiment": {"label": max(("neg", neg), ("neu", neu), ("pos", pos), key=lambda x: x[1])[0],
                      "scores": {"neg": neg, "neu": neu, "pos": pos}},
        "topics": [{"topic": t, "label_fa": t, "score": s, "sentiment": "neg", "evidence": ev} for t, s, ev in topics],
        "abstained": abstained,
        "model": "m1",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("پیک خیلی دیر رسید", ["پیک", "خیلی", "دیر", "رسید"]),
        ("شماره من [PHONE] است ۱۲", ["شماره", "من", "است"]),  # placeholders and digits are not words
        ("نمی‌دونم چرا سرد بود", ["نمی\u200cدونم", "چرا", "سرد", "بود"]),  # half-space kept inside a word
        ("", []),
    ],
)
def test_words(text, expected):
    assert words(text) == expected


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (analysis(0.05, 0.05, 0.9), 0.15),  # confident sentiment, no topics: margin 0.85
        (analysis(0.45, 0.1, 0.45), 1.0),  # torn between neg and pos
        (analysis(0.05, 0.05, 0.9, topics=[("delivery", 0.55, [])]), 0.9),  # topic barely above 0.5
        (None, 1.0),
    ],
)
def test_low_margin(a, expected):
    assert ReviewQueue.low_margin(a) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a", "rating", "scale", "expected"),
    [
        (analysis(0.9, 0.05, 0.05), 5, 5, 0.925),  # 5 stars, angry text: strong disagreement
        (analysis(0.05, 0.05, 0.9), 5, 5, 0.075),  # 5 stars, happy text: agreement
        (analysis(0.05, 0.05, 0.9), 1, 5, 0.925),
        (analysis(0.9, 0.05, 0.05), None, None, 0.0),  # no rating: no signal
    ],
)
def test_rating_disagreement(a, rating, scale, expected):
    assert ReviewQueue.rating_disagreement(a, rating, scale) == pytest.approx(expected)


def test_new_vocabulary_and_abstained():
    q = ReviewQueue(vocabulary=words("پیک خیلی دیر رسید غذا سرد بود"))
    assert q.new_vocabulary("پیک دیر رسید") == 0.0
    assert q.new_vocabulary("اپلیکیشن کرش کرد") == 1.0
    assert q.new_vocabulary("پیک اپلیکیشن") == 0.5
    assert ReviewQueue().new_vocabulary("اپلیکیشن کرش کرد") == 0.0  # no vocabulary known: signal off
    assert ReviewQueue.abstained(analysis(abstained=True)) == 1.0
    assert ReviewQueue.abstained(analysis()) == 0.0


def test_priority_order_and_reasons():
    cands = [
        Candidate(1, "غذا عالی بود ممنون", analysis(0.02, 0.03, 0.95, topics=[("food_quality", 0.97, ["عالی"])]),
                  rating=5, rating_scale=5),
        Candidate(2, "سفارش رو کنسل کردن بدون اطلاع", analysis(0.4, 0.3, 0.3, abstained=True), rating=5, rating_scale=5),
        Candidate(3, "پیک دیر رسید", analysis(0.8, 0.1, 0.1, topics=[("delivery", 0.9, ["دیر رسید"])]),
                  rating=1, rating_scale=5),
    ]
    items = ReviewQueue(limit=3, diversity=0.0).select(cands)
    assert [i.candidate.id for i in items] == [2, 3, 1]
    assert set(items[0].reasons) >= {"abstained", "low_margin"}
    assert items[-1].reasons == []
    d = items[1].to_dict()
    assert d["evidence"] == ["دیر رسید"] and d["feedback_id"] == 3


def test_diversity_avoids_near_copies():
    dup = "پیک خیلی دیر رسید و غذا سرد شده بود"
    cands = [Candidate(i, dup + "!" * (i % 3), analysis(0.45, 0.1, 0.45, abstained=True)) for i in range(10)]
    cands.append(Candidate(10, "قیمت‌ها نسبت به ماه پیش خیلی گران شده", analysis(0.5, 0.2, 0.3, abstained=True)))
    cands.append(Candidate(11, "بسته‌بندی پاره بود و سس ریخته بود", analysis(0.6, 0.1, 0.3)))
    by_priority = ReviewQueue(limit=3, diversity=0.0, max_similarity=1.01).select(cands)
    assert all(i.candidate.id < 10 for i in by_priority)  # priority alone: three copies of one complaint
    diverse = ReviewQueue(limit=3, diversity=0.3).select(cands)
    ids = [i.candidate.id for i in diverse]
    assert sum(i < 10 for i in ids) == 1 and {10, 11} <= set(ids)


def test_candidates_from_db_filters(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        rows = [
            ("پیک دیر رسید", "tehran", datetime(2024, 1, 5), "delivery"),
            ("غذا سرد بود", "tehran", datetime(2024, 2, 5), "food_quality"),
            ("گران بود", "shiraz", datetime(2024, 2, 6), "price"),
            ("بسته‌بندی بد بود", "shiraz", datetime(2024, 3, 1), "packaging"),
        ]
        for i, (text, seg, at, topic) in enumerate(rows, 1):
            s.add(Feedback(id=i, payload_hash="h", kind="comment", segment=seg, created_at=at, received_at=at,
                           day=at.date(), jalali_day=14000101, text=text, analysis=analysis(), pii_types=[]))
            s.add(TopicMention(feedback_id=i, topic=topic, score=0.9, polarity="neg", model_version="m1",
                               day=at.date(), jalali_day=14000101, kind="comment", segment=seg))
        s.add(GoldLabel(feedback_id=4, topics={"packaging": "neg"}, sentiment="neg", author="a",
                        created_at=datetime(2024, 3, 2)))
        s.commit()
        ids = lambda **kw: [c.id for c in candidates_from_db(s, **kw)]  # noqa: E731
        assert ids() == [3, 2, 1]  # newest first, the labelled record excluded
        assert ids(include_labelled=True) == [4, 3, 2, 1]
        assert ids(segment="tehran") == [2, 1]
        assert ids(topic="price") == [3]
        assert ids(since=datetime(2024, 2, 1), until=datetime(2024, 2, 6)) == [2]
        assert labelled_vocabulary(s) == {"بسته\u200cبندی", "بد", "بود"}
