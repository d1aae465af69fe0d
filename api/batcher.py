"""Micro-batching for small analysis requests.

The model's cost is mostly per call (feature extraction and several classifiers), not per text, so
concurrent one-text requests are gathered for a couple of milliseconds and analysed in one call. A
request alone is analysed at once; under load, batches grow up to ``max_items`` texts. Each batch uses
the analyser that is current when it runs, so a model swap never mixes two models inside one batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


class MicroBatcher:
    def __init__(self, get_analyzer: Callable[[], Any], max_items: int = 256, max_wait_s: float = 0.002) -> None:
        self._get = get_analyzer
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[tuple[Sequence[str], Future]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_worker(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="bazkhord-batcher", daemon=True)
                    self._thread.start()

    def analyze(self, texts: Sequence[str]) -> tuple[Any, list]:
        """(analyser used, analyses of ``texts``); blocks the calling (worker-pool) thread until done."""
        if len(texts) >= self.max_items:  # big requests are a batch already
            analyzer = self._get()
            return analyzer, analyzer.analyze(list(texts))
        self._ensure_worker()
        fut: Future = Future()
        self._queue.put((texts, fut))
        return fut.result()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            n = len(jobs[0][0])
            deadline = time.perf_counter() + self.max_wait_s
            while n < self.max_items:
                remaining = deadline - time.perf_counter()
                try:
                    job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                n += len(job[0])
            self._process(jobs)

    def _process(self, jobs: list[tuple[Sequence[str], Future]]) -> None:
        try:
            analyzer = self._get()
            flat = [t for texts, _ in jobs for t in texts]
            results = analyzer.analyze(flat)
        except BaseException as exc:  # every waiting request gets the error, the worker lives on
            for _, fut in jobs:
                fut.set_exception(exc)
            return
        i = 0
        for texts, fut in jobs:
            fut.set_result((analyzer, results[i : i + len(texts)]))
            i += len(texts)
