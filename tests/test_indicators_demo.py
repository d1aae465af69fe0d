"""`bazkhord demo`: written texts, consistent ratings, the year's stories, and the real analyser end to end."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from indicators.demo_texts import SEGMENTS, UNCLAIMED, generate
from nlp.errors import BazkhordError

END = date(2024, 6, 30)


def test_generator_is_deterministic_and_consistent():
    a, b = generate(2000, end=END, seed=1), generate(2000, end=END, seed=1)
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.text for x in generate(2000, end=END, seed=2)] != [x.text for x in a]
    assert min(x.created_at.date() for x in a) >= END - timedelta(days=364) and max(x.created_at.date() for x in a) <= END
    for x in a:
        assert (x.rating >= 4) if x.sentiment == "pos" else (x.rating <= 3 if x.sentiment == "neg" else 2 <= x.rating <= 4)
        if x.nps is not None:
            assert (x.nps >= 8) if x.sentiment == "pos" else (x.nps <= 6 if x.sentiment == "neg" else True)
        if x.kind == "complaint":
            assert x.sentiment == "neg"
        assert any("\u0600" <= ch <= "\u06ff" for ch in x.text)
    kinds = Counter(x.kind for x in a)
    assert set(kinds) == {"complaint", "comment", "compliment", "suggestion", "survey_answer"}
    assert len({x.segment for x in a}) == len(SEGMENTS) and sum(x.text in UNCLAIMED for x in a) > 30


def test_the_year_has_stories():
    items = generate(12000, end=END, seed=7)
    late = [x for x in items if x.segment == SEGMENTS[2] and (END - x.created_at.date()).days < 21]
    early = [x for x in items if x.segment == SEGMENTS[2] and (END - x.created_at.date()).days >= 21]
    rate = lambda xs: sum("hygiene" in x.topics for x in xs) / len(xs)  # noqa: E731
    assert rate(late) > 4 * rate(early)
    winter = [x for x in items if x.created_at.month in (12, 1, 2)]
    summer = [x for x in items if x.created_at.month in (6, 7, 8)]
    neg_delivery = lambda xs: sum(x.topics.get("delivery") == "neg" for x in xs) / len(xs)  # noqa: E731
    assert neg_delivery(winter) > 1.5 * neg_delivery(summer)


def test_texts_are_not_copied_from_the_data_sets(data_dir):
    generated = {x.text for x in generate(3000, end=END)}
    for rel in ("snappfood-stream/comments.jsonl", "snappfood-topics/train.jsonl"):
        with (data_dir / rel).open(encoding="utf-8") as fh:
            corpus = {json.loads(line)["text"].strip() for line in fh}
        shared = generated & corpus
        # only stock phrases anyone writes ("خیلی بد بود", "مثل همیشه عالی") may coincide
        assert all(len(t.split()) <= 4 for t in shared), (rel, shared)
        assert len(shared) < 0.05 * len(generated)


def test_demo_end_to_end_with_the_real_analyzer(tmp_path):
    from api.cli.insights import run_demo
    from api.settings import Settings
    from indicators.compute import indicators
    from indicators.query import Slice
    from store.db import make_engine, make_sessionmaker
    from store.keys import lookup_key
    from store.migrate import upgrade
    from store.schema import Feedback, TopicMention
    from tests.apiutil import load_test_analyzer

    analyzer = load_test_analyzer()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    out = run_demo(factory, Settings(database_url=url), analyzer, n=400, end=END, seed=3, progress=False)
    assert out["records"] == 400 and out["last"] <= END
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Feedback)) == 400
        assert set(s.scalars(select(Feedback.model_version).distinct())) == {analyzer.version}
        assert s.scalar(select(func.count()).select_from(TopicMention)) > 100  # the model found topics
        assert lookup_key(s, out["key"]).role == "manager"
        # days are counted in the service's time zone (Asia/Tehran): an evening record may fall on END + 1
        r = indicators(s, Slice(END - timedelta(days=366), END + timedelta(days=1)), min_n=30)
        assert r["overall"]["volume"] == 400 and r["overall"]["csat"]["value"] is not None
        assert r["overall"]["net_sentiment"]["n"] == 400 and r["overall"]["topics"]
        # the model read the texts: its net sentiment agrees in sign with the written one
        written = generate(400, end=END, seed=3)
        net_written = sum((x.sentiment == "pos") - (x.sentiment == "neg") for x in written) / 4
        assert (r["overall"]["net_sentiment"]["value"] > 0) == (net_written > 0)
    with pytest.raises(BazkhordError) as e:
        run_demo(factory, Settings(database_url=url), analyzer, n=10, end=END, progress=False)
    assert e.value.code == "demo.not_empty"
