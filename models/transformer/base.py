"""Finding the base checkpoint (a local directory or a hub id) and the training device.

Only safetensors weights are read and ``trust_remote_code`` is never set: a checkpoint needing custom
code or pickled ``.bin`` weights is refused with an error the user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nlp.errors import BazkhordError

CONFIG = "config.json"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model", "vocab.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


@dataclass
class BaseModel:
    name: str  # what the user passed (hub id or path)
    config: object  # transformers PretrainedConfig
    encoder: object  # transformers PreTrainedModel (the bare encoder)
    tokenizer: object  # tokenizers.Tokenizer (fast backend)


def resolve_device(device: str = "auto") -> str:
    """'auto' → cuda when available, else cpu; an explicit unavailable device is an error."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BazkhordError("train.device_unavailable", f"device {device!r} requested but CUDA is not available",
                            {"device": device})
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise BazkhordError("train.device_invalid", f"unknown device {device!r} (use auto, cpu or cuda[:N])",
                            {"device": device})
    return device


def missing_local_files(directory: Path) -> list[str]:
    """The files a base-model directory lacks (names as the user should provide them)."""
    missing = []
    if not (directory / CONFIG).is_file():
        missing.append(CONFIG)
    if not any((directory / f).is_file() for f in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES[:2]))
    if not any((directory / f).is_file() for f in WEIGHT_FILES):
        missing.append(WEIGHT_FILES[0])
    return missing


def _missing_from_hub_cache(repo_id: str) -> list[str]:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return [CONFIG, "tokenizer.json or vocab.txt", WEIGHT_FILES[0]]

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(repo_id, name), str)

    missing = [] if cached(CONFIG) else [CONFIG]
    if not any(cached(f) for f in TOKENIZER_FILES):
        missing.append("tokenizer.json or vocab.txt")
    if not any(cached(f) for f in WEIGHT_FILES):
        missing.append(WEIGHT_FILES[0])
    return missing


def load_base(name: str | Path, offline: bool | None = None) -> BaseModel:
    """Config, encoder weights and fast tokenizer of ``name`` (a directory, else a hub id)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    name = str(name)
    local = Path(name).expanduser()
    kwargs: dict = {"trust_remote_code": False}
    if local.is_dir():
        missing = missing_local_files(local)
        if missing:
            has_bin = any(local.glob("*.bin"))
            hint = " (only pickled .bin weights found: convert them to safetensors)" if has_bin else ""
            raise BazkhordError("model.base_incomplete",
                                f"base model directory {local} lacks {', '.join(missing)}{hint}",
                                {"path": str(local), "missing": missing})
        source = str(local)
    else:
        if local.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1:
            raise BazkhordError("model.base_not_found", f"base model directory {name} does not exist",
                                {"path": name})
        source = name
        if offline:
            kwargs["local_files_only"] = True
    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        encoder = AutoModel.from_pretrained(source, use_safetensors=True, **kwargs)
    except OSError as exc:
        if local.is_dir():
            raise BazkhordError("model.base_unreadable", f"cannot read base model {name}: {exc}",
                                {"path": name}) from exc
        missing = _missing_from_hub_cache(name)
        raise BazkhordError(
            "model.base_unavailable",
            f"base model {name!r} could not be loaded from the hub or the local cache; missing: "
            f"{', '.join(missing) or 'model.safetensors'}. Without a hub, download the checkpoint on a connected "
            "machine (weights as safetensors: convert pickled .bin files) and pass its directory with --base-model.",
            {"model": name, "missing": missing},
        ) from exc
    except ValueError as exc:  # e.g. an architecture that needs trust_remote_code
        raise BazkhordError("model.base_unsupported", f"base model {name} cannot be loaded safely: {exc}",
                            {"model": name}) from exc
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise BazkhordError("model.base_unsupported", f"base model {name} has no fast tokenizer (tokenizer.json)",
                            {"model": name})
    return BaseModel(name=name, config=config, encoder=encoder, tokenizer=backend)
