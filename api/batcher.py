"""Micro-batching for small analysis requests.

The model's cost is mostly per call (feature extraction and several classifiers), not per text, so
concurrent one-text requests are gathered for a couple of milliseconds and analysed in one call. A
request alone is analysed at once; under load, batches grow up to ``max_items`` texts. Each batch uses
the analyser that is current when it runs, so a model swap never mixes two models inside one batch.

``analyze`` blocks the calling thread; ``analyze_async`` is for async routes: the request waits on the
event loop (no worker-pool thread held, no thread hop), and a batch's results are handed back to each
loop with one wake-up.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

Waiter = Future | tuple[asyncio.AbstractEventLoop, asyncio.Future]


class Arrival:
    """One analysis request on its way to the batcher (counted from the moment it reached the app)."""

    __slots__ = ("_batcher", "_loop")

    def __init__(self, batcher: MicroBatcher, loop: asyncio.AbstractEventLoop) -> None:
        self._batcher, self._loop = batcher, loop
        counts = batcher._arriving
        counts[loop] = counts.get(loop, 0) + 1

    def done(self) -> None:
        """It reached the batcher, or ended before (an error): no longer waited for. Idempotent."""
        if self._loop is not None:
            loop, self._loop = self._loop, None
            counts = self._batcher._arriving
            counts[loop] -= 1
            if not counts[loop] and loop in self._batcher._loop_pending:
                loop.call_soon(self._batcher._flush_when_ready, loop)  # the last one it waited for


class MicroBatcher:
    def __init__(self, get_analyzer: Callable[[], Any], max_items: int = 256, max_wait_s: float = 0.002,
                 loop_max_items: int = 32, loop_max_chars: int = 8000, linger_s: float = 0.002) -> None:
        self._get = get_analyzer
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self._queue: queue.SimpleQueue[tuple[Sequence[str], Waiter]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.loop_max_items = loop_max_items
        self.loop_max_chars = loop_max_chars
        self._loop_size: dict[asyncio.AbstractEventLoop, list[int]] = {}  # [texts, characters] pending
        self._loop_pending: dict[asyncio.AbstractEventLoop, list[tuple[Sequence[str], asyncio.Future]]] = {}
        # Adaptive batching: a loop batch waits (at most ``linger_s``) for the requests that have reached
        # the app but not yet the batcher (their body and validation are being processed on the same
        # loop), so that under concurrency the model's per-call cost is shared by all of them; a request
        # alone is analysed at once.
        self.linger_s = linger_s
        self._arriving: dict[asyncio.AbstractEventLoop, int] = {}
        self._loop_started: dict[asyncio.AbstractEventLoop, float] = {}
        self._loop_timer: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}  # the linger deadline

    def _ensure_worker(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="bazkhord-batcher", daemon=True)
                    self._thread.start()

    def _analyze_now(self, texts: Sequence[str]) -> tuple[Any, list]:
        analyzer = self._get()
        return analyzer, analyzer.analyze(list(texts))

    def analyze(self, texts: Sequence[str]) -> tuple[Any, list]:
        """(analyser used, analyses of ``texts``); blocks the calling (worker-pool) thread until done."""
        if len(texts) >= self.max_items:  # big requests are a batch already
            return self._analyze_now(texts)
        self._ensure_worker()
        fut: Future = Future()
        self._queue.put((texts, fut))
        return fut.result()

    def arrival(self) -> Arrival:
        """Count a request that will call ``analyze_async`` (on the running loop) until ``done()``."""
        return Arrival(self, asyncio.get_running_loop())

    async def analyze_async(self, texts: Sequence[str], arrival: Arrival | None = None) -> tuple[Any, list]:
        """``analyze`` for a coroutine, batched on the event loop itself.

        Requests that reach this point in the same turn of the loop (requests whose bytes arrived
        together) are analysed in one call, run on the loop: no thread hand-off, no contention for the
        GIL between a worker thread and the loop, which cost more than the analysis of a short text.
        A batch holds at most ``loop_max_items`` texts and ``loop_max_chars`` characters, so the loop is
        never blocked for long (a few ms); bigger requests go to a worker thread.
        """
        if arrival is not None:
            arrival.done()
        chars = sum(len(t) for t in texts)
        if len(texts) >= self.loop_max_items or chars >= self.loop_max_chars:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self._analyze_now, texts)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        pending = self._loop_pending.get(loop)
        if pending is None:
            pending = self._loop_pending[loop] = []
            self._loop_size[loop] = [0, 0]
            self._loop_started[loop] = time.perf_counter()
            loop.call_soon(self._flush_when_ready, loop)
        pending.append((texts, fut))
        size = self._loop_size[loop]
        size[0] += len(texts)
        size[1] += chars
        if size[0] >= self.loop_max_items or size[1] >= self.loop_max_chars:
            self._flush_loop(loop)
        return await fut

    def _flush_when_ready(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush, unless requests still on their way may join within the linger time: then look again
        when the last of them arrives (``Arrival.done``) or the linger time is up, whichever comes first
        (not on every turn of the loop, which kept it spinning for as long as one of them was slow)."""
        if loop not in self._loop_pending:  # flushed already (the batch filled up)
            return
        left = self.linger_s - (time.perf_counter() - self._loop_started[loop])
        if self._arriving.get(loop, 0) > 0 and left > 0:
            if loop not in self._loop_timer:
                self._loop_timer[loop] = loop.call_later(left, self._flush_when_ready, loop)
            return
        self._flush_loop(loop)

    def _flush_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop_size.pop(loop, None)
        self._loop_started.pop(loop, None)
        timer = self._loop_timer.pop(loop, None)
        if timer is not None:
            timer.cancel()
        jobs = self._loop_pending.pop(loop, None)
        if not jobs:
            return
        try:
            analyzer = self._get()
            results = analyzer.analyze([t for texts, _ in jobs for t in texts])
        except BaseException as exc:
            for _, fut in jobs:
                if not fut.done():
                    fut.set_exception(exc)
            return
        i = 0
        for texts, fut in jobs:
            if not fut.done():
                fut.set_result((analyzer, results[i: i + len(texts)]))
            i += len(texts)

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

    def _process(self, jobs: list[tuple[Sequence[str], Waiter]]) -> None:
        try:
            analyzer = self._get()
            flat = [t for texts, _ in jobs for t in texts]
            results = analyzer.analyze(flat)
        except BaseException as exc:  # every waiting request gets the error, the worker lives on
            outcomes = [(waiter, exc, True) for _, waiter in jobs]
        else:
            outcomes, i = [], 0
            for texts, waiter in jobs:
                outcomes.append((waiter, (analyzer, results[i: i + len(texts)]), False))
                i += len(texts)
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for waiter, value, failed in outcomes:
            if isinstance(waiter, Future):
                if failed:
                    waiter.set_exception(value)
                else:
                    waiter.set_result(value)
            else:
                by_loop.setdefault(waiter[0], []).append((waiter[1], value, failed))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, items)  # one wake-up of each loop per batch
            except RuntimeError:  # the loop has closed (shutdown): nobody is waiting any more
                pass


def _resolve(items: list[tuple[asyncio.Future, Any, bool]]) -> None:
    for fut, value, failed in items:
        if fut.done():  # the request was cancelled (client gone)
            continue
        if failed:
            fut.set_exception(value)
        else:
            fut.set_result(value)


class ArrivalMiddleware:
    """Counts the analysis requests (``POST path``) from the moment they reach the app until they reach
    the batcher or end, so that a loop batch can wait for them (``MicroBatcher.linger_s``)."""

    def __init__(self, app: Any, batcher: MicroBatcher, path: str = "/v1/analyze") -> None:
        self.app, self.batcher, self.path = app, batcher, path

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        arrival = self.batcher.arrival()
        scope.setdefault("state", {})["analyze_arrival"] = arrival
        try:
            await self.app(scope, receive, send)
        finally:
            arrival.done()
