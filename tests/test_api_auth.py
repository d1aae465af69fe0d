"""Keys and roles on every route, revocation, rate limit (429 + Retry-After), health, readiness, metrics."""

from __future__ import annotations

import pytest

from api.ratelimit import RateLimiter
from tests.apiutil import analyzer, api, db_url, headers, keys, make_client

_FIXTURES = (analyzer, api, db_url, keys)  # pytest finds fixtures by module name

# (method, path, body, roles that may call it)
MATRIX = [
    ("POST", "/v1/analyze", {"texts": ["غذا خوب بود"]}, {"ingest", "analyst", "admin"}),
    ("POST", "/v1/feedback", {"text": "غذا خوب بود"}, {"ingest", "admin"}),
    ("POST", "/v1/feedback/batch", {"items": [{"text": "غذا خوب بود"}]}, {"ingest", "admin"}),
    ("GET", "/v1/feedback", None, {"ingest", "analyst", "manager", "admin"}),
    ("GET", "/v1/keys", None, {"admin"}),
    ("POST", "/v1/keys", {"role": "ingest", "name": "via-api"}, {"admin"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX)
def test_roles(api, keys, method, path, body, allowed):
    client, _ = api
    for role in ("ingest", "analyst", "manager", "admin"):
        r = client.request(method, path, json=body, headers=headers(keys[role]))
        if role in allowed:
            assert r.status_code in (200, 201), (role, r.text)
        else:
            assert r.status_code == 403 and r.json()["error"]["code"] == "auth.forbidden", (role, r.text)


def test_every_non_health_route_needs_a_key(api, keys):
    """Every /v1 operation in the OpenAPI document (all features' routes) answers 401 without a valid key."""
    client, _ = api
    spec = client.get("/openapi.json").json()
    checked = 0
    for template, ops in spec["paths"].items():
        if not template.startswith("/v1/"):
            continue
        path = template.replace("{", "").replace("}", "")  # any value: auth comes before validation
        for method in ops:
            for hdrs, code in [({}, "auth.missing_key"), (headers("bzk_not-a-real-key"), "auth.invalid_key"),
                               ({"Authorization": "Bearer wrong"}, "auth.invalid_key")]:
                r = client.request(method.upper(), path, headers=hdrs)
                assert r.status_code == 401, (method, template, r.status_code)
                assert r.json()["error"]["code"] == code
            checked += 1
    assert checked >= 8
    assert client.get("/v1/feedback", headers={"Authorization": f"Bearer {keys['analyst']}"}).status_code == 200


def test_revoked_key_is_refused_at_once(api, keys):
    client, create_key = api
    key = create_key("admin", "to-revoke")
    h = headers(key)
    assert client.get("/v1/feedback", headers=h).status_code == 200
    listed = client.get("/v1/keys", headers=headers(keys["admin"])).json()["items"]
    mine = next(k for k in listed if key.startswith(k["prefix"]) and k["name"] == "to-revoke")
    assert "key" not in mine and mine["revoked_at"] is None and mine["last_used_at"] is not None
    r = client.delete(f"/v1/keys/{mine['id']}", headers=headers(keys["admin"]))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert client.get("/v1/feedback", headers=h).status_code == 401
    created = client.post("/v1/keys", json={"role": "boss", "name": "x"}, headers=headers(keys["admin"]))
    assert created.status_code == 422 and created.json()["error"]["code"] == "keys.invalid_role"


def test_rate_limit_429_with_retry_after(db_url, analyzer):
    client, create_key = make_client(db_url, analyzer, rate_limit_per_minute=3)
    a, b = headers(create_key("ingest")), headers(create_key("ingest"))
    codes = [client.get("/v1/feedback", headers=a).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/v1/feedback", headers=a)
    assert r.status_code == 429 and r.json()["error"]["code"] == "auth.rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    assert client.get("/v1/feedback", headers=b).status_code == 200  # per key
    assert client.get("/healthz").status_code == 200  # health is not limited


def test_token_bucket_refills():
    now = [0.0]
    lim = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])

    class P:
        key_id = 1

    lim.check(P)
    lim.check(P)
    with pytest.raises(Exception) as exc:
        lim.check(P)
    assert exc.value.details["retry_after_s"] == 1
    now[0] += 1.0
    lim.check(P)  # one token back after a second at 60/minute
    assert RateLimiter(per_minute=0).check(P) is None


def test_health_ready_metrics(api, keys, db_url, analyzer):
    client, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "migrations": True, "model": True}
    client.post("/v1/analyze", json={"texts": ["غذا سرد بود", "عالی"]}, headers=headers(keys["ingest"]))
    text = client.get("/metrics").text
    assert 'bazkhord_http_requests_total{method="POST",route="/v1/analyze",status="200"}' in text
    assert 'bazkhord_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/analyze"}' in text
    assert 'bazkhord_records_analyzed_total{source="analyze"}' in text
    assert f'bazkhord_model_info{{version="{analyzer.version}"}} 1.0' in text
    private, create_key = make_client(db_url, analyzer, metrics_public=False)
    assert private.get("/metrics").status_code == 401
    assert private.get("/metrics", headers=headers(create_key("ingest"))).status_code == 403
    assert private.get("/metrics", headers=headers(create_key("manager"))).status_code == 200

    # a database without migrations, and an app without a model: not ready, and says why
    from store.db import make_engine

    make_engine(f"{db_url}" if db_url.startswith("sqlite") else db_url).dispose()
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings

    bare = TestClient(create_app(Settings(database_url=db_url), load_model=False))
    r = bare.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["model"] is False and r.json()["checks"]["database"] is True
    r = bare.post("/v1/analyze", json={"texts": ["خوب"]}, headers=headers(keys["ingest"]))
    assert r.status_code == 503 and r.json()["error"]["code"] == "model.not_loaded"


def test_readyz_reports_pending_migrations(tmp_path, analyzer):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings
    from store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    client = TestClient(create_app(Settings(database_url=url), analyzer=analyzer))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"] == {"database": True, "migrations": False, "model": True}
    upgrade(url)
    assert client.get("/readyz").status_code == 200


def test_openapi_documents_the_api(api):
    client, _ = api
    spec = client.get("/openapi.json").json()
    for path in ("/v1/analyze", "/v1/feedback", "/v1/feedback/batch", "/v1/feedback/import", "/v1/feedback/{feedback_id}"):
        assert path in spec["paths"]
    example = spec["components"]["schemas"]["FeedbackIn"]["examples"][0]
    assert "پیک" in example["text"]
