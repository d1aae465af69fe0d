"""Train on small slices of ../shared/data and check real behaviour end to end."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.analyzer import Analyzer
from models.artifacts import load_predictor, verify
from models.taxonomy import Taxonomy
from models.training_api import train
from nlp.errors import BazkhordError

REPO = Path(__file__).resolve().parents[1]
TAXONOMY = REPO / "models" / "taxonomies" / "snappfood.yaml"


def _read(path: Path, n: int | None = None, skip: int = 0):
    from training.data import load_records

    recs = load_records(path).records
    return recs[skip: skip + n if n is not None else None]


@pytest.fixture(scope="module")
def slices(data_dir):
    topics = _read(data_dir / "snappfood-topics" / "train.jsonl")
    return {
        "sentiment": _read(data_dir / "snappfood" / "train.jsonl", 1500),
        "topics_train": topics[:450],
        "topics_test": topics[450:],
        "dev": _read(data_dir / "snappfood" / "dev.jsonl", 600),
    }


@pytest.fixture(scope="module")
def small_model(slices, tmp_path_factory):
    # hygiene is in the taxonomy but all its labels are removed: the model must never predict it
    topic_train = [replace(r, topics={t: p for t, p in r.topics.items() if t != "hygiene"})
                   for r in slices["topics_train"]]
    predictor = train(slices["sentiment"] + topic_train, taxonomy=Taxonomy.load(TAXONOMY), progress=False)
    out = tmp_path_factory.mktemp("model")
    predictor.save(out)
    return out


@pytest.fixture(scope="module")
def analyzer(small_model):
    return Analyzer.load(small_model)


def test_sentiment_well_above_chance_on_held_out(analyzer, slices):
    dev = slices["dev"]
    out = analyzer.analyze([r.text for r in dev])
    pred = ["pos" if a.sentiment.scores["pos"] > a.sentiment.scores["neg"] else "neg" for a in out]
    acc = np.mean([p == r.sentiment for p, r in zip(pred, dev, strict=True)])
    assert acc > 0.75, acc
    for a in out[:20]:
        assert abs(sum(a.sentiment.scores.values()) - 1) < 1e-6


def test_topics_well_above_chance_and_unseen_topic_never_predicted(analyzer, slices):
    test = slices["topics_test"]
    out = analyzer.analyze([r.text for r in test])
    tp = fp = fn = 0
    pol_ok = pol_n = 0
    for a, r in zip(out, test, strict=True):
        pred = {t.topic for t in a.topics}
        assert "hygiene" not in pred
        gold = set(r.topics) - {"hygiene"}
        tp, fp, fn = tp + len(pred & gold), fp + len(pred - gold), fn + len(gold - pred)
        assert a.abstained == (not a.topics)
        for t in a.topics:
            assert t.label_fa == analyzer.taxonomy.label_fa(t.topic)
            assert 0.0 <= t.score <= 1.0
            for phrase in t.evidence:
                assert phrase in " ".join(a.clean_text.split()) or all(w in a.clean_text for w in phrase.split())
            if t.topic in r.topics:
                pol_n += 1
                pol_ok += t.sentiment == r.topics[t.topic]
    micro = 2 * tp / (2 * tp + fp + fn)
    assert micro > 0.6, micro
    assert pol_ok / pol_n > 0.7


def test_save_load_identical_predictions(analyzer, small_model, slices, tmp_path):
    texts = [r.text for r in slices["topics_test"][:80]]
    copy = tmp_path / "copy"
    load_predictor(small_model).save(copy)
    again = Analyzer.load(copy)
    assert again.version == analyzer.version
    a, b = analyzer.analyze(texts), again.analyze(texts)
    assert [x.to_dict() for x in a] == [y.to_dict() for y in b]


def test_model_json_card(small_model):
    meta = verify(small_model)
    for key in ("version", "backend", "created", "taxonomy", "training", "metrics", "libraries", "files"):
        assert key in meta
    assert meta["backend"] == "sklearn"
    assert {t["id"] for t in meta["taxonomy"]["topics"]} >= {"delivery", "hygiene"}
    assert set(meta["files"]) == {"model.skops", "MODEL_CARD.md"}
    card = (small_model / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "snappfood" in card and "ارسال و پیک" in card


def test_tampered_artifact_refused(small_model, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(small_model, bad)
    data = bytearray((bad / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.skops").write_bytes(bytes(data))
    with pytest.raises(BazkhordError) as e:
        Analyzer.load(bad)
    assert e.value.code == "model.tampered"
    (bad / "model.skops").unlink()
    with pytest.raises(BazkhordError) as e:
        Analyzer.load(bad)
    assert e.value.code == "model.tampered"


class Smuggled:
    """A type no allow-list names: loading it could run arbitrary code in a real attack."""


def test_untrusted_type_refused_even_with_matching_hash(small_model, tmp_path):
    import skops.io as sio

    from models.artifacts import sha256_file

    bad = tmp_path / "evil"
    shutil.copytree(small_model, bad)
    sio.dump({"vectorizer": Smuggled(), "sentiment": None}, bad / "model.skops")
    meta = json.loads((bad / "model.json").read_text(encoding="utf-8"))
    meta["files"]["model.skops"] = sha256_file(bad / "model.skops")
    (bad / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(BazkhordError) as e:
        Analyzer.load(bad)
    assert e.value.code == "model.untrusted_types"


def test_missing_model_dir(tmp_path):
    with pytest.raises(BazkhordError) as e:
        Analyzer.load(tmp_path)
    assert e.value.code == "model.not_found"


def test_cold_start_from_seeds_only(slices):
    """No topic labels at all: seeds weakly label unlabelled texts, and the model finds topics."""
    tax = Taxonomy.load(TAXONOMY)
    unlabelled = [r.text for r in slices["sentiment"][:1000]]
    predictor = train(slices["sentiment"][:300], taxonomy=tax, unlabelled=unlabelled, progress=False)
    assert predictor.meta["training"]["cold_start"] is True
    assert predictor.meta["training"]["counts"]["weak_labelled"] > 100
    from nlp import get_pipeline

    test = slices["topics_test"]
    out = predictor.predict(get_pipeline().process_batch([r.text for r in test]))
    tp = fp = fn = 0
    for (_, tl, _), r in zip(out, test, strict=True):
        pred, gold = {t.topic for t in tl}, set(r.topics)
        tp, fp, fn = tp + len(pred & gold), fp + len(pred - gold), fn + len(gold - pred)
    assert 2 * tp / (2 * tp + fp + fn) > 0.4
