"""ONNX export (fused for CPU) + dynamic int8 quantization + the torch/int8 agreement check."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.transformer.decode import Heads
from models.transformer.encoding import TextEncoder
from models.transformer.runtime import ONNX_FILE, ONNX_INPUTS, ONNX_INT8_FILE, ONNX_OUTPUTS, OnnxRunner

log = logging.getLogger(__name__)
OPSET = 17


def export_onnx(net, config, out_dir: str | Path) -> dict:
    """Write ``model.onnx`` (fp32, attention/LayerNorm/GELU fused by onnxruntime's transformer optimizer).

    The export uses an eager-attention copy of ``net``: SDPA exports as a decomposed graph that the
    optimizer cannot fuse, the eager graph fuses into Attention/EmbedLayerNormalization ops.
    """
    import torch

    from models.transformer.network import FeedbackNet

    out = Path(out_dir) / ONNX_FILE
    eager = FeedbackNet.from_config(config, net.n_topics, attn_implementation="eager")
    eager.load_state_dict({k: v.detach().float().cpu() for k, v in net.state_dict().items()})
    eager.eval()
    ids = torch.full((2, 16), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    axes = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    axes.update({name: {0: "batch"} for name in ONNX_OUTPUTS})
    with torch.no_grad():
        torch.onnx.export(
            eager, (ids, mask), str(out), input_names=list(ONNX_INPUTS), output_names=list(ONNX_OUTPUTS),
            dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
    fused = _fuse(out, config)
    return {"opset": OPSET, "fused_ops": fused}


def _fuse(path: Path, config) -> dict[str, int]:
    """Apply onnxruntime's BERT-family fusions in place; on an unknown architecture keep the plain graph."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        model = optimize_model(
            str(path), model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
        )
        stats = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
        model.save_model_to_file(str(path))
        return stats
    except Exception as exc:  # fusion is an optimisation only: an unfusable graph still serves
        log.warning("onnx fusion skipped: %s", type(exc).__name__)
        return {}


def quantize_int8(out_dir: str | Path) -> Path:
    """Dynamic int8 quantization of model.onnx → model.int8.onnx.

    per-channel weights and ``reduce_range`` (7-bit) keep AVX2 CPUs (no VNNI) from saturating
    u8×s8 products, which otherwise costs visible accuracy.
    """
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(out_dir) / ONNX_FILE, Path(out_dir) / ONNX_INT8_FILE
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    return dst


def run_all(runner, encoder: TextEncoder, texts: Sequence[str], n_topics: int, batch_size: int = 32) -> Heads:
    parts, orders = [], []
    for rows, ids, mask in encoder.batches(texts, batch_size):
        parts.append(runner.run(ids, mask))
        orders.append(rows)
    heads = Heads.concat(parts, n_topics)
    if not orders:
        return heads
    inverse = np.empty(len(texts), dtype=np.int64)
    inverse[np.concatenate(orders)] = np.arange(len(texts))
    return heads.take(inverse)


def agreement(a: Heads, b: Heads, thresholds: np.ndarray) -> dict:
    """How often two runtimes make the same decisions on the same texts.

    sentiment: same label; topics: same present/absent decision per (text, topic) and, where both
    say present, the same polarity; texts: every decision of the text identical.
    """
    sa, pa, qa = a.decisions(thresholds)
    sb, pb, qb = b.decisions(thresholds)
    n = len(sa)
    if n == 0:
        return {"n": 0, "sentiment": 1.0, "topics": 1.0, "texts": 1.0}
    same_topic = (pa == pb) & (~(pa & pb) | (qa == qb))
    same_text = (sa == sb) & same_topic.all(axis=1)
    return {
        "n": int(n),
        "sentiment": float((sa == sb).mean()),
        "topics": float(same_topic.mean()) if same_topic.size else 1.0,
        "texts": float(same_text.mean()),
    }


def onnx_runner(out_dir: str | Path, int8: bool) -> OnnxRunner:
    return OnnxRunner(Path(out_dir) / (ONNX_INT8_FILE if int8 else ONNX_FILE))
