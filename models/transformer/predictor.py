"""The transformer Predictor: an artifact directory → predict(docs) on ONNX Runtime (or torch).

``load_predictor(path)`` is what ``models.artifacts.load_predictor`` calls for ``"backend": "transformer"``.
With ``model.int8.onnx`` present (the default artifact) serving imports neither torch nor transformers.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.artifacts import CARD_FILE, MODEL_JSON
from models.artifacts import read_meta as read_artifact_meta
from models.artifacts import verify as verify_artifact
from models.transformer.decode import Heads, TopicInfo, decode
from models.transformer.encoding import TextEncoder
from models.transformer.runtime import ONNX_FILE, ONNX_INT8_FILE, WEIGHTS_FILE, OnnxRunner, TorchRunner
from nlp.errors import BazkhordError
from nlp.types import CleanText

BACKEND = "transformer"
RUNTIMES = ("auto", "int8", "onnx", "torch")


def taxonomy_from_dict(data: dict):
    from models.taxonomy import Taxonomy

    return Taxonomy.from_dict(data)


def topic_infos(taxonomy) -> list[TopicInfo]:
    """Topic ids, labels and seeds normalized like clean text (seed matches are the evidence)."""
    from nlp import get_pipeline

    pipeline = get_pipeline()
    infos = []
    for topic in taxonomy.topics:
        seeds = tuple(dict.fromkeys(pipeline.process(s).text for s in (topic.seeds or []) if s))
        infos.append(TopicInfo(topic.id, topic.label_fa, seeds))
    return infos


class TransformerPredictor:
    """Fine-tuned encoder + heads behind the Predictor protocol (version, taxonomy, card, predict)."""

    def __init__(self, directory: str | Path, meta: dict, runtime: str = "auto", batch_size: int = 32):
        self.directory = Path(directory)
        self.meta = meta
        self.version: str = meta["version"]
        self.taxonomy = taxonomy_from_dict(meta["taxonomy"])
        card_path = self.directory / CARD_FILE
        self.card: dict = {**meta, "model_card": card_path.read_text(encoding="utf-8") if card_path.is_file() else ""}
        tf = meta["transformer"]
        self.topics = topic_infos(self.taxonomy)
        self.thresholds = np.asarray(tf["thresholds"], dtype=np.float64)
        if len(self.thresholds) != len(self.topics):
            raise BazkhordError("model.invalid", "transformer thresholds do not match the taxonomy",
                                {"path": str(self.directory)})
        self.batch_size = batch_size
        self.encoder = TextEncoder.load(self.directory, tf["max_length"])
        self.runner = self._runner(runtime)
        self.runtime = self.runner.name if runtime != "int8" else "onnxruntime-int8"

    def _runner(self, runtime: str):
        if runtime not in RUNTIMES:
            raise BazkhordError("model.runtime_invalid", f"unknown runtime {runtime!r}", {"choices": list(RUNTIMES)})
        int8, fp32 = self.directory / ONNX_INT8_FILE, self.directory / ONNX_FILE
        if runtime in ("auto", "int8") and int8.is_file():
            return OnnxRunner(int8)
        if runtime in ("auto", "onnx") and fp32.is_file():
            return OnnxRunner(fp32)
        if runtime in ("auto", "torch") and (self.directory / WEIGHTS_FILE).is_file():
            return TorchRunner(self.directory, len(self.topics))
        raise BazkhordError("model.files_missing", f"no {runtime} weights in {self.directory}",
                            {"path": str(self.directory), "runtime": runtime})

    def heads(self, texts: Sequence[str]) -> Heads:
        """Raw logits for ``texts`` in input order (batched by length)."""
        from models.transformer.export import run_all

        return run_all(self.runner, self.encoder, texts, len(self.topics), self.batch_size)

    def predict(self, docs: Sequence[CleanText]):
        texts = [d.text for d in docs]
        return decode(texts, self.heads(texts), self.topics, self.thresholds)

    def save(self, out_dir: str | Path) -> Path:
        """Copy the artifact (model.json, card and every hashed file) to ``out_dir``."""
        out = Path(out_dir)
        if out.resolve() == self.directory.resolve():
            return out
        out.mkdir(parents=True, exist_ok=True)
        for name in [MODEL_JSON, CARD_FILE, *self.meta.get("files", {})]:
            src = self.directory / name
            if src.is_file():
                shutil.copy2(src, out / name)
        return out


def read_meta(path: str | Path, verify: bool = True) -> dict:
    """model.json of a transformer artifact, every hashed file checked unless ``verify`` is False."""
    meta = verify_artifact(path) if verify else read_artifact_meta(path)
    if meta.get("backend") != BACKEND:
        raise BazkhordError("model.backend_mismatch", f"{path} is not a transformer model",
                            {"backend": meta.get("backend")}, 422)
    if not isinstance(meta.get("transformer"), dict):
        raise BazkhordError("model.invalid", f"model.json in {path} lacks the transformer section",
                            {"path": str(path)}, 422)
    return meta


def load_predictor(path: str | Path, runtime: str = "auto", verify: bool = True) -> TransformerPredictor:
    """Load a transformer artifact; runtime 'auto' = int8 ONNX, else fp32 ONNX, else torch.

    ``verify=False`` skips re-hashing for callers that just verified (``models.artifacts.load_predictor``).
    """
    return TransformerPredictor(path, read_meta(path, verify=verify), runtime=runtime)
