"""Transformer backend: fine-tune any Hugging Face encoder (GPU or CPU), serve from ONNX int8 on CPU.

Importing this package is cheap: torch/transformers load only when training or with the torch runtime.
"""

from __future__ import annotations

from models.transformer.predictor import TransformerPredictor, load_predictor


def train(*args, **kwargs):
    from models.transformer.training import train as _train

    return _train(*args, **kwargs)


def train_cli(*args, **kwargs):
    from models.transformer.training import train_cli as _train_cli

    return _train_cli(*args, **kwargs)


__all__ = ["TransformerPredictor", "load_predictor", "train", "train_cli"]
