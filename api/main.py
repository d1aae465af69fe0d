"""The FastAPI application factory.

Every module in ``api/routes`` that defines ``router`` is included automatically, so features add
a routes file without touching this one.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import api.routes
from api.analyzer_holder import AnalyzerHolder, load_startup_analyzer
from api.batcher import MicroBatcher
from api.deps import KeyCache
from api.errors import install_error_handlers
from api.observability import Metrics, ObservabilityMiddleware
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
    """The app. ``settings`` overrides the environment's; ``analyzer`` skips loading a model at startup."""
    settings = settings or get_settings()
    holder = AnalyzerHolder()
    metrics = Metrics()
    holder.on_change(metrics.set_model)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if holder.get() is None and load_model:
            from api.deps import _sessionmaker_for

            try:
                loaded = await run_in_threadpool(load_startup_analyzer, settings, _sessionmaker_for(settings.database_url))
                holder.set(loaded)
            except Exception as exc:  # serve anyway: /readyz reports it, analysis answers 503
                log.error("no model could be loaded at startup (%s)", type(exc).__name__)
        watcher = None
        # Replicas follow activations made elsewhere; an analyser injected by the caller is left alone.
        if analyzer is None and load_model and settings.registry_poll_seconds > 0:
            from api.deps import _sessionmaker_for
            from store.registry_watch import RegistryWatcher

            watcher = RegistryWatcher(_sessionmaker_for(settings.database_url), holder,
                                      settings.registry_poll_seconds).start()
        yield
        if watcher is not None:
            watcher.stop()

    app = FastAPI(title="Bazkhord", description=DESCRIPTION, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.analyzer_holder = holder
    app.state.metrics = metrics
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.batcher = MicroBatcher(holder.get)
    app.state.key_cache = KeyCache(settings.auth_cache_seconds)
    app.dependency_overrides[get_settings] = lambda: settings
    if analyzer is not None:
        holder.set(analyzer)

    install_error_handlers(app)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    _include_routers(app)
    return app
