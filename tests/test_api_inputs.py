"""Every bad input is a 4xx with {"error": {"code", "message", "details"}}, never a 500; /v1/analyze."""

from __future__ import annotations

import logging

import pytest

from tests.apiutil import analyzer, api, db_url, headers, keys, make_client

_FIXTURES = (analyzer, api, db_url, keys)  # pytest finds fixtures by module name

LONG = "خ" * 5001

# (body, expected status, expected error code, (field, field code) expected among details or None)
FEEDBACK_CASES = [
    ({"text": ""}, 422, "request.invalid", ("text", "field.empty_text")),
    ({"text": " \n\t\u200c "[:4]}, 422, "request.invalid", ("text", "field.empty_text")),
    ({}, 422, "request.invalid", ("text", "field.missing")),
    ({"text": 42}, 422, "request.invalid", ("text", "field.wrong_type")),
    ({"text": ["a"]}, 422, "request.invalid", ("text", "field.wrong_type")),
    ({"text": LONG}, 422, "request.invalid", ("text", "field.too_long")),
    ({"text": "خوب", "kind": "praise"}, 422, "request.invalid", ("kind", "field.invalid_choice")),
    ({"text": "خوب", "created_at": "yesterday"}, 422, "request.invalid", ("created_at", "field.invalid_date")),
    ({"text": "خوب", "created_at": "2024-02-30T10:00:00"}, 422, "request.invalid", ("created_at", "field.invalid_date")),
    ({"text": "خوب", "created_at": "1402/12/31"}, 422, "request.invalid", ("created_at", "field.invalid_date")),
    ({"text": "خوب", "created_at": "2999-01-01"}, 422, "request.invalid", ("created_at", "field.invalid_date")),
    ({"text": "خوب", "rating": 7}, 422, "request.invalid", ("rating", "field.out_of_range")),
    ({"text": "خوب", "rating": "five"}, 422, "request.invalid", ("rating", "field.wrong_type")),
    ({"text": "خوب", "nps": 11}, 422, "request.invalid", ("nps", "field.out_of_range")),
    ({"text": "خوب", "metadata": {"a": {"nested": 1}}}, 422, "request.invalid", ("metadata.a.str", "field.wrong_type")),
    ({"text": "خوب", "metadata": "x"}, 422, "request.invalid", ("metadata", "field.wrong_type")),
    ({"text": "خوب", "colour": "red"}, 422, "request.invalid", ("colour", "field.unknown")),
    ({"text": "خوب", "status": "resolved"}, 422, "request.invalid", ("status", "field.invalid_choice")),
    ({"text": "خوب", "external_id": "x" * 201}, 422, "request.invalid", ("external_id", "field.too_long")),
    ([{"text": "خوب"}], 422, "request.invalid", (None, "field.wrong_type")),
]


@pytest.mark.parametrize(("body", "status", "code", "detail"), FEEDBACK_CASES)
def test_bad_feedback_is_a_clear_4xx(api, keys, body, status, code, detail):
    client, _ = api
    r = client.post("/v1/feedback", json=body, headers=headers(keys["ingest"]))
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]
    got = {(d["field"], d["code"]) for d in err["details"]}
    assert detail in got, got


