"""Two interchangeable ways to run the network on padded ids: ONNX Runtime (serving) and torch.

``OnnxRunner`` imports only onnxruntime and numpy, so a CPU server needs neither torch nor transformers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from models.transformer.decode import Heads

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_INPUTS = ("input_ids", "attention_mask")
ONNX_OUTPUTS = ("sentiment", "topics", "polarity")


class OnnxRunner:
    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # Graph fusions were applied at export; ORT's own level-99 pass is cheap and safe on top.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = threads or int(os.environ.get("BAZKHORD_ORT_THREADS", "0"))
        if threads:
            opts.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Heads:
        out = self.session.run(list(ONNX_OUTPUTS), {"input_ids": input_ids, "attention_mask": attention_mask})
        return Heads(*out)


class TorchRunner:
    name = "torch"

    def __init__(self, directory: str | Path, n_topics: int, device: str = "cpu", net=None):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.net = (net if net is not None else load_network(directory, n_topics)).to(self.device).eval()

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Heads:
        torch = self.torch
        with torch.inference_mode():
            s, t, p = self.net(
                torch.from_numpy(input_ids).to(self.device), torch.from_numpy(attention_mask).to(self.device)
            )
        return Heads(s.float().cpu().numpy(), t.float().cpu().numpy(), p.float().cpu().numpy())


def load_network(directory: str | Path, n_topics: int, attn_implementation: str | None = None):
    """FeedbackNet from an artifact's config.json + model.safetensors (never runs remote code)."""
    from safetensors.torch import load_model
    from transformers import AutoConfig

    from models.transformer.network import FeedbackNet

    config = AutoConfig.from_pretrained(str(directory), trust_remote_code=False)
    net = FeedbackNet.from_config(config, n_topics, attn_implementation=attn_implementation)
    load_model(net, str(Path(directory) / WEIGHTS_FILE))
    return net.eval()
