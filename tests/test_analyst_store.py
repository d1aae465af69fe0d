"""Gold labels, the model registry and the job runner, on a real SQLite database."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from nlp.errors import BazkhordError
from store import jobs, labels, registry
from store import taxonomy as tax_store
from store.db import make_engine, make_sessionmaker
from store.schema import Base, Feedback, GoldLabel, Job, ModelVersion
from tests.conftest import require


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request, tmp_path):
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'a.db'}"
    else:
        from tests.apiutil import _fresh_pg_database, postgres_url

        require(postgres_url() is not None, "PostgreSQL not configured (BAZKHORD_TEST_POSTGRES_URL)")
        url, drop = _fresh_pg_database(postgres_url())
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    f = make_sessionmaker(engine)
    with f() as s:
        for i, text in enumerate(["پیک دیر رسید", "غذا سرد بود", "قیمت بالا بود"], 1):
            at = datetime(2024, 1, i)
            s.add(Feedback(id=i, external_id=f"ext-{i}" if i != 3 else None, payload_hash="h", kind="comment",
                           created_at=at, received_at=at, day=at.date(), jalali_day=14021011, text=text,
                           pii_types=[], rating=1.0, rating_scale=5,
                           analysis={"sentiment": {"label": "neg"}, "topics": [], "abstained": True, "model": "m1"}))
        s.commit()
    yield f
    engine.dispose()
    if drop is not None:
        drop()


# --- gold labels ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("topics", "sentiment", "code_field"),
    [
        ({"delivery": "bad"}, "neg", "topics.delivery"),
        ({"weather": "neg"}, "neg", "topics.weather"),  # not a topic of the taxonomy
        ({"delivery": "neg"}, "angry", "sentiment"),
        (None, None, "topics"),  # nothing at all
        (["delivery"], "neg", "topics"),
    ],
)
def test_invalid_labels_rejected(factory, topics, sentiment, code_field):
    with factory() as s, pytest.raises(BazkhordError) as err:
        labels.set_labels(s, 1, topics, sentiment, "ana", topic_ids=["delivery", "price"])
    assert err.value.code == "labels.invalid" and err.value.http_status == 422
    assert any(d["field"] == code_field for d in err.value.details)


def test_labels_history_model_output_kept(factory):
    with factory() as s:
        labels.set_labels(s, 1, {"delivery": "neg"}, "neg", "ana")
        labels.set_labels(s, 1, {"delivery": "neg", "food_quality": "neu"}, "neg", "bob")
        labels.set_labels(s, 2, None, "neu", "ana")  # sentiment only: not annotated for topics
        s.commit()
        cur = labels.current_labels(s)
        assert cur[1].author == "bob" and cur[1].topics == {"delivery": "neg", "food_quality": "neu"}
        assert cur[2].topics is None
        assert len(labels.label_history(s, 1)) == 2
        assert s.get(Feedback, 1).analysis["abstained"] is True  # the model's output is untouched
        with pytest.raises(BazkhordError) as err:
            labels.set_labels(s, 99, {}, "neg", "ana")
        assert err.value.code == "feedback.not_found" and err.value.http_status == 404


def test_export_import_roundtrip(factory):
    require(importlib.util.find_spec("training.data") is not None, "training.data not there yet")
    with factory() as s:
        labels.set_labels(s, 1, {"delivery": "neg"}, "neg", "ana")
        labels.set_labels(s, 3, {"price": "neg"}, "neg", "ana")
        s.commit()
        recs = labels.labelled_records(s)
        assert [r.id for r in recs] == ["ext-1", "feedback-3"]
        assert recs[0].text == "پیک دیر رسید" and recs[0].topics == {"delivery": "neg"} and recs[0].rating == 1.0
    with factory() as s:
        s.query(GoldLabel).delete()
        s.commit()
        from training.data import Record

        extra = [
            Record(id="elsewhere-1", text="غذا سرد بود", sentiment="neg", topics={"food_quality": "neg"},
                   rating=None, rating_scale=None, created_at=None, source=None, meta={}, title=None),
            Record(id="elsewhere-2", text="متن دیگری که در پایگاه نیست", sentiment="pos", topics={},
                   rating=None, rating_scale=None, created_at=None, source=None, meta={}, title=None),
        ]
        result = labels.import_labels(s, [*recs, *extra], author="import")
        s.commit()
        assert result.imported == 3 and result.unmatched == ["elsewhere-2"]
        cur = labels.current_labels(s)
        assert cur[2].topics == {"food_quality": "neg"}  # matched by text
        assert cur[3].topics == {"price": "neg"}  # matched by the export id feedback-3


# --- registry ------------------------------------------------------------------------------------
class Holder:
    def __init__(self, value=None):
        self.value = value

    def get(self):
        return self.value

    def set(self, value):
        self.value = value


def make_artifact(root, version):
    d = root / version
    d.mkdir()
    (d / "model.json").write_text(json.dumps({"version": version, "backend": "sklearn", "training": {"n": 1},
                                              "metrics": {"f1": 0.5}}))
    return d


def test_registry_activate_and_rollback(factory, tmp_path):
    loaded = []

    def loader(path):
        loaded.append(path)
        if path.endswith("broken"):
            raise ValueError("cannot read weights")
        return f"analyzer:{path.rsplit('/', 1)[-1]}"

    holder = Holder("analyzer:bundled")
    with factory() as s:
        registry.register(s, make_artifact(tmp_path, "v1"))
        registry.register(s, make_artifact(tmp_path, "v2"), comparison={"deltas": {}})
        registry.register(s, make_artifact(tmp_path, "broken"))
        s.commit()
        with pytest.raises(BazkhordError) as err:
            registry.register(s, tmp_path / "v1")
        assert err.value.code == "model.exists" and err.value.http_status == 409
        s.rollback()
        assert registry.active_version(s) is None
        registry.activate(s, "v2", holder, loader)
        assert holder.get() == "analyzer:v2" and registry.active_version(s).version == "v2"
        registry.activate(s, "v1", holder, loader)  # rollback
        assert holder.get() == "analyzer:v1" and registry.active_version(s).version == "v1"
        with pytest.raises(BazkhordError) as err:
            registry.activate(s, "broken", holder, loader)
        assert err.value.code == "model.load_failed"
        assert holder.get() == "analyzer:v1" and registry.active_version(s).version == "v1"  # unchanged
        with pytest.raises(BazkhordError) as err:
            registry.activate(s, "v9", holder, loader)
        assert err.value.http_status == 404
        listed = [registry.version_to_dict(v) for v in registry.list_versions(s)]
        assert {d["version"] for d in listed} == {"v1", "v2", "broken"}
        assert [d["version"] for d in listed if d["is_active"]] == ["v1"]
        full = registry.version_to_dict(registry.get_version(s, "v2"), full=True)
        assert full["comparison"] == {"deltas": {}} and full["card"]["metrics"] == {"f1": 0.5}
        assert registry.ensure_registered(s, tmp_path / "v1").version == "v1"
        assert s.query(ModelVersion).count() == 3


# --- jobs ----------------------------------------------------------------------------------------
def wait_done(f, job_id, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with f() as s:
            job = s.get(Job, job_id)
            if job.status in ("succeeded", "failed"):
                return jobs.job_to_dict(job)
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_job_runs_reports_progress_and_refuses_a_second(factory):
    runner = jobs.JobRunner(factory)
    gate = threading.Event()

    def work(ctx):
        ctx.progress(0.5, "half way", force=True)
        gate.wait(5)
        return {"answer": 42}

    job = runner.start("train", {"seed": 0}, work)
    assert job["status"] == "queued"
    with pytest.raises(BazkhordError) as err:
        runner.start("train", {}, lambda ctx: {})
    assert err.value.code == "job.conflict" and err.value.http_status == 409
    # a second runner (another process) sees the running job in the database
    with pytest.raises(BazkhordError):
        jobs.JobRunner(factory).start("reanalyze", {}, lambda ctx: {})
    time.sleep(0.1)
    with factory() as s:
        mid = jobs.job_to_dict(jobs.get_job(s, job["id"]))
    assert mid["status"] == "running" and mid["progress"] == 0.5 and mid["message"] == "half way"
    gate.set()
    done = wait_done(factory, job["id"])
    assert done["status"] == "succeeded" and done["result"] == {"answer": 42} and done["progress"] == 1.0
    nxt = runner.start("reanalyze", {}, lambda ctx: {})  # free again
    assert wait_done(factory, nxt["id"])["status"] == "succeeded"


def test_failed_job_is_recorded_and_releases(factory):
    runner = jobs.JobRunner(factory)

    def boom(ctx):
        ctx.progress(0.3, force=True)
        raise BazkhordError("train.no_labels", "No gold labels to train on.")

    failed = wait_done(factory, runner.start("train", {}, boom)["id"])
    assert failed["status"] == "failed" and failed["error"] == "train.no_labels: No gold labels to train on."
    assert wait_done(factory, runner.start("train", {}, lambda ctx: None)["id"])["result"] == {}
    with factory() as s, pytest.raises(BazkhordError) as err:
        jobs.get_job(s, "nope")
    assert err.value.http_status == 404


def test_recover_orphans(factory):
    with factory() as s:
        s.add(Job(id="old", kind="train", status="running", progress=0.2, params={}, created_at=datetime(2024, 1, 1)))
        s.commit()
    runner = jobs.JobRunner(factory)
    assert runner.running() == "old"
    assert runner.recover_orphans() == 1
    assert runner.running() is None
    with Session(factory.kw["bind"]) as s:
        assert s.get(Job, "old").status == "failed"


# --- taxonomy versions ---------------------------------------------------------------------------
TAX = {"name": "food", "topics": [{"id": "delivery", "label_fa": "ارسال و پیک", "seeds": ["پیک", "دیر رسید"]},
                                  {"id": "price", "label_fa": "قیمت", "description": "price", "seeds": []}]}


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"topics": TAX["topics"]}, "name"),
        ({"name": "x", "topics": []}, "topics"),
        ({"name": "x", "topics": [{"id": "bad id!", "label_fa": "بد"}]}, "topics[0].id"),
        ({"name": "x", "topics": [{"id": "a", "label_fa": ""}]}, "topics[0].label_fa"),
        ({"name": "x", "topics": [{"id": "a", "label_fa": "الف"}, {"id": "a", "label_fa": "ب"}]}, "topics[1].id"),
        ({"name": "x", "topics": [{"id": "a", "label_fa": "الف", "seeds": ["", "پیک"]}]}, "topics[0].seeds"),
    ],
)
def test_taxonomy_validation(content, field):
    with pytest.raises(BazkhordError) as err:
        tax_store.validate(content)
    assert err.value.code == "taxonomy.invalid" and field in {d["field"] for d in err.value.details}


def test_taxonomy_versions_and_retrain_flag(factory):
    with factory() as s:
        assert tax_store.latest(s) is None
        v1 = tax_store.save(s, TAX, "ana")
        new_topic = {"id": "app", "label_fa": "اپلیکیشن", "seeds": ["اپ", "برنامه"]}
        v2 = tax_store.add_topic(s, v1.content, new_topic, "ana")
        s.commit()
        assert (v1.version, v2.version) == (1, 2) and tax_store.latest(s).version == 2
        assert [t["id"] for t in v2.content["topics"]] == ["delivery", "price", "app"]
    relabelled = {"name": "food", "topics": [dict(TAX["topics"][1], label_fa="بها"), TAX["topics"][0]]}
    assert tax_store.same_topics(TAX, relabelled)  # Persian label wording and order do not need a retrain
    assert not tax_store.same_topics(TAX, v2.content)  # a new topic does
    seeds_changed = {"name": "food", "topics": [dict(TAX["topics"][0], seeds=["پیک"]), TAX["topics"][1]]}
    assert not tax_store.same_topics(TAX, seeds_changed)


# --- re-analysis ---------------------------------------------------------------------------------
class FakeAnalyzer:
    """Finds 'delivery' when the text mentions پیک; fails on a marker text when asked to."""

    version = "fake-2"

    def __init__(self, fail_on: str | None = None):
        self.fail_on = fail_on

    def analyze(self, texts):
        from models.types import Analysis, SentimentResult, TopicResult

        out = []
        for t in texts:
            if self.fail_on and self.fail_on in t:
                raise RuntimeError("model crashed")
            topics = [TopicResult("delivery", "ارسال و پیک", 0.9, "neg", ["پیک"])] if "پیک" in t else []
            out.append(Analysis(t, [], SentimentResult("neg", {"neg": 0.8, "neu": 0.1, "pos": 0.1}), topics,
                                not topics, self.version))
        return out


def test_reanalyze_range_and_failure_leaves_records(factory):
    from store.reanalyze import reanalyze
    from store.schema import TopicMention

    with factory() as s:
        labels.set_labels(s, 1, {"delivery": "neg"}, "neg", "ana")
        s.commit()
    before = {}
    with factory() as s:
        before = {f.id: (f.model_version, f.analysis) for f in s.query(Feedback)}
    with pytest.raises(RuntimeError):
        reanalyze(factory, FakeAnalyzer(fail_on="قیمت"), batch_size=1)
    with factory() as s:
        assert {f.id: (f.model_version, f.analysis) for f in s.query(Feedback)} == before
        assert s.query(TopicMention).count() == 0
    steps = []
    result = reanalyze(factory, FakeAnalyzer(), since=datetime(2024, 1, 1), until=datetime(2024, 1, 3),
                       batch_size=1, progress=lambda f, m: steps.append(f))
    assert result["reanalyzed"] == 2 and result["model"] == "fake-2" and steps[-1] == 1.0
    with factory() as s:
        f1, f2, f3 = (s.get(Feedback, i) for i in (1, 2, 3))
        assert f1.model_version == "fake-2" and f1.abstained is False and f1.analyzed_at is not None
        assert f1.analysis["topics"][0]["topic"] == "delivery"
        assert f2.model_version == "fake-2" and f2.abstained is True
        assert f3.model_version is None  # outside the range: untouched
        mentions = s.query(TopicMention).all()
        assert [(m.feedback_id, m.topic, m.model_version, m.day) for m in mentions] == [
            (1, "delivery", "fake-2", f1.day)]
        assert labels.current_labels(s)[1].topics == {"delivery": "neg"}  # gold labels untouched


def test_served_default_model_is_registered_for_rollback(factory):
    from api.analyst_runtime import register_serving
    from models.analyzer import default_model_path

    card = registry.read_card(default_model_path())

    class Served:
        version = card["version"]

    class Other:
        version = "not-that-one"

    with factory() as s:
        register_serving(s, Other())  # a model that is not the default directory's: left alone
        assert registry.list_versions(s) == []
        register_serving(s, Served())
        row = registry.active_version(s)
        assert row.version == card["version"] and Path(row.path) == default_model_path().resolve()
        register_serving(s, Served())  # idempotent
        assert len(registry.list_versions(s)) == 1
