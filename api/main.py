"""The FastAPI application factory.

Every module in ``api/routes`` that defines ``router`` is included automatically, so features add
a routes file without touching this one.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import signal
import sys
import threading
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio.to_thread
import uvicorn
from fastapi import FastAPI
from uvicorn.server import HANDLED_SIGNALS

import api.routes
from api.analyzer_holder import AnalyzerHolder, load_startup_analyzer
from api.batcher import ArrivalMiddleware, MicroBatcher
from api.deps import KeyCache, dispose_engine, sessionmaker_for
from api.errors import install_error_handlers
from api.fastpath import AnalyzeFastPath
from api.observability import Metrics, ObservabilityMiddleware, configure_logging
from api.ratelimit import RateLimiter
from api.settings import Settings, get_settings

log = logging.getLogger("bazkhord.api")

DESCRIPTION = """تحلیل بازخورد مشتریان فارسی — Persian customer-feedback analytics.

Send an API key in `X-API-Key` (or `Authorization: Bearer <key>`). Roles: **ingest** (analyze, send
feedback, read its own records), **analyst**, **manager**, **admin**. Errors are always
`{"error": {"code", "message", "details"}}` with a 4xx status; `code` is stable.
"""


def _include_routers(app: FastAPI) -> None:
    for mod in sorted(pkgutil.iter_modules(api.routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"api.routes.{mod.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)


def create_app(settings: Settings | None = None, analyzer: Any = None, load_model: bool = True) -> FastAPI:
    """The app. ``settings`` overrides the environment's; ``analyzer`` skips loading a model at startup.

    The model loads in a background thread once the server is up, so /healthz answers at once and
    /readyz says "model loading" meanwhile; requests that need the model wait for it (``model_wait_s``).
    """
    settings = settings or get_settings()
    holder = AnalyzerHolder()
    metrics = Metrics()
    holder.on_change(metrics.set_model)
    stopping = threading.Event()
    watchers: list[Any] = []

    def start_watcher() -> None:
        # Replicas follow activations made elsewhere; an analyser injected by the caller is left alone.
        if analyzer is not None or not load_model or settings.registry_poll_seconds <= 0 or stopping.is_set():
            return
        from store.registry_watch import RegistryWatcher

        watchers.append(RegistryWatcher(sessionmaker_for(settings), holder, settings.registry_poll_seconds).start())

    def load_in_background(done: threading.Event) -> None:
        try:
            holder.set(load_startup_analyzer(settings, sessionmaker_for(settings)))
        except Exception as exc:  # serve anyway: /readyz reports it, analysis answers 503
            log.error("no model could be loaded at startup (%s)", type(exc).__name__)
        finally:
            done.set()
        start_watcher()  # after the load, so the watcher does not load the same model a second time

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # sync routes and dependencies run on this many threads (the DB pool has a connection for each)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        stopping.clear()
        if holder.get() is None and load_model:
            done = threading.Event()
            app.state.model_load_done = done
            # a daemon thread: a SIGTERM during the load does not wait for it
            threading.Thread(target=load_in_background, args=(done,), name="bazkhord-model-load", daemon=True).start()
        else:
            start_watcher()
        try:
            yield
        finally:
            # uvicorn runs this after in-flight requests have finished (or the graceful timeout passed)
            stopping.set()
            while watchers:
                watchers.pop().stop()
            dispose_engine(settings)
            log.info("application stopped")

    app = FastAPI(title="Bazkhord", description=DESCRIPTION, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings  # read by ``api.deps.app_settings`` (SettingsDep)
    app.state.analyzer_holder = holder
    app.state.model_load_done = None  # an Event while the startup load runs
    app.state.metrics = metrics
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.batcher = MicroBatcher(holder.get)
    app.state.key_cache = KeyCache(settings.auth_cache_seconds)
    if analyzer is not None:
        holder.set(analyzer)

    install_error_handlers(app)
    if settings.analyze_fast_path:
        app.add_middleware(AnalyzeFastPath, fastapi_app=app)
    app.add_middleware(ArrivalMiddleware, batcher=app.state.batcher)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    _include_routers(app)
    return app


SUPERVISOR_ENV = "BAZKHORD_SERVE_SUPERVISOR"


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that after a graceful stop it does not raise the stop signal again:
    a SIGTERM/SIGINT that let every in-flight request finish is a normal exit (status 0) of a
    single-process `bazkhord serve` (with workers, the supervisor exits 0 once they have stopped)."""

    @contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def serve_app() -> FastAPI:
    """The app of one `bazkhord serve` process (a uvicorn factory): settings and logging from the environment."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    _die_with_supervisor()
    app = create_app(settings)
    from models.heap import freeze_heap

    # after each model load (startup and swaps), from the loading thread, before requests use it
    app.state.analyzer_holder.on_change(lambda _analyzer: freeze_heap())
    return app


def _die_with_supervisor() -> None:
    """A worker of `serve --workers N` dies with its supervisor, even one killed by SIGKILL, so no orphan
    keeps serving the port (a graceful stop goes through the supervisor, which waits for its workers)."""
    parent = os.environ.get(SUPERVISOR_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if str(os.getppid()) != parent:  # the supervisor died before prctl took effect
        os._exit(1)
