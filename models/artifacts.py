"""Model artifact directories: ``model.json`` card + ``MODEL_CARD.md`` + weight files, hash-checked.

Every file named in ``model.json["files"]`` carries its SHA-256; loading recomputes them and refuses
a directory where any differs (``model.tampered``). Weights of the sklearn backend are skops files
loaded with an explicit allow-list of types, never pickle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nlp.errors import BazkhordError

MODEL_JSON = "model.json"
CARD_FILE = "MODEL_CARD.md"
BACKENDS = ("sklearn", "transformer")

# The only types a skops file of ours may contain beyond skops' own defaults. Anything else in a
# file (a crafted artifact, a dependency that changed) is refused before a single object is built.
TRUSTED_TYPES = frozenset(
    {
        "builtins.slice",
        "models.estimators.SentimentClassifier",
        "models.estimators.TopicClassifier",
        "models.estimators.TopicPolarityClassifier",
        "models.features.TextVectorizer",
        "numpy.dtype",
        "numpy.float32",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
    }
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_meta(path: str | Path) -> dict:
    directory = Path(path)
    meta_path = directory / MODEL_JSON
    if not meta_path.is_file():
        raise BazkhordError("model.not_found", f"No {MODEL_JSON} in {directory}.", {"path": str(directory)}, 404)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BazkhordError("model.invalid", f"{MODEL_JSON} in {directory} is not valid JSON.",
                            {"path": str(directory)}, 422) from exc
    if not isinstance(meta, dict) or not meta.get("version"):
        raise BazkhordError("model.invalid", f"{MODEL_JSON} in {directory} has no version.", {"path": str(directory)}, 422)
    return meta


def verify(path: str | Path) -> dict:
    """Check every hashed file of the artifact; return its ``model.json``.

    Raises ``model.tampered`` when a listed file is missing or its content hash differs.
    """
    directory = Path(path)
    meta = read_meta(directory)
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise BazkhordError("model.invalid", f"{MODEL_JSON} in {directory} lists no files.", {"path": str(directory)}, 422)
    for name, digest in files.items():
        f = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BazkhordError("model.invalid", f"{MODEL_JSON} names a file outside the model: {name}.",
                                {"file": name}, 422)
        if not f.is_file() or sha256_file(f) != digest:
            raise BazkhordError(
                "model.tampered",
                f"Model file {name} is missing or does not match the hash in {MODEL_JSON}; refusing to load it.",
                {"path": str(directory), "file": name},
                422,
            )
    return meta


def save_skops(obj: Any, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


def load_skops(path: Path) -> Any:
    """Load a skops file after checking its types against ``TRUSTED_TYPES``."""
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(file=path))
    unknown = sorted(untrusted - TRUSTED_TYPES)
    if unknown:
        raise BazkhordError(
            "model.untrusted_types",
            f"{path.name} contains types outside the allow-list; refusing to load it.",
            {"file": path.name, "types": unknown},
            422,
        )
    return sio.load(path, trusted=sorted(untrusted))


def write_meta(directory: Path, meta: dict, card_md: str) -> dict:
    """Hash the weight files listed in ``meta['files']`` (names), write MODEL_CARD.md and model.json."""
    (directory / CARD_FILE).write_text(card_md, encoding="utf-8")
    names = [*meta.get("files", {}), CARD_FILE]
    meta = {**meta, "files": {n: sha256_file(directory / n) for n in dict.fromkeys(names)}}
    (directory / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta


def load_predictor(path: str | Path):
    """Verify the artifact at ``path`` and build its predictor, whatever the backend."""
    directory = Path(path)
    meta = verify(directory)
    backend = meta.get("backend", "sklearn")
    if backend == "sklearn":
        from models.predictor import SklearnPredictor

        return SklearnPredictor.from_directory(directory, meta)
    if backend == "transformer":
        from models.transformer import load_predictor as load_transformer

        return load_transformer(directory, verify=False)  # verified just above
    raise BazkhordError("model.backend_unknown", f"Unknown model backend {backend!r}.",
                        {"backend": backend, "choices": list(BACKENDS)}, 422)
