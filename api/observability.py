"""Prometheus metrics and the access log, as one pure-ASGI middleware (cheap on every request).

Labels use the route *template* (``/v1/feedback/{feedback_id}``), never the raw path, so cardinality
stays bounded and no identifier or text reaches a metric. The access log line holds method, route,
status, duration and the key id: never bodies, never query strings.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

access_log = logging.getLogger("bazkhord.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_LOG_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "key_id")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the request fields set by the middleware."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        out |= {k: getattr(record, k) for k in _LOG_FIELDS if hasattr(record, k)}
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__  # the type only: messages may quote input
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_format: str = "json", access_log: bool = True) -> None:
    """Root logging for the server process (and for every worker process: each configures its own)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    if log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
    logging.getLogger("bazkhord.access").disabled = not access_log
    # third-party libraries imported by hazm (gensim) log their own housekeeping at INFO;
    # alembic would log on every /readyz (it checks the revision)
    for noisy in ("gensim", "smart_open", "filelock", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One registry per app, so several apps (tests) in one process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("bazkhord_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("bazkhord_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.analyzed = Counter("bazkhord_records_analyzed", "Texts analysed by the model", ["source"],
                                registry=self.registry)
        self.stored = Counter("bazkhord_feedback_stored", "Feedback records stored", registry=self.registry)
        self.model_info = Gauge("bazkhord_model_info", "The model version being served (value 1)", ["version"],
                                registry=self.registry)

    def set_model(self, analyzer: Any) -> None:
        self.model_info.clear()
        version = getattr(analyzer, "version", None)
        if version:
            self.model_info.labels(version=str(version)).set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class ObservabilityMiddleware:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        # a caller's id is kept when it is a plain token (it goes into logs), else a fresh one
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def _send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                principal = getattr(scope.get("state", {}).get("principal", None), "key_id", None) \
                    if isinstance(scope.get("state"), dict) else None
                access_log.info("%s %s %d %.1fms key=%s", method, template, status["code"], elapsed * 1000, principal,
                                extra={"request_id": request_id, "method": method, "route": template,
                                       "status": status["code"], "duration_ms": round(elapsed * 1000, 1),
                                       "key_id": principal})
