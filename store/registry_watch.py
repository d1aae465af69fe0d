"""Replicas follow the registry: a model activated through one replica reaches every replica.

Activation commits ``model_versions.is_active`` in the shared database and swaps the analyser of
the replica that served the request. Every other replica runs a ``RegistryWatcher``: a daemon
thread that reads the active version every ``interval`` seconds and, when it differs from the one
it holds, loads it and swaps its holder. A version that fails to load is logged and retried at the
next change, never half-applied (the old analyser keeps serving).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from store.registry import AnalyzerHolder, active_version, default_loader

log = logging.getLogger("bazkhord.registry")


class RegistryWatcher:
    def __init__(
        self,
        session_factory: Callable[[], Any],
        holder: AnalyzerHolder,
        interval: float = 5.0,
        loader: Callable[[str], Any] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.holder = holder
        self.interval = interval
        self.loader = loader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: str | None = None

    def check_once(self) -> bool:
        """Swap the holder if the registry's active version changed; True when it swapped."""
        with self.session_factory() as session:
            row = active_version(session)
            wanted = None if row is None else (row.version, row.path)
        if wanted is None:
            return False
        version, path = wanted
        current = getattr(self.holder.get(), "version", None)
        if version == current or version == self._failed:
            return False
        try:
            analyzer = (self.loader or default_loader)(path)
        except Exception as exc:  # keep serving the old model; try again only when the version changes
            log.error("active model version %s could not be loaded (%s)", version, type(exc).__name__)
            self._failed = version
            return False
        self._failed = None
        self.holder.set(analyzer)
        log.info("switched to model version %s from the registry", version)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception as exc:  # a database blip must not kill the watcher
                log.warning("registry poll failed (%s)", type(exc).__name__)

    def start(self) -> RegistryWatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="registry-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
            self._thread = None