@pytest.mark.parametrize(("raw", "content_type"), [
    (b'{"text": "\xd8\xae', "application/json"),
    (b"{text: 1}", "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
])
def test_invalid_json(api, keys, raw, content_type):
    client, _ = api
    for path in ("/v1/feedback", "/v1/feedback/batch", "/v1/analyze"):
        r = client.post(path, content=raw, headers=headers(keys["admin"]) | {"content-type": content_type})
        assert r.status_code in (400, 422), (path, r.text)
        assert r.json()["error"]["code"] in ("request.invalid_json", "request.invalid")


def test_limits_are_configurable(db_url, analyzer):
    client, create_key = make_client(db_url, analyzer, max_text_chars=20, max_batch_items=3, max_analyze_items=2)
    h = headers(create_key("admin"))
    r = client.post("/v1/feedback", json={"text": "خ" * 21}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == "field.too_long"
    r = client.post("/v1/feedback/batch", json={"items": [{"text": "خوب"}] * 4}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.too_many_items"
    assert r.json()["error"]["details"]["max"] == 3
    r = client.post("/v1/analyze", json={"texts": ["الف", "ب", "پ"]}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.too_many_items"


def test_batch_shape_errors(api, keys):
    client, _ = api
    h = headers(keys["ingest"])
    for body, code in [({"items": []}, "request.empty"), ({"items": "x"}, "request.invalid"), ({}, "request.invalid"),
                       ({"items": [{"text": "a"}], "extra": 1}, "request.invalid")]:
        r = client.post("/v1/feedback/batch", json=body, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    r = client.post("/v1/feedback/batch", json={"items": [{"text": "خوب"}] * 10_001}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.too_many_items"


def test_bad_query_parameters(api, keys):
    client, _ = api
    h = headers(keys["analyst"])
    for params, field in [({"kind": "praise"}, "query.kind"), ({"since": "not-a-date"}, "query.since"),
                          ({"limit": 0}, "query.limit"), ({"limit": 501}, "query.limit"),
                          ({"sentiment": "angry"}, "query.sentiment"), ({"abstained": "maybe"}, "query.abstained")]:
        r = client.get("/v1/feedback", params=params, headers=h)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == field, r.text
    r = client.get("/v1/feedback", params={"cursor": "!!not-ours"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.invalid_cursor"
    r = client.get("/v1/feedback", params={"since": "2024-02-01T00:00:00", "until": "2024-01-01T00:00:00"}, headers=h)
    assert r.status_code == 422
    r = client.get("/v1/feedback/abc", headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "path.feedback_id"
    assert client.get("/v1/nothing-here", headers=h).json()["error"]["code"] == "http.not_found"
    assert client.delete("/v1/feedback", headers=h).json()["error"]["code"] == "http.method_not_allowed"


def test_analyze(api, keys):
    client, _ = api
    texts = ["پیک خیلی دیر رسید و غذا سرد بود", "کیفیت غذا عالی بود، ممنون"]
    r = client.post("/v1/analyze", json={"texts": texts}, headers=headers(keys["ingest"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["results"]) == 2 and body["model"]
    for res in body["results"]:
        assert set(res) == {"clean_text", "pii", "sentiment", "topics", "abstained", "model"}
        assert abs(sum(res["sentiment"]["scores"].values()) - 1) < 0.01
        assert res["abstained"] == (res["topics"] == [])
    r = client.post("/v1/analyze", json={"texts": ["خوب"] * 1000}, headers=headers(keys["ingest"]))
    assert r.status_code == 200 and len(r.json()["results"]) == 1000
    for body, code in [({"texts": []}, "request.empty"), ({"texts": ["خوب"] * 1001}, "request.too_many_items"),
                       ({"texts": ["خوب", " "]}, "request.invalid"), ({"texts": [LONG]}, "request.invalid"),
                       ({"texts": "خوب"}, "request.invalid"), ({"texts": [1]}, "request.invalid"), ({}, "request.invalid")]:
        r = client.post("/v1/analyze", json=body, headers=headers(keys["ingest"]))
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (body if len(str(body)) < 80 else code, r.text[:200])


def test_customer_text_never_logged(api, keys, caplog):
    client, _ = api
    secret = "رازمحرمانه۹۸۷"
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/feedback", json={"text": f"غذا {secret}"}, headers=headers(keys["ingest"]))
        client.post("/v1/feedback", json={"text": f"غذا {secret}", "kind": "bad"}, headers=headers(keys["ingest"]))
        client.post("/v1/analyze", json={"texts": [f"{secret}"]}, headers=headers(keys["ingest"]))
        client.post("/v1/feedback/batch", json={"items": [{"text": secret, "nps": 99}]}, headers=headers(keys["ingest"]))
    assert caplog.records  # the access log did write
    assert all(secret not in r.getMessage() for r in caplog.records)
    # error bodies do not echo the input either
    r = client.post("/v1/feedback", json={"text": secret, "rating": "x" + secret}, headers=headers(keys["ingest"]))
    assert secret not in r.text
