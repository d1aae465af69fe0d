"""`bazkhord complaints ...`: list with filters, status changes (exit 1 on an invalid one), indicators, triage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from api.settings import Settings, get_settings
from models.types import Analysis, SentimentResult, TopicResult
from store.db import make_engine, make_sessionmaker
from store.feedback import insert_feedback
from store.schema import Base

T0 = datetime(2012, 1, 10, 9, 0)


@pytest.fixture()
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    texts = [("یه تار مو توی برنج بود", 0.9, [("hygiene", 0.9, "neg")]), ("سس رو نفرستادن", 0.6, [("order_accuracy", 0.8, "neg")])]
    with make_sessionmaker(engine)() as s:
        for i, (text, neg, topics) in enumerate(texts):
            an = Analysis(text, [], SentimentResult("neg", {"neg": neg, "neu": 1 - neg, "pos": 0.0}),
                          [TopicResult(t, t, sc, p) for t, sc, p in topics], False, "test")
            insert_feedback(s, [{"text": text, "kind": "complaint", "created_at": T0 + timedelta(hours=i)}], [an], None,
                            Settings(database_url=url, timezone="UTC"))
        s.commit()
    engine.dispose()
    monkeypatch.setenv("BAZKHORD_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str, stdin: str | None = None):
    from api.cli import app

    return CliRunner().invoke(app, list(args), input=stdin)


def test_list_and_filters(db):
    out = run("complaints", "list")
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert lines[0].startswith("2 complaint") and "urgent" in lines[1] and "safety.foreign_object" in lines[1]
    js = json.loads(run("complaints", "list", "--priority", "normal", "--json").output)
    assert js["total"] == 1 and js["items"][0]["text"] == "سس رو نفرستادن"
    assert json.loads(run("complaints", "list", "--recurrence", "systemic", "--json").output)["total"] == 0
    bad = run("complaints", "list", "--status", "done")
    assert bad.exit_code != 0 and bad.exception.code == "complaint.bad_filter"


def test_status_changes_and_indicators(db):
    ok = run("complaints", "status", "1", "--to", "acknowledged", "--actor", "sara", "--at", "2012-01-10 11:00:00")
    assert ok.exit_code == 0 and "acknowledged" in ok.output
    bad = run("complaints", "status", "1", "--to", "closed")
    assert bad.exit_code != 0
    assert bad.exception.code == "complaint.invalid_transition" and "in_progress, resolved" in bad.exception.message
    run("complaints", "status", "1", "--to", "resolved", "--note", "برگشت وجه", "--rating", "4", "--at", "2012-01-11 09:00:00")
    shown = json.loads(run("complaints", "show", "1").output)
    assert [h["to"] for h in shown["history"]] == ["received", "acknowledged", "resolved"] and shown["history"][1]["actor"] == "sara"
    ind = json.loads(run("complaints", "indicators", "--calendar", "gregorian").output)
    o = ind["overall"]
    assert o["time_to_acknowledge_hours"]["median"]["value"] == 2.0 and o["time_to_resolve_hours"]["median"]["value"] == 24.0
    assert o["handling_satisfaction"]["mean_rating"]["value"] == 4.0 and ind["periods"][0]["period"] == "2012-01"


def test_triage_reads_lines():
    out = run("complaints", "triage", stdin="ماست تاریخ گذشته بود\nغذا سرد بود\n")
    rows = [json.loads(x) for x in out.output.strip().splitlines()]
    assert [r["priority"] for r in rows] == ["high", "normal"]
