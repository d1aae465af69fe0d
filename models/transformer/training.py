"""Fine-tuning: records → FeedbackNet → artifact directory (safetensors, ONNX fp32 + int8, model.json, card).

Records are duck-typed like ``training.data.Record`` (``text``, ``sentiment``, ``topics``, ``source``):
``sentiment`` None = unknown; ``topics`` None = not annotated for topics, {} = annotated, no topic.
Each loss term only sees the rows that carry its label, so sentiment-only sets and topic-annotated
sets train one network together.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from models.transformer.card import render_card
from models.transformer.decode import Heads, sigmoid
from models.transformer.encoding import TextEncoder
from models.transformer.predictor import BACKEND, TransformerPredictor, load_predictor
from models.transformer.runtime import CONFIG_FILE, ONNX_FILE, ONNX_INT8_FILE, WEIGHTS_FILE, TorchRunner
from models.types import SENTIMENTS
from nlp.errors import BazkhordError

log = logging.getLogger(__name__)
THRESHOLD_GRID = tuple(round(x, 2) for x in np.arange(0.2, 0.81, 0.05))


@dataclass
class TrainSettings:
    base_model: str
    device: str = "auto"
    seed: int = 0
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3  # fresh heads need a larger step than pre-trained weights
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    max_length: int = 128
    max_steps: int | None = None
    dev_fraction: float = 0.1
    quantize: bool = True
    keep_fp32_onnx: bool = False  # serving needs only int8; torch weights stay for re-checks
    agreement_texts: int = 512
    offline: bool | None = None


@dataclass
class Labels:
    """Targets aligned with the texts; -1 / False where a record does not carry that label."""

    sentiment: np.ndarray  # (N,) int, -1 unknown
    annotated: np.ndarray  # (N,) bool: annotated for topics
    present: np.ndarray  # (N, K) float 0/1
    polarity: np.ndarray  # (N, K) int, -1 where the topic is absent

    def take(self, rows: np.ndarray) -> Labels:
        return Labels(self.sentiment[rows], self.annotated[rows], self.present[rows], self.polarity[rows])


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def taxonomy_for(records: Sequence, taxonomy=None):
    """The given taxonomy (object or dict), else one topic per topic id found in the records."""
    from models.taxonomy import Taxonomy

    if taxonomy is None:
        return Taxonomy.from_ids(t for r in records if r.topics for t in r.topics)
    return taxonomy if isinstance(taxonomy, Taxonomy) else Taxonomy.from_dict(taxonomy)


def build_labels(records: Sequence, topic_ids: Sequence[str]) -> tuple[Labels, Counter]:
    """Targets, plus the count of topic mentions outside the taxonomy (ignored, as the sklearn backend does)."""
    index = {t: j for j, t in enumerate(topic_ids)}
    n, k = len(records), len(topic_ids)
    sentiment = np.full(n, -1, dtype=np.int64)
    annotated = np.zeros(n, dtype=bool)
    present = np.zeros((n, k), dtype=np.float32)
    polarity = np.full((n, k), -1, dtype=np.int64)
    unknown: Counter = Counter()
    for i, r in enumerate(records):
        if r.sentiment in SENTIMENTS:
            sentiment[i] = SENTIMENTS.index(r.sentiment)
        if r.topics is not None:
            annotated[i] = True
            for topic, pol in r.topics.items():
                if topic not in index:
                    unknown[topic] += 1
                    continue
                present[i, index[topic]] = 1.0
                if pol in SENTIMENTS:
                    polarity[i, index[topic]] = SENTIMENTS.index(pol)
    return Labels(sentiment, annotated, present, polarity), unknown


def split_rows(n: int, dev_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_dev = round(n * dev_fraction) if n >= 20 else 0
    return np.sort(order[n_dev:]), np.sort(order[:n_dev])


def _losses(torch, out, y: dict, pos_weight):
    """Masked sum of the three head losses for one batch."""
    f = torch.nn.functional
    s_logits, t_logits, p_logits = (o.float() for o in out)
    total = s_logits.new_zeros(())
    sent = y["sentiment"]
    if (sent >= 0).any():
        total = total + f.cross_entropy(s_logits[sent >= 0], sent[sent >= 0])
    ann = y["annotated"]
    k = y["present"].shape[1]
    if k and ann.any():
        total = total + f.binary_cross_entropy_with_logits(t_logits[ann, :k], y["present"][ann], pos_weight=pos_weight)
        pol = y["polarity"]
        mask = pol >= 0
        if mask.any():
            total = total + f.cross_entropy(p_logits[:, :k][mask], pol[mask])
    return total


def fit_network(base, texts: Sequence[str], labels: Labels, settings: TrainSettings, device: str,
                progress: bool = True):
    """Fine-tune encoder + heads; returns (net, encoder, steps, mixed_precision)."""
    import torch
    from tqdm.auto import tqdm

    from models.transformer.network import FeedbackNet

    encoder = TextEncoder(base.tokenizer, settings.max_length)
    k = labels.present.shape[1]
    net = FeedbackNet(base.encoder, base.config.hidden_size, k).to(device)
    ids = encoder.ids(texts)
    n = len(ids)
    per_epoch = max(1, math.ceil(n / settings.batch_size))
    steps = settings.max_steps or max(1, round(per_epoch * settings.epochs))

    head_params = [p for name, p in net.named_parameters() if not name.startswith("encoder.")]
    decay = [p for name, p in net.encoder.named_parameters() if p.ndim > 1]
    no_decay = [p for name, p in net.encoder.named_parameters() if p.ndim <= 1]
    optim = torch.optim.AdamW([
        {"params": decay, "lr": settings.learning_rate, "weight_decay": settings.weight_decay},
        {"params": no_decay, "lr": settings.learning_rate, "weight_decay": 0.0},
        {"params": head_params, "lr": settings.head_learning_rate, "weight_decay": 0.0},
    ])
    warmup = max(1, int(steps * settings.warmup_fraction))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup)) if s >= warmup
        else (s + 1) / warmup)

    cuda = device.startswith("cuda")
    amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp_dtype == torch.float16)
    ann = labels.annotated
    pos = labels.present[ann].sum(0) if k else np.zeros(0)
    neg = ann.sum() - pos if k else np.zeros(0)
    # Rare topics get a larger positive weight (capped) so the head does not learn "never".
    pos_weight = torch.tensor(np.clip(np.sqrt(neg / np.maximum(pos, 1)), 1.0, 10.0), dtype=torch.float32,
                              device=device) if k else None
    rng = np.random.default_rng(settings.seed)
    net.train()
    bar = tqdm(total=steps, desc="fine-tuning", unit="step", disable=not progress)
    step, order = 0, np.zeros(0, dtype=np.int64)
    while step < steps:
        if len(order) < settings.batch_size:
            order = np.concatenate([order, rng.permutation(n)])
        rows, order = order[: settings.batch_size], order[settings.batch_size :]
        input_ids, mask = encoder.pad([ids[i] for i in rows])
        y = labels.take(rows)
        batch = {
            "sentiment": torch.from_numpy(y.sentiment).to(device),
            "annotated": torch.from_numpy(y.annotated).to(device),
            "present": torch.from_numpy(y.present).to(device),
            "polarity": torch.from_numpy(y.polarity).to(device),
        }
        with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=cuda):
            out = net(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
        loss = _losses(torch, out, batch, pos_weight)
        optim.zero_grad(set_to_none=True)
        if loss.requires_grad:
            scaler.scale(loss).backward()
            scaler.unscale_(optim)
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            scaler.step(optim)
            scaler.update()
        sched.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    net.eval()
    return net, encoder, steps, bool(cuda)


def tune_thresholds(heads: Heads, labels: Labels, k: int, min_rows: int = 20) -> tuple[np.ndarray, float | None]:
    """One global topic threshold maximising dev micro-F1 (per-topic thresholds overfit small dev sets)."""
    ann = labels.annotated
    if k == 0 or ann.sum() < min_rows:
        return np.full(k, 0.5), None
    probs, gold = sigmoid(heads.topics[ann, :k]), labels.present[ann] > 0.5
    best_t, best_f1 = 0.5, -1.0
    for t in THRESHOLD_GRID:
        f1 = _micro_f1(probs >= t, gold)
        if f1 > best_f1 + 1e-9:
            best_t, best_f1 = t, f1
    return np.full(k, best_t), best_f1


def _micro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float((pred & gold).sum())
    denom = float(pred.sum() + gold.sum())
    return 2 * tp / denom if denom else 1.0


def dev_metrics(heads: Heads, labels: Labels, thresholds: np.ndarray) -> dict:
    k = len(thresholds)
    out: dict = {}
    has = labels.sentiment >= 0
    if has.any():
        pred, gold = heads.sentiment[has].argmax(1), labels.sentiment[has]
        out["n_sentiment"] = int(has.sum())
        out["sentiment_accuracy"] = float((pred == gold).mean())
        f1s = []
        for c in np.unique(gold):
            tp = float(((pred == c) & (gold == c)).sum())
            denom = float((pred == c).sum() + (gold == c).sum())
            f1s.append(2 * tp / denom if denom else 0.0)
        out["sentiment_macro_f1"] = float(np.mean(f1s))
        # Binary sets: compare pos against neg only (the data README's rule for 2-class labels).
        binary = has & (labels.sentiment != 1)
        if binary.any():
            pn = heads.sentiment[binary][:, [0, 2]].argmax(1) * 2
            out["sentiment_pos_neg_accuracy"] = float((pn == labels.sentiment[binary]).mean())
    ann = labels.annotated
    if k and ann.any():
        probs = sigmoid(heads.topics[ann, :k])
        gold = labels.present[ann] > 0.5
        pred = probs >= thresholds
        out["n_topics"] = int(ann.sum())
        out["topic_micro_f1"] = _micro_f1(pred, gold)
        pol_gold = labels.polarity[ann]
        both = gold & (pol_gold >= 0)
        if both.any():
            pol_pred = heads.polarity[ann, :k].argmax(2)
            out["topic_polarity_accuracy"] = float((pol_pred[both] == pol_gold[both]).mean())
    return out


def _libraries() -> dict:
    import importlib.metadata as md

    libs = {}
    for name in ("torch", "transformers", "tokenizers", "safetensors", "onnx", "onnxruntime", "numpy"):
        try:
            libs[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return libs


def default_version(now: datetime) -> str:
    return now.strftime("%Y.%m.%d-%H%M%S")  # the sklearn backend's format: versions sort by time


def fit_to_directory(records: Sequence, out_dir: str | Path, settings: TrainSettings, taxonomy=None,
                     version: str | None = None, progress: bool = True) -> Path:
    """The whole training path, writing a complete artifact into ``out_dir``."""
    import torch
    from safetensors.torch import save_model

    from models.artifacts import write_meta
    from models.transformer.base import load_base, resolve_device
    from models.transformer.export import agreement, export_onnx, onnx_runner, quantize_int8, run_all
    from nlp import get_pipeline

    if not records:
        raise BazkhordError("train.no_records", "no training records")
    if not any(r.sentiment in SENTIMENTS or r.topics is not None for r in records):
        raise BazkhordError("train.no_labels", "no record carries a sentiment or topic label")
    device = resolve_device(settings.device)
    seed_everything(settings.seed)
    tax = taxonomy_for(records, taxonomy)
    topic_ids = [t.id for t in tax.topics]
    labels, ignored = build_labels(records, topic_ids)
    pipeline = get_pipeline()
    texts = [d.text for d in pipeline.process_batch([r.text for r in records])]
    train_rows, dev_rows = split_rows(len(records), settings.dev_fraction, settings.seed)

    base = load_base(settings.base_model, offline=settings.offline)
    seed_everything(settings.seed)  # loading may consume RNG (random head init of missing weights)
    train_texts = [texts[i] for i in train_rows]
    net, encoder, steps, amp = fit_network(base, train_texts, labels.take(train_rows), settings, device, progress)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runner = TorchRunner(out, len(topic_ids), device=device, net=net)
    dev_texts, dev_labels = [texts[i] for i in dev_rows], labels.take(dev_rows)
    dev_heads = run_all(runner, encoder, dev_texts, len(topic_ids))
    thresholds, _ = tune_thresholds(dev_heads, dev_labels, len(topic_ids))
    metrics = {f"dev_{k}": v for k, v in dev_metrics(dev_heads, dev_labels, thresholds).items()} if len(dev_rows) else {}

    net = net.float().cpu().eval()
    base.config.save_pretrained(str(out))
    save_model(net, str(out / WEIGHTS_FILE))
    encoder.save(out)
    files = [CONFIG_FILE, WEIGHTS_FILE, "tokenizer.json"]
    export_info: dict = {}
    if settings.quantize:
        export_info = export_onnx(net, base.config, out)
        quantize_int8(out)
        # Agreement on held-out texts first, topped up with training texts when dev is small.
        check = (dev_texts + train_texts)[: settings.agreement_texts]
        cpu_runner = TorchRunner(out, len(topic_ids), device="cpu", net=net)
        with torch.inference_mode():
            ref = run_all(cpu_runner, encoder, check, len(topic_ids))
        agree = agreement(ref, run_all(onnx_runner(out, int8=True), encoder, check, len(topic_ids)), thresholds)
        metrics.update({f"int8_agreement_{k}": v for k, v in agree.items()})
        files.append(ONNX_INT8_FILE)
        if settings.keep_fp32_onnx:
            files.append(ONNX_FILE)
        else:
            (out / ONNX_FILE).unlink(missing_ok=True)

    now = datetime.now(timezone.utc)
    sources = Counter((getattr(r, "source", None) or "unknown") for r in records)
    cfg = base.config
    meta = {
        "version": version or default_version(now),
        "backend": BACKEND,
        "created": now.isoformat(timespec="seconds"),
        "taxonomy": tax.to_dict(),
        "training": {
            "sets": dict(sources),
            "counts": {
                "records": len(records), "train": len(train_rows), "dev": len(dev_rows),
                "sentiment": int((labels.sentiment >= 0).sum()), "topics_annotated": int(labels.annotated.sum()),
                **({"ignored_topics_outside_taxonomy": dict(ignored)} if ignored else {}),
            },
            "seed": settings.seed,
        },
        "metrics": metrics,
        "libraries": _libraries(),
        "transformer": {
            "base_model": base.name,
            "architecture": getattr(cfg, "model_type", "unknown"),
            "layers": getattr(cfg, "num_hidden_layers", None),
            "hidden_size": getattr(cfg, "hidden_size", None),
            "max_length": settings.max_length,
            "thresholds": [float(t) for t in thresholds],
            "epochs": settings.epochs, "steps": steps, "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate, "head_learning_rate": settings.head_learning_rate,
            "seed": settings.seed, "device": device, "mixed_precision": amp,
            "onnx": export_info,
        },
        "files": dict.fromkeys(files, ""),
    }
    write_meta(out, meta, render_card(meta))
    return out


def train(records: Sequence, taxonomy=None, *, base_model: str, progress: bool = True, version: str | None = None,
          **settings) -> TransformerPredictor:
    """Fine-tune and return the predictor (artifact in a temporary directory; ``.save(out_dir)`` keeps it)."""
    work = Path(tempfile.mkdtemp(prefix="bazkhord-tf-"))
    fit_to_directory(records, work, TrainSettings(base_model=base_model, **settings), taxonomy, version, progress)
    return load_predictor(work)


def train_cli(records: Sequence, out_dir: str | Path, taxonomy=None, *, base_model: str, device: str = "auto",
              seed: int = 0, epochs: float = 3.0, progress: bool = True, version: str | None = None,
              **settings) -> TransformerPredictor:
    """What ``bazkhord train --backend transformer`` calls: train, write ``out_dir``, return its predictor."""
    cfg = TrainSettings(base_model=base_model, device=device, seed=seed, epochs=epochs, **settings)
    fit_to_directory(records, out_dir, cfg, taxonomy, version, progress)
    return load_predictor(out_dir)
