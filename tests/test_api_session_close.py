"""The request session's close must not queue behind the request threads.

Under a burst, requests whose route had finished but whose session still held a connection waited for
a request thread to close it, while the threads waited for a connection from the exhausted pool: every
request of the worker stalled for the pool timeout (30 s) and some failed with ``TimeoutError``.
"""

from __future__ import annotations

import threading

import anyio
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, get_session
from api.settings import Settings


def test_a_session_in_a_transaction_closes_while_every_request_thread_is_busy(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'close.db'}", threads=1)
    release = threading.Event()
    outcome: dict[str, object] = {}

    async def main() -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        before, limiter.total_tokens = limiter.total_tokens, 1
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_in_threadpool, release.wait, 10)  # the only request thread, busy
            await anyio.sleep(0.05)
            gen = get_session(settings)
            session = await gen.__anext__()
            session.execute(text("SELECT 1"))  # the session now holds a pooled connection
            assert session.in_transaction()
            try:
                with anyio.fail_after(3):
                    await gen.__anext__()
            except StopAsyncIteration:
                outcome["closed"] = not session.in_transaction()
            except TimeoutError:
                outcome["closed"] = "waited for the busy request thread"
            finally:
                release.set()
        limiter.total_tokens = before

    anyio.run(main)
    assert outcome == {"closed": True}


def test_the_sqlite_pool_never_runs_dry(tmp_path):
    """More requests than pooled connections may hold one at once (a burst between route and close)."""
    from api.deps import get_engine, pool_size

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'pool.db'}", threads=2)
    engine = get_engine(settings)
    held, done = [], threading.Event()

    def check_out() -> None:
        for _ in range(pool_size(settings) + 12):
            held.append(engine.connect())
        done.set()

    threading.Thread(target=check_out, daemon=True).start()
    try:
        assert done.wait(5), f"connection {len(held) + 1} waited for the pool"
    finally:
        for conn in held:
            conn.close()


def _app_reading_the_pool(tmp_path, route_class):
    from fastapi import APIRouter, FastAPI
    from fastapi.testclient import TestClient
    from pydantic import BaseModel, field_validator

    from api.deps import get_engine

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'route.db'}", threads=2)
    pool = get_engine(settings).pool
    seen: list[int] = []

    class Out(BaseModel):
        one: int

        @field_validator("one")
        @classmethod
        def _count(cls, v: int) -> int:
            seen.append(pool.checkedout())  # runs while FastAPI validates the response
            return v

    router = APIRouter(route_class=route_class)

    @router.get("/one", response_model=Out)
    def one(session: SessionDep) -> dict:
        return {"one": session.execute(text("SELECT 1")).scalar_one()}

    app = FastAPI()
    app.state.settings = settings
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/one").json() == {"one": 1}
    return seen


def test_a_sync_route_gives_its_connection_back_before_its_response_is_validated(tmp_path):
    from fastapi.routing import APIRoute

    from api.deps import SessionRoute

    assert _app_reading_the_pool(tmp_path, APIRoute) == [1]  # FastAPI alone: held across the validation
    assert _app_reading_the_pool(tmp_path, SessionRoute) == [0]


def test_every_router_ends_sync_sessions_on_the_request_thread():
    from fastapi.routing import APIRoute

    from api.deps import SessionRoute
    from api.main import create_app

    app = create_app(Settings(database_url="sqlite://"), analyzer=object())
    plain = [r.path for r in app.routes if isinstance(r, APIRoute) and not isinstance(r, SessionRoute)
             and "session" in r.dependant.call.__code__.co_varnames]
    assert plain == []
