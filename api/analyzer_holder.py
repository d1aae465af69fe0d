"""The service's current analyser, swappable while requests run.

A request takes the analyser once (``get``) and uses that object to the end, so activating a new
model version (``set``) never mixes two models inside one request and never fails one in flight.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("bazkhord.api")


class AnalyzerHolder:
    def __init__(self, analyzer: Any = None) -> None:
        self._lock = threading.Lock()
        self._analyzer = analyzer
        self._listeners: list[Any] = []

    def get(self) -> Any:
        return self._analyzer  # a plain attribute read is atomic; the lock orders writers

    def set(self, analyzer: Any) -> None:
        with self._lock:
            self._analyzer = analyzer
            listeners = list(self._listeners)
        for fn in listeners:
            fn(analyzer)

    def on_change(self, fn: Any) -> None:
        """Call ``fn(analyzer)`` after every swap (metrics use it to publish the model version)."""
        self._listeners.append(fn)

    @property
    def version(self) -> str | None:
        a = self._analyzer
        return getattr(a, "version", None) if a is not None else None


def load_startup_analyzer(settings: Any, session_factory: Any = None) -> Any:
    """The registry's active version if there is one, else ``settings.model_path`` (None = bundled)."""
    from models.analyzer import Analyzer

    if session_factory is not None:
        try:
            from store.registry import active_version

            with session_factory() as session:
                row = active_version(session)
            if row is not None and Path(row.path).is_dir():
                log.info("loading active model version %s", row.version)
                return Analyzer.load(row.path)
        except Exception as exc:  # a broken registry must not stop the default model from serving
            log.warning("active model version could not be loaded (%s); using the default model", type(exc).__name__)
    return Analyzer.load(settings.model_path)
