"""The common case of ``POST /v1/analyze`` without FastAPI's per-request machinery.

A one-text analysis costs the model ~0.15 ms per text in a batch; routing, dependency solving and body
validation cost about as much again. This ASGI middleware answers the requests that are plainly
valid — a cached, recently used key of an allowed role, a JSON object ``{"texts": [...]}`` of 1..limit
non-blank strings within the length limit, a loaded model — with the same checks (the functions of
``api.deps``), the same batcher and the same response bytes as ``api.routes.analyze``. Everything else
(a missing or uncached key, any invalid body, the rate limit, no model yet) goes to the FastAPI route
with the body replayed, so every error keeps its one implementation and the OpenAPI route stays the
contract. ``BAZKHORD_ANALYZE_FAST_PATH=false`` turns it off.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from starlette.requests import Request

from api.deps import _bearer, _stale, _utcnow, hash_key
from api.permissions import PERMISSIONS, api_routes
from api.schemas import is_blank
from nlp.errors import BazkhordError

PATH = "/v1/analyze"
_ALLOWED = PERMISSIONS[("POST", PATH)]


class AnalyzeFastPath:
    def __init__(self, app: Any, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app  # its state: settings, key cache, limiter, batcher, metrics
        self._route: Any = None

    def _route_of(self) -> Any:
        """The FastAPI route of ``POST /v1/analyze`` (metrics and logs label requests by its path)."""
        if self._route is None:
            self._route = next(r for r in api_routes(self.fastapi_app.routes) if r.path == PATH and "POST" in r.methods)
        return self._route

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        texts = self._plain_texts(request, body)
        state = self.fastapi_app.state
        principal = self._cached_principal(request) if texts is not None else None
        analyzer = state.analyzer_holder.get() if principal is not None else None
        limiter = getattr(state, "rate_limiter", None)
        if analyzer is not None and limiter is not None:
            try:
                limiter.check(principal)
            except BazkhordError:  # over the limit: the route answers the 429 (with Retry-After)
                analyzer = None
        if analyzer is None:
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            used, results = await state.batcher.analyze_async(texts, scope.get("state", {}).get("analyze_arrival"))
            response = JSONResponse({"model": used.version, "results": [a.to_dict() for a in results]})
        except Exception:  # nothing sent yet: the route runs it again and answers the error its usual way
            await self.app(scope, _replay(body, receive), send)
            return
        scope.setdefault("state", {})["principal"] = principal
        scope["route"] = self._route_of()
        state.metrics.analyzed.labels("analyze").inc(len(results))
        await response(scope, receive, send)

    def _plain_texts(self, request: Request, body: bytes) -> list[str] | None:
        """The texts of a body the route would accept as it is, else None."""
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if type(data) is not dict or len(data) != 1 or type(data.get("texts")) is not list:
            return None
        texts = data["texts"]
        settings = self.fastapi_app.state.settings
        if not texts or len(texts) > settings.max_analyze_items:
            return None
        limit = settings.max_text_chars
        for t in texts:
            if type(t) is not str or len(t) > limit or is_blank(t):
                return None
        return texts

    def _cached_principal(self, request: Request) -> Any:
        """The key's principal when it is in the key cache, recently used and of an allowed role, else None
        (the route then checks it: database lookup, last-use update, 401/403)."""
        key = _bearer(request)
        cache = getattr(self.fastapi_app.state, "key_cache", None)
        if not key or cache is None:
            return None
        hit = cache.get(hash_key(key))
        if hit is None or _stale(hit[1], _utcnow()) or hit[0].role not in _ALLOWED:
            return None
        return hit[0]


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the already read body to the app, then the client's next messages."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
