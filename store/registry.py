"""The model registry: every trained version with its card and comparison; one of them is active.

Activation loads and verifies the new analyser *before* anything changes, then flips the active
flag in one transaction, then swaps the service's analyser reference. A request in flight keeps the
analyser it started with, so a swap never fails a request; rollback is activating an older version.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nlp.errors import BazkhordError
from store.schema import ModelVersion


class AnalyzerHolder(Protocol):
    def get(self) -> Any: ...
    def set(self, analyzer: Any) -> None: ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


_CACHE_SIZE = 3  # recently served analysers kept in memory: rollback and back again are instant
_cache: OrderedDict[str, Any] = OrderedDict()
_cache_lock = threading.Lock()


def default_loader(path: str | Path):
    """Load an analyser; one served recently is reused after its files' hashes are checked again."""
    from models.analyzer import Analyzer
    from models.artifacts import verify

    key = str(Path(path).resolve())
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        verify(key)  # a tampered artifact is refused even when it is in memory
        with _cache_lock:
            _cache.move_to_end(key)
        return cached
    analyzer = Analyzer.load(path)
    with _cache_lock:
        _cache[key] = analyzer
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return analyzer


def read_card(path: str | Path) -> dict:
    card_path = Path(path) / "model.json"
    try:
        return json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BazkhordError("model.not_found", f"No model.json in {path}.", {"path": str(path)}, 404) from None
    except json.JSONDecodeError as exc:
        raise BazkhordError("model.invalid", f"model.json in {path} is not valid JSON.", {"path": str(path)}, 422) from exc


def register(
    session: Session, path: str | Path, comparison: dict | None = None, card: dict | None = None
) -> ModelVersion:
    """Add the artifact directory ``path`` to the registry (inactive; caller commits)."""
    card = card if card is not None else read_card(path)
    version = card.get("version")
    if not version:
        raise BazkhordError("model.invalid", "model.json has no version.", {"path": str(path)}, 422)
    if session.get(ModelVersion, version) is not None:
        raise BazkhordError("model.exists", f"Model version {version} is already registered.", {"version": version}, 409)
    row = ModelVersion(
        version=version,
        path=str(Path(path).resolve()),
        backend=card.get("backend", "sklearn"),
        created_at=utcnow(),
        card=card,
        comparison=comparison,
        is_active=False,
    )
    session.add(row)
    session.flush()
    return row


def ensure_registered(session: Session, path: str | Path) -> ModelVersion:
    """The registry row for ``path``'s version, registering it first if it is not there yet."""
    card = read_card(path)
    row = session.get(ModelVersion, card.get("version"))
    return row if row is not None else register(session, path, card=card)


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.version.desc())))


def get_version(session: Session, version: str) -> ModelVersion:
    row = session.get(ModelVersion, version)
    if row is None:
        raise BazkhordError("model.not_found", f"No model version {version} in the registry.", {"version": version}, 404)
    return row


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.is_active.is_(True)))


def activate(
    session: Session,
    version: str,
    holder: AnalyzerHolder | None = None,
    loader: Callable[[str], Any] | None = None,
) -> ModelVersion:
    """Make ``version`` the active model: verify + load, commit the flag, then swap the analyser."""
    row = get_version(session, version)
    analyzer = None
    if holder is not None:
        try:
            analyzer = (loader or default_loader)(row.path)
        except BazkhordError:
            raise
        except Exception as exc:
            raise BazkhordError(
                "model.load_failed", f"Model version {version} could not be loaded; nothing was changed.",
                {"version": version, "reason": type(exc).__name__}, 422,
            ) from exc
    session.execute(update(ModelVersion).where(ModelVersion.version != version).values(is_active=False))
    row.is_active = True
    row.activated_at = utcnow()
    session.commit()
    if holder is not None:
        holder.set(analyzer)
    return row


def version_to_dict(row: ModelVersion, full: bool = False) -> dict:
    card = row.card or {}
    out = {
        "version": row.version,
        "backend": row.backend,
        "created_at": row.created_at.isoformat(),
        "is_active": bool(row.is_active),
        "activated_at": row.activated_at.isoformat() if row.activated_at else None,
        "training": card.get("training"),
        "metrics": card.get("metrics"),
        "has_comparison": row.comparison is not None,
    }
    if full:
        out["path"] = row.path
        out["card"] = card
        out["comparison"] = row.comparison
    return out
