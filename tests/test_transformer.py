"""Transformer backend, end to end and offline: a tiny BERT built here from ../shared/data texts is
fine-tuned through `bazkhord train --backend transformer`, exported to ONNX, quantized to int8,
loaded through the model registry's loader and the Analyzer, evaluated on held-out rows."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, require

# The `transformers` extra (torch, transformers, onnxruntime) is part of `make test`; CI requires it.
_MISSING = [m for m in ("torch", "transformers", "tokenizers", "onnxruntime", "onnx") if importlib.util.find_spec(m) is None]


@pytest.fixture(autouse=True)
def _needs_transformer_extra():
    require(not _MISSING, f"transformer extra not installed: {_MISSING}")


from models.transformer.decode import Heads, TopicInfo, decode, evidence_for  # noqa: E402
from models.transformer.export import agreement  # noqa: E402
from nlp.errors import BazkhordError  # noqa: E402

N_SENT_TRAIN, N_SENT_HELD = 1200, 300
N_TOPIC_TRAIN = 550


def _jsonl(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """A 64-wide model gains nothing from threads, and on busy shared cores OpenMP threads waiting on
    each other make it ~10x slower; restored afterwards for the rest of the session."""
    if _MISSING:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_run(data_dir: Path, tmp_path_factory) -> dict:
    """Build the tiny base model, train through the CLI, return paths and held-out records."""
    from typer.testing import CliRunner

    from api.cli import app
    from models.transformer.tiny import build_tiny_bert
    from training.data import load_records

    sentiment = _jsonl(data_dir / "snappfood" / "train.jsonl")[: N_SENT_TRAIN + N_SENT_HELD]
    topics = _jsonl(data_dir / "snappfood-topics" / "train.jsonl")
    require(len(topics) > N_TOPIC_TRAIN + 100, "snappfood-topics set too small")
    work = tmp_path_factory.mktemp("tf")
    (work / "train.jsonl").write_text("\n".join(sentiment[:N_SENT_TRAIN] + topics[:N_TOPIC_TRAIN]) + "\n",
                                      encoding="utf-8")
    (work / "held.jsonl").write_text("\n".join(sentiment[N_SENT_TRAIN:] + topics[N_TOPIC_TRAIN:]) + "\n",
                                     encoding="utf-8")
    texts = [json.loads(line)["text"] for line in sentiment[:N_SENT_TRAIN] + topics[:N_TOPIC_TRAIN]]
    base = build_tiny_bert(texts, work / "tiny-bert", vocab_size=2000, hidden_size=64, num_heads=2,
                           intermediate_size=128, max_position=64)
    out = work / "model"
    result = CliRunner().invoke(app, [
        "train", "--backend", "transformer", "--base-model", str(base), "--data", str(work / "train.jsonl"),
        "--taxonomy", str(REPO / "models" / "taxonomies" / "snappfood.yaml"),
        "--out", str(out), "--device", "auto", "--seed", "0", "--epochs", "3", "--batch-size", "32",
        "--learning-rate", "0.001", "--max-length", "48",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return {
        "base": base, "out": out, "work": work,
        "train": load_records(work / "train.jsonl").records,
        "held": load_records(work / "held.jsonl").records,
    }


def test_tiny_bert_directory_looks_like_a_hub_checkpoint(tiny_run):
    names = {p.name for p in tiny_run["base"].iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= names
    assert not any(n.endswith(".bin") for n in names)


def test_artifact_has_the_common_layout_and_card(tiny_run):
    out = tiny_run["out"]
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert meta["backend"] == "transformer"
    for key in ("version", "created", "taxonomy", "training", "metrics", "libraries", "files"):
        assert key in meta
    assert {"model.int8.onnx", "model.safetensors", "tokenizer.json", "config.json", "MODEL_CARD.md"} <= set(meta["files"])
    assert meta["training"]["counts"]["records"] == N_SENT_TRAIN + N_TOPIC_TRAIN
    assert set(meta["training"]["sets"]) == {"snappfood", "snappfood-topics"}
    assert [t["id"] for t in meta["taxonomy"]["topics"]] and len(meta["transformer"]["thresholds"]) == len(
        meta["taxonomy"]["topics"])
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "snappfood-topics" in card and "int8_agreement_sentiment" in card
    fused = meta["transformer"]["onnx"]["fused_ops"]
    assert fused.get("Attention", 0) == 2  # both layers fused for CPU


def test_it_learns_better_than_chance_on_held_out_rows(tiny_run):
    """Through the registry loader + Analyzer + the evaluation module, on rows it never saw."""
    from models.analyzer import Analyzer
    from training.evaluate import evaluate

    analyzer = Analyzer.load(tiny_run["out"])
    assert type(analyzer.predictor).__name__ == "TransformerPredictor"
    assert analyzer.predictor.runtime == "onnxruntime"
    held = tiny_run["held"]
    report = evaluate(analyzer, held)

    # Sentiment: SnappFood pos/neg is balanced, chance is 0.5 (compare pos vs neg scores only).
    sent_rows = [r for r in held if r.topics is None]
    analyses = analyzer.analyze([r.text for r in sent_rows])
    right = [(a.sentiment.scores["pos"] > a.sentiment.scores["neg"]) == (r.sentiment == "pos")
             for r, a in zip(sent_rows, analyses, strict=True)]
    assert len(right) == N_SENT_HELD
    assert np.mean(right) >= 0.65

    # Topics: beat the best constant answer (every text gets the most frequent training topic,
    # food_quality, which is in ~70% of rows: a strong baseline for a model trained from scratch on
    # 550 rows), and learn the keyword-driven delivery topic well beyond its constant answer.
    train_topic_rows = [r for r in tiny_run["train"] if r.topics is not None]
    top = max({t for r in train_topic_rows for t in r.topics},
              key=lambda t: sum(t in r.topics for r in train_topic_rows))
    held_topic_rows = [r for r in held if r.topics is not None]
    n = len(held_topic_rows)
    tp = sum(top in r.topics for r in held_topic_rows)
    constant_f1 = 2 * tp / (n + sum(len(r.topics) for r in held_topic_rows))
    assert report["topics"]["n"] == n
    # A tiny model trained for a few steps is barely above that constant overall (0.57-0.60 vs 0.55 across
    # runs), so the overall figure only has to stay level with it; learning is asserted on delivery below.
    assert report["topics"]["micro_f1"] >= constant_f1 - 0.02, (report["topics"]["micro_f1"], constant_f1)
    support = report["topics"]["per_topic"]["delivery"]["support"]
    delivery_constant = 2 * support / (n + support)
    assert report["topics"]["per_topic"]["delivery"]["f1"] >= delivery_constant + 0.1
    assert report["topic_polarity"]["n"] > 0 and report["topic_polarity"]["accuracy"] >= 0.7


def test_int8_onnx_agrees_with_torch_on_held_out_texts(tiny_run):
    from models.transformer import load_predictor
    from nlp import get_pipeline

    int8 = load_predictor(tiny_run["out"])
    fp32 = load_predictor(tiny_run["out"], runtime="torch")
    assert (int8.runtime, fp32.runtime) == ("onnxruntime", "torch")
    texts = [d.text for d in get_pipeline().process_batch([r.text for r in tiny_run["held"]])]
    agree = agreement(fp32.heads(texts), int8.heads(texts), int8.thresholds)
    assert agree["n"] == len(texts)
    assert agree["sentiment"] >= 0.99 and agree["topics"] >= 0.99, agree
    meta = json.loads((tiny_run["out"] / "model.json").read_text(encoding="utf-8"))
    assert meta["metrics"]["int8_agreement_sentiment"] >= 0.99
    assert meta["metrics"]["int8_agreement_topics"] >= 0.99


def test_analysis_contract(tiny_run):
    from models.analyzer import Analyzer

    analyzer = Analyzer.load(tiny_run["out"])
    results = analyzer.analyze(["پیک خیلی دیر رسید و غذا سرد بود", "عالی بود ممنون", ""])
    assert len(results) == 3
    ids = set(analyzer.taxonomy.ids)
    for a in results:
        d = a.to_dict()
        assert d["model"] == analyzer.version
        assert abs(sum(d["sentiment"]["scores"].values()) - 1) < 1e-3
        assert d["abstained"] == (not d["topics"])
        scores = [t["score"] for t in d["topics"]]
        assert scores == sorted(scores, reverse=True)
        assert all(t["topic"] in ids and t["sentiment"] in ("neg", "neu", "pos") for t in d["topics"])
    # Batching and padding do not change a text's result beyond int8 noise (dynamic quantization
    # scales activations per batch).
    alone = analyzer.analyze_one("پیک خیلی دیر رسید و غذا سرد بود")
    assert alone.sentiment.label == results[0].sentiment.label
    assert alone.sentiment.scores == pytest.approx(results[0].sentiment.scores, abs=5e-3)


def test_serving_imports_neither_torch_nor_transformers(tiny_run):
    code = (
        "import sys, json\n"
        "from models.artifacts import load_predictor\n"
        "from nlp import get_pipeline\n"
        f"p = load_predictor({str(tiny_run['out'])!r})\n"
        "r = p.predict(get_pipeline().process_batch(['غذا خیلی خوشمزه بود']))\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules,"
        " 'label': r[0][0].label}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"torch": False, "transformers": False, "label": out["label"]}
    assert out["label"] in ("neg", "neu", "pos")


def test_tampered_weights_are_refused(tiny_run, tmp_path):
    from models.artifacts import load_predictor
    from models.transformer import load_predictor as load_transformer

    copy = tmp_path / "model"
    load_transformer(tiny_run["out"]).save(copy)
    assert load_predictor(copy).version == load_transformer(tiny_run["out"]).version
    with (copy / "model.int8.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BazkhordError) as err:
        load_predictor(copy)
    assert err.value.code == "model.tampered"
    with pytest.raises(BazkhordError) as err:
        load_transformer(copy)
    assert err.value.code == "model.tampered"


def test_training_is_seeded_and_reproducible(tiny_run, tmp_path):
    from models.transformer import train_cli

    records = tiny_run["train"][:150] + tiny_run["train"][-60:]
    digests = []
    for run in ("a", "b"):
        p = train_cli(records, tmp_path / run, None, base_model=str(tiny_run["base"]), device="cpu", seed=7,
                      max_steps=4, batch_size=16, max_length=32, quantize=False, progress=False)
        digests.append(p.meta["files"]["model.safetensors"])
        assert p.runtime == "torch"  # no ONNX file: the torch runtime serves it
    assert digests[0] == digests[1]
    changed = train_cli(records, tmp_path / "c", None, base_model=str(tiny_run["base"]), device="cpu", seed=8,
                        max_steps=4, batch_size=16, max_length=32, quantize=False, progress=False)
    assert changed.meta["files"]["model.safetensors"] != digests[0]


# --------------------------------------------------------------------- base model and device errors


def test_hub_id_offline_names_the_missing_files(tmp_path, monkeypatch):
    from models.transformer.base import load_base

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(BazkhordError) as err:
        load_base("HooshvareLab/bert-fa-base-uncased", offline=True)
    assert err.value.code == "model.base_unavailable"
    assert "config.json" in err.value.message and "model.safetensors" in err.value.message
    assert "model.safetensors" in err.value.details["missing"]


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        ((), ["config.json", "tokenizer.json or vocab.txt", "model.safetensors"]),
        (("config.json", "vocab.txt"), ["model.safetensors"]),
        (("config.json", "vocab.txt", "pytorch_model.bin"), ["model.safetensors"]),
        (("model.safetensors", "tokenizer.json"), ["config.json"]),
    ],
)
def test_incomplete_local_base_directory(tmp_path, files, missing):
    from models.transformer.base import load_base

    for name in files:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    with pytest.raises(BazkhordError) as err:
        load_base(tmp_path)
    assert err.value.code == "model.base_incomplete"
    assert err.value.details["missing"] == missing
    if "pytorch_model.bin" in files:
        assert "convert them to safetensors" in err.value.message


def test_missing_local_path_is_not_sent_to_the_hub(tmp_path):
    from models.transformer.base import load_base

    with pytest.raises(BazkhordError) as err:
        load_base(tmp_path / "nope")
    assert err.value.code == "model.base_not_found"


def test_device_selection(monkeypatch):
    import torch

    from models.transformer.base import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(BazkhordError) as err:
        resolve_device("cuda")
    assert err.value.code == "train.device_unavailable"
    with pytest.raises(BazkhordError) as err:
        resolve_device("tpu")
    assert err.value.code == "train.device_invalid"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


# --------------------------------------------------------------------- decoding and agreement tables


@pytest.mark.parametrize(
    ("text", "seeds", "expected"),
    [
        ("پیک خیلی دیر رسید", ("پیک", "دیر رسید", "تاخیر"), ["پیک", "دیر رسید"]),
        ("غذا سرد بود", ("پیک", "تاخیر"), []),
        ("قیمت گران بود", ("", "قیمت"), ["قیمت"]),
        ("دیروز سفارش دادم", ("دیر",), []),  # whole words only
        ("پیک پیک پیک دیر رسید تاخیر ارسال", ("پیک", "دیر رسید", "تاخیر", "ارسال"), ["پیک", "دیر رسید", "تاخیر"]),
    ],
)
def test_evidence_is_the_seeds_found_in_the_text(text, seeds, expected):
    assert evidence_for(text, seeds) == expected


def _heads(sent, topics, polarity) -> Heads:
    return Heads(np.asarray(sent, dtype=np.float32), np.asarray(topics, dtype=np.float32),
                 np.asarray(polarity, dtype=np.float32))


def test_decode_thresholds_order_polarity_and_abstention():
    infos = [TopicInfo("delivery", "ارسال و پیک", ("پیک",)), TopicInfo("price", "قیمت", ("گران",))]
    logit = float(np.log(0.7 / 0.3))  # sigmoid → 0.7
    heads = _heads(
        [[3.0, 0.0, 0.0], [0.0, 0.0, 2.0]],
        [[logit, 2.0], [-3.0, -3.0]],
        [[[0, 0, 4.0], [5.0, 0, 0]], [[0, 0, 0], [0, 0, 0]]],
    )
    out = decode(["پیک آمد و گران بود", "خوب"], heads, infos, np.array([0.5, 0.5]))
    (s0, t0, a0), (s1, t1, a1) = out
    assert s0.label == "neg" and s1.label == "pos"
    assert sum(s0.scores.values()) == pytest.approx(1.0)
    assert [t.topic for t in t0] == ["price", "delivery"]  # sigmoid(2) = 0.88 > 0.7
    assert [t.sentiment for t in t0] == ["neg", "pos"]
    assert t0[1].score == pytest.approx(0.7, abs=1e-6) and t0[1].evidence == ["پیک"]
    assert t0[0].label_fa == "قیمت" and t0[0].evidence == ["گران"]
    assert not a0 and t1 == [] and a1
    # A per-topic threshold above the score drops the topic.
    out = decode(["پیک"], heads.take(np.array([0])), infos, np.array([0.75, 0.5]))
    assert [t.topic for t in out[0][1]] == ["price"]


def test_agreement_counts_sentiment_topics_and_polarity():
    a = _heads([[2, 0, 0], [0, 0, 2]], [[3, -3], [3, 3]], [[[2, 0, 0], [0, 0, 0]], [[2, 0, 0], [0, 0, 2]]])
    b = _heads([[2, 0, 0], [2, 0, 0]], [[3, -3], [3, -3]], [[[0, 0, 2], [0, 0, 0]], [[2, 0, 0], [0, 0, 2]]])
    agree = agreement(a, b, np.array([0.5, 0.5]))
    # text 0: same sentiment, topic 0 present in both but polarity differs; topic 1 absent in both.
    # text 1: sentiment differs, topic 1 present only in a.
    assert agree == {"n": 2, "sentiment": 0.5, "topics": 0.5, "texts": 0.0}
    assert agreement(a, a, np.array([0.5, 0.5])) == {"n": 2, "sentiment": 1.0, "topics": 1.0, "texts": 1.0}


def test_text_encoder_pads_and_sorts_by_length(tiny_run):
    from models.transformer.encoding import TextEncoder

    enc = TextEncoder.load(tiny_run["out"], max_length=8)
    texts = ["غذا خیلی خوشمزه و داغ بود و پیک هم به موقع رسید", "عالی", "پیک دیر رسید"]
    ids = enc.ids(texts)
    assert len(ids[0]) == 8  # truncated, [CLS] ... [SEP] kept
    assert ids[1][0] == ids[0][0] and ids[1][-1] == ids[0][-1]
    batches = list(enc.batches(texts, batch_size=2))
    assert [list(rows) for rows, _, _ in batches] == [[1, 2], [0]]
    _, input_ids, mask = batches[0]
    assert input_ids.shape == mask.shape == (2, len(ids[2]))
    assert mask[0].sum() == len(ids[1]) and (input_ids[0][mask[0] == 0] == enc.pad_id).all()
