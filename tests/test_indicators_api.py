"""The insight endpoints over HTTP: roles, parameters, errors, formats, and agreement with the library."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy.orm import Session

from indicators.bulk import bulk_insert
from indicators.demo_texts import generate
from store.db import make_engine
from store.migrate import upgrade
from tests.apiutil import headers, make_client

END = date(2024, 6, 30)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ind') / 'api.db'}"
    upgrade(url)
    with Session(make_engine(url)) as s:
        items = generate(3000, end=END, seed=3)
        bulk_insert(s, [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in items])
    client, create_key = make_client(url, None)  # the insight endpoints never run the model
    return client, create_key("manager"), create_key("ingest"), items


def test_roles(api):
    client, manager, ingest, _ = api
    assert client.get("/v1/indicators").status_code == 401
    r = client.get("/v1/indicators", headers=headers(ingest))
    assert r.status_code == 403 and r.json()["error"]["code"] == "auth.forbidden"
    for path in ("/v1/indicators", "/v1/themes/top", "/v1/themes/emerging", "/v1/alerts", "/v1/reports/management-review?format=json"):
        assert client.get(path, headers=headers(manager)).status_code == 200, path


def test_indicators_defaults_filters_and_api_agrees_with_items(api):
    client, manager, _, items = api
    r = client.get("/v1/indicators", params={"group_by": "segment", "period": "month", "calendar": "jalali"}, headers=headers(manager)).json()
    assert r["to"] == str(END) and len(r["series"]) == 12 and r["series"][-1]["period"] == "1403-04"
    in_window = [it for it in items if r["from"] <= str(it.created_at.date()) <= r["to"]]
    assert r["overall"]["volume"] == len(in_window)
    top2 = sum(it.rating >= 4 for it in in_window)
    assert r["overall"]["csat"]["value"] == pytest.approx(round(100 * top2 / len(in_window), 2))
    seg = r["groups"][0]["group"]
    f = client.get("/v1/indicators", params={"segment": seg, "channel": "اپلیکیشن"}, headers=headers(manager)).json()
    assert f["filters"] == {"segment": [seg], "channel": ["اپلیکیشن"]}
    assert f["overall"]["volume"] == sum(1 for it in in_window if it.segment == seg and it.channel == "اپلیکیشن")
    assert f["overall"]["volume"] < r["groups"][0]["volume"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"period": "fortnight"}, "indicators.bad_period"), ({"calendar": "mayan"}, "indicators.bad_calendar"),
     ({"group_by": "colour"}, "indicators.bad_group_by"), ({"weights": "delivery=2"}, "indicators.bad_weights"),
     ({"from": "2024-05-01", "to": "2024-04-01"}, "indicators.bad_window")],
)
def test_bad_parameters_are_422_with_codes(api, params, code):
    client, manager, _, _ = api
    r = client.get("/v1/indicators", params=params, headers=headers(manager))
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_themes_alerts_and_report_formats(api):
    client, manager, _, _ = api
    top = client.get("/v1/themes/top", headers=headers(manager)).json()
    assert top["themes"] and all(len(t["examples"]) <= 3 and t["key_phrases"] for t in top["themes"])
    scores = [t["score"] for t in top["themes"]]
    assert scores == sorted(scores, reverse=True)
    al = client.get("/v1/alerts", params={"period": "month"}, headers=headers(manager)).json()
    assert al["tests"] > 0 and al["current"]["period"] == "1403-03"  # Tir 1403 is not complete on 2024-06-30
    x = client.get("/v1/reports/management-review", params={"format": "xlsx"}, headers=headers(manager))
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames[:6] == ["summary", "trend", "topics", "themes", "alerts", "segments"]
    assert wb["summary"].sheet_view.rightToLeft
    h = client.get("/v1/reports/management-review", params={"format": "html"}, headers=headers(manager))
    assert h.status_code == 200 and 'dir="rtl"' in h.text and "شاخص‌های اصلی" in h.text
    j = client.get("/v1/reports/management-review", params={"format": "json"}, headers=headers(manager)).json()
    assert {k["key"] for k in j["headline"]} >= {"csat", "nps", "net_sentiment", "csi"}
    assert client.get("/v1/reports/management-review", params={"format": "pdf"}, headers=headers(manager)).status_code == 422


def test_dashboard_page_and_static_files(api):
    client = api[0]
    page = client.get("/dashboard")
    assert page.status_code == 200 and 'dir="rtl"' in page.text and "/dashboard/static/chart.umd.js" in page.text
    js = client.get("/dashboard/static/chart.umd.js")
    assert js.status_code == 200 and "Chart.js v4" in js.text[:200]
    assert client.get("/dashboard/static/..%2F..%2Fsettings.py").status_code == 404
    assert client.get("/dashboard/static/missing.js").status_code == 404
