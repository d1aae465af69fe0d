"""/readyz: 503 with a JSON reason until the database is reachable and at the code's migration head and
the model is loaded; 200 after. The model loads in the background at startup, so readiness is observable
while it loads, and requests that need the model wait for it instead of failing."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from store.migrate import upgrade
from tests.apiutil import headers


class _Analysis:
    def to_dict(self) -> dict:
        return {"sentiment": "neutral", "topics": []}


class StubAnalyzer:
    """Readiness does not depend on what the model says, only on whether one is loaded (loads in ms)."""

    version = "stub-1"

    def analyze(self, texts: list[str]) -> list[_Analysis]:
        return [_Analysis() for _ in texts]


@pytest.fixture
def analyzer() -> StubAnalyzer:
    return StubAnalyzer()


def _settings(url: str) -> Settings:
    return Settings(database_url=url, registry_poll_seconds=0, rate_limit_per_minute=0)


def _not_ready(client: TestClient) -> dict:
    r = client.get("/readyz")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "not_ready" and body["reason"]
    return body


def test_migrations_behind_the_code_are_not_ready(tmp_path, analyzer, monkeypatch):
    import store.migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    client = TestClient(create_app(_settings(url), analyzer=analyzer))
    body = _not_ready(client)  # an empty database: no revision at all
    assert body["checks"] == {"database": True, "migrations": False, "model": True}
    assert "no revision" in body["reason"]

    upgrade(url)
    (head,) = store.migrate.head_revisions()
    assert client.get("/readyz").status_code == 200
    # the code moves on (a new migration) while the database stays at the old revision
    monkeypatch.setattr(store.migrate, "head_revisions", lambda: (f"{head}_next",))
    body = _not_ready(client)
    assert body["checks"]["migrations"] is False
    assert f"database at {head}" in body["reason"] and f"{head}_next" in body["reason"]
    monkeypatch.undo()
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready" and "reason" not in r.json()


def test_unreachable_database_is_not_ready(tmp_path, analyzer):
    client = TestClient(create_app(_settings(f"sqlite:///{tmp_path}"), analyzer=analyzer))  # a directory
    body = _not_ready(client)
    assert body["checks"]["database"] is False and "database unreachable" in body["reason"]


def test_not_ready_while_the_model_loads_and_requests_wait_for_it(tmp_path, analyzer, monkeypatch):
    import api.main

    url = f"sqlite:///{tmp_path / 'load.db'}"
    upgrade(url)
    release = threading.Event()

    def slow_load(_settings, _factory):
        assert release.wait(30)
        return analyzer

    monkeypatch.setattr(api.main, "load_startup_analyzer", slow_load)
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key

    with make_sessionmaker(make_engine(url))() as s:
        key = create_key(s, "ingest", "readyz")[1]
        s.commit()
    with TestClient(create_app(_settings(url))) as client:  # runs the lifespan: the load starts
        body = _not_ready(client)
        assert body["checks"] == {"database": True, "migrations": True, "model": False}
        assert body["reason"] == "model loading"
        assert client.get("/healthz").status_code == 200  # alive while not ready

        answer: dict = {}
        waiting = threading.Thread(target=lambda: answer.setdefault(
            "r", client.post("/v1/analyze", json={"texts": ["غذا سرد بود"]}, headers=headers(key))))
        waiting.start()
        time.sleep(0.3)
        assert "r" not in answer  # the request waits for the model rather than failing
        release.set()
        waiting.join(30)
        assert answer["r"].status_code == 200 and len(answer["r"].json()["results"]) == 1
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["model"] is True
        assert r.json()["model"] == analyzer.version


def test_a_model_that_failed_to_load_is_not_ready(tmp_path, monkeypatch):
    import api.main

    url = f"sqlite:///{tmp_path / 'fail.db'}"
    upgrade(url)

    def broken(_settings, _factory):
        raise OSError("model files missing")

    monkeypatch.setattr(api.main, "load_startup_analyzer", broken)
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key

    with make_sessionmaker(make_engine(url))() as s:
        key = create_key(s, "ingest", "readyz")[1]
        s.commit()
    with TestClient(create_app(_settings(url))) as client:
        deadline = time.monotonic() + 10
        while _not_ready(client)["reason"] == "model loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _not_ready(client)["reason"] == "no model loaded"
        t = time.monotonic()
        r = client.post("/v1/analyze", json={"texts": ["خوب"]}, headers=headers(key))
        assert r.status_code == 503 and r.json()["error"]["code"] == "model.not_loaded"
        assert time.monotonic() - t < 5  # the load is over: nothing to wait for
