"""The FastAPI application factory.

Every module in ``api/routes`` that defines ``router`` is included automatically, so features add
a routes file without touching this one.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import api.routes
from nlp.errors import BazkhordError


def _include_routers(app: FastAPI) -> None:
    for mod in sorted(pkgutil.iter_modules(api.routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"api.routes.{mod.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)


def create_app() -> FastAPI:
    app = FastAPI(
        title="Bazkhord",
        description="تحلیل بازخورد مشتریان فارسی — Persian customer-feedback analytics",
        version="0.1.0",
    )

    @app.exception_handler(BazkhordError)
    async def _bazkhord_error(_request: Request, exc: BazkhordError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    _include_routers(app)
    return app
