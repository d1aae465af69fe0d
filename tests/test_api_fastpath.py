"""POST /v1/analyze's fast path answers exactly what the FastAPI route answers, and only plainly valid requests."""

from __future__ import annotations

import json

import pytest

import api.fastpath
from tests.apiutil import load_test_analyzer, make_client

TEXT = "پیک خیلی دیر رسید و غذا سرد بود، شماره من ۰۹۱۲۳۴۵۶۷۸۹ است"

# (body, extra headers): valid ones first, then every kind of request the fast path must hand over
REQUESTS = [
    ({"texts": [TEXT]}, {}),
    ({"texts": [TEXT, "غذا عالی بود 😍", "کیفیت خوب ولی گرون"]}, {}),
    ({"texts": ["a" * 50]}, {"content-type": "application/json; charset=utf-8"}),
    ({"texts": []}, {}),
    ({"texts": ["  \u200c "]}, {}),
    ({"texts": ["x" * 5001]}, {}),
    ({"texts": ["ok"] * 1001}, {}),
    ({"texts": [12]}, {}),
    ({"texts": "غذا"}, {}),
    ({"texts": ["غذا"], "extra": 1}, {}),
    ([["غذا"]], {}),
    ({"texts": ["غذا"]}, {"content-type": "text/plain"}),
    ("{not json", {}),
]


@pytest.fixture(scope="module")
def analyzer():
    return load_test_analyzer()


def _send(client, key, body, extra):
    data = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"X-API-Key": key, "content-type": "application/json", **extra}
    r = client.post("/v1/analyze", content=data, headers=headers)
    return r.status_code, r.json()


def test_fast_path_answers_like_the_route(analyzer, tmp_path, monkeypatch):
    fast, fast_key = make_client(f"sqlite:///{tmp_path / 'fast.db'}", analyzer)
    slow, slow_key = make_client(f"sqlite:///{tmp_path / 'slow.db'}", analyzer, analyze_fast_path=False)
    kf, ks = fast_key("ingest"), slow_key("ingest")
    assert _send(fast, kf, {"texts": ["گرم"]}, {})[0] == 200  # the first use of a key goes through the route
    assert _send(slow, ks, {"texts": ["گرم"]}, {})[0] == 200

    answered = []

    class Counting(api.fastpath.JSONResponse):
        def __init__(self, content, *a, **k):
            answered.append(len(content["results"]))
            super().__init__(content, *a, **k)

    monkeypatch.setattr(api.fastpath, "JSONResponse", Counting)
    for body, extra in REQUESTS:
        got, want = _send(fast, kf, body, extra), _send(slow, ks, body, extra)
        assert got[0] == want[0], body
        if got[0] == 200:
            assert got[1] == want[1]
        else:  # the same error from the same code
            assert got[1]["error"]["code"] == want[1]["error"]["code"], body
    assert answered == [1, 3, 1]  # the three valid requests, and only those, took the fast path


def test_fast_path_leaves_keys_roles_and_limits_to_the_route(analyzer, tmp_path):
    client, create_key = make_client(f"sqlite:///{tmp_path / 'k.db'}", analyzer, rate_limit_per_minute=2,
                                     rate_limit_burst=2)
    manager, ingest = create_key("manager"), create_key("ingest")
    body = {"texts": ["غذا سرد بود"]}
    assert _send(client, "not-a-key", body, {})[0] == 401
    assert _send(client, manager, body, {})[0] == 403
    assert _send(client, manager, body, {})[0] == 403  # cached now, still refused
    statuses = [_send(client, ingest, body, {})[0] for _ in range(4)]
    assert statuses[:2] == [200, 200] and statuses[2:] == [429, 429]
    r = client.post("/v1/analyze", json=body, headers={"X-API-Key": ingest})
    assert r.status_code == 429 and "retry-after" in {h.lower() for h in r.headers}
