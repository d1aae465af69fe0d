"""Complaint intake (triage + lifecycle + recurrence on the insert path) and the complaint API.

Records go through the real insert path (``store.feedback.insert_feedback``) with analyses written
out by hand, so these tests do not depend on a trained model; SQLite and PostgreSQL both run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from api.settings import Settings
from models.types import Analysis, SentimentResult, TopicResult
from store.db import make_engine, make_sessionmaker
from store.feedback import insert_feedback
from store.schema import Feedback, StatusEvent
from tests.apiutil import db_url, headers, make_client, unique  # noqa: F401  (db_url is a fixture)

T0 = datetime(2011, 5, 1, 9, 0)  # far from the dates other test modules write


def analysis(text: str, neg: float, topics: list[tuple[str, float, str]] = ()) -> Analysis:
    pos = round((1 - neg) * 0.8, 4)
    scores = {"neg": neg, "neu": round(1 - neg - pos, 4), "pos": pos}
    label = max(scores, key=scores.get)
    return Analysis(
        clean_text=text, pii=[], sentiment=SentimentResult(label, scores),
        topics=[TopicResult(t, t, s, p) for t, s, p in topics], abstained=not topics, model="test",
    )


@pytest.fixture(scope="module")
def world(db_url):  # noqa: F811
    """A client, keys, and a stream of complaints stored through the insert path."""
    client, create_key = make_client(db_url, analyzer=None)
    keys = {r: create_key(r, r) for r in ("ingest", "analyst", "manager")} | {"ingest2": create_key("ingest", "ingest2")}
    factory = make_sessionmaker(make_engine(db_url))
    seg = unique("seg")
    burger, pizza = unique("burger"), unique("pizza")
    settings = Settings(database_url=db_url, timezone="UTC")
    with factory() as s:
        from store.schema import ApiKey

        ingest_id = s.query(ApiKey.id).filter(ApiKey.name == "ingest").order_by(ApiKey.id.desc()).first()[0]
        rows = [
            # (name, item, analysis)
            ("cockroach", {"kind": "complaint", "product": pizza, "text": "یه سوسک توی غذا بود"},
             analysis("یه سوسک توی غذا بود", 0.9, [("hygiene", 0.9, "neg")])),
            ("late1", {"kind": "complaint", "product": burger, "text": "پیک دو ساعت دیر رسید"},
             analysis("پیک دو ساعت دیر رسید", 0.7, [("delivery", 0.9, "neg")])),
            ("late2", {"kind": "complaint", "product": burger, "text": "باز هم غذا خیلی دیر رسید و سرد بود"},
             analysis("باز هم غذا خیلی دیر رسید و سرد بود", 0.8, [("delivery", 0.8, "neg")])),
            ("late3", {"kind": "complaint", "product": burger, "text": "پیک یک ساعت دیر اومد"},
             analysis("پیک یک ساعت دیر اومد", 0.7, [("delivery", 0.7, "neg")])),
            ("praise", {"kind": "comment", "product": burger, "text": "عالی بود ممنون"}, analysis("عالی بود ممنون", 0.05)),
            ("grumble", {"kind": "comment", "product": burger, "text": "قیمت‌ها بالا رفته"},
             analysis("قیمت‌ها بالا رفته", 0.7, [("price", 0.8, "neg")])),
            ("repeat1", {"kind": "complaint", "text": "کارت هدیه اعمال نشد", "metadata": {"customer_id": "c-1"}},
             analysis("کارت هدیه اعمال نشد", 0.6)),
            ("repeat2", {"kind": "complaint", "text": "هنوز کارت هدیه اعمال نشده", "metadata": {"customer_id": "c-1"}},
             analysis("هنوز کارت هدیه اعمال نشده", 0.6)),
            ("sick", {"kind": "comment", "text": "بعد از خوردن ساندویچ حالم بد شد"},
             analysis("بعد از خوردن ساندویچ حالم بد شد", 0.8)),
        ]
        ids = {}
        for k, (name, item, an) in enumerate(rows):
            item = {**item, "segment": seg, "created_at": T0 + timedelta(days=k)}
            (fb,) = insert_feedback(s, [item], [an], ingest_id, settings)
            ids[name] = fb.id
        s.commit()
    return {"client": client, "keys": keys, "ids": ids, "factory": factory, "seg": seg, "burger": burger}


def get(world, name):
    with world["factory"]() as s:
        fb = s.get(Feedback, world["ids"][name])
        events = s.query(StatusEvent).filter(StatusEvent.feedback_id == fb.id).order_by(StatusEvent.id).all()
        return fb, [(e.from_status, e.to_status, e.actor) for e in events]


def test_intake_triages_and_starts_the_lifecycle(world):
    fb, events = get(world, "cockroach")
    assert (fb.status, fb.priority, fb.status_at) == ("received", "urgent", T0)
    codes = [r["code"] for r in fb.priority_reasons]
    assert codes[0] == "safety.foreign_object" and "model.safety_topic" in codes
    assert events == [(None, "received", "system:intake")]
    praise, events = get(world, "praise")
    assert (praise.status, praise.priority, events) == (None, None, [])  # a positive comment is not a complaint
    grumble, events = get(world, "grumble")
    # a negative comment is triaged, but enters complaint handling only from priority high (track_from)
    assert (grumble.status, grumble.priority, events) == (None, "normal", [])
    sick, events = get(world, "sick")
    assert (sick.status, sick.priority) == ("received", "urgent") and events == [(None, "received", "system:intake")]


def test_intake_recurrence_and_repeat_contact(world):
    late = [get(world, n)[0] for n in ("late1", "late2", "late3")]
    assert [fb.recurrence for fb in late] == ["recurring"] * 3  # the first two lifted when the third came
    assert late[2].related_ids == sorted([late[0].id, late[1].id])
    assert late[0].related_ids == [late[2].id]
    assert any(r["code"] == "recurrence.recurring" for r in late[0].priority_reasons)
    r1, _ = get(world, "repeat1")
    r2, _ = get(world, "repeat2")
    assert r1.priority == "normal"
    assert r2.priority == "high" and "repeat.contact_history" in [r["code"] for r in r2.priority_reasons]


def test_status_lifecycle_over_the_api(world):
    c, k = world["client"], world["keys"]
    fid = world["ids"]["late1"]
    url = f"/v1/feedback/{fid}/status"
    at = (T0 + timedelta(days=1, hours=3)).isoformat()
    r = c.patch(url, json={"status": "acknowledged", "at": at}, headers=headers(k["analyst"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acknowledged" and body["allowed_transitions"] == ["in_progress", "resolved"]
    assert [h["to"] for h in body["history"]] == ["received", "acknowledged"] and body["history"][1]["actor"] == "analyst"
    r = c.patch(url, json={"status": "closed"}, headers=headers(k["analyst"]))
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "complaint.invalid_transition" and err["details"]["allowed"] == ["in_progress", "resolved"]
    r = c.patch(url, json={"status": "in_progress", "handling_rating": 4}, headers=headers(k["analyst"]))
    assert r.status_code == 409 and r.json()["error"]["code"] == "complaint.rating_too_early"
    resolve_at = (T0 + timedelta(days=2)).isoformat()
    r = c.patch(url, json={"status": "resolved", "note": "هزینه ارسال برگشت داده شد", "handling_rating": 5, "at": resolve_at},
                headers=headers(k["manager"]))
    assert r.status_code == 200 and r.json()["handling_rating"] == 5 and r.json()["resolution_note"]
    r = c.patch(url, json={"status": "done"}, headers=headers(k["analyst"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "request.invalid"
    r = c.patch(url, json={}, headers=headers(k["analyst"]))
    assert r.status_code == 422
    r = c.patch("/v1/feedback/999999999/status", json={"status": "acknowledged"}, headers=headers(k["analyst"]))
    assert r.status_code == 404


def test_ingest_keys_see_only_their_records(world):
    c, k = world["client"], world["keys"]
    fid = world["ids"]["late2"]
    r = c.patch(f"/v1/feedback/{fid}/status", json={"status": "acknowledged"}, headers=headers(k["ingest2"]))
    assert r.status_code == 404
    r = c.get("/v1/complaints", params={"segment": world["seg"]}, headers=headers(k["ingest2"]))
    assert r.json()["total"] == 0
    r = c.get("/v1/complaints", params={"segment": world["seg"]}, headers=headers(k["ingest"]))
    assert r.json()["total"] == 7
    assert c.get("/v1/indicators/process", headers=headers(k["ingest"])).status_code == 403
    assert c.get("/v1/complaints").status_code == 401


def test_complaint_queue_filters(world):
    c, k, seg = world["client"], world["keys"], world["seg"]
    h = headers(k["analyst"])
    r = c.get("/v1/complaints", params={"segment": seg}, headers=h).json()
    assert r["items"][0]["id"] == world["ids"]["cockroach"]  # most urgent first
    assert r["items"][0]["priority_reasons"][0]["label_fa"]
    urgent = c.get("/v1/complaints", params={"segment": seg, "priority": "urgent"}, headers=h).json()
    assert [i["id"] for i in urgent["items"]] == [world["ids"]["cockroach"], world["ids"]["sick"]]  # oldest first
    rec = c.get("/v1/complaints", params={"segment": seg, "recurrence": "recurring"}, headers=h).json()
    assert sorted(i["id"] for i in rec["items"]) == sorted(world["ids"][n] for n in ("late1", "late2", "late3"))
    topic = c.get("/v1/complaints", params={"segment": seg, "topic": "hygiene"}, headers=h).json()
    assert topic["total"] == 1
    bad = c.get("/v1/complaints", params={"priority": "critical"}, headers=h)
    assert bad.status_code == 422
    dup = c.get("/v1/complaints", params={"segment": seg, "group_duplicates": True}, headers=h).json()
    groups = {i["id"]: i["duplicate_group"] for i in dup["items"]}
    assert groups[world["ids"]["repeat1"]] == groups[world["ids"]["repeat2"]] == world["ids"]["repeat1"]
    assert groups[world["ids"]["cockroach"]] is None
    one = c.get(f"/v1/complaints/{world['ids']['cockroach']}", headers=h).json()
    assert one["history"][0]["to"] == "received"
    assert c.get(f"/v1/complaints/{world['ids']['praise']}", headers=h).status_code == 404


def test_process_indicators_endpoint(world):
    c, k, seg = world["client"], world["keys"], world["seg"]
    r = c.get("/v1/indicators/process", params={"segment": seg, "by": "priority", "calendar": "gregorian", "min_n": 1},
              headers=headers(k["manager"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["overall"]["volume"] == 7 and body["overall"]["backlog"]["by_priority"]["urgent"] == 2
    assert [p["period"] for p in body["periods"]] == ["2011-05"]
    assert {g["key"] for g in body["groups"]} == {"urgent", "high", "normal"}
    bad = c.get("/v1/indicators/process", params={"period": "fortnight"}, headers=headers(k["manager"]))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "indicators.bad_period"


def test_exposed_in_indicators_dashboard_and_management_review(world):
    import io

    from openpyxl import load_workbook

    c, k, seg = world["client"], world["keys"], world["seg"]
    h = headers(k["manager"])
    window = {"segment": seg, "from": "2011-04-01", "to": "2011-06-30", "min_n": 1}
    ind = c.get("/v1/indicators", params=window, headers=h)
    assert ind.status_code == 200, ind.text
    assert ind.json()["complaint_handling"]["overall"]["volume"] == 7
    rep = c.get("/v1/reports/management-review", params={**window, "format": "json"}, headers=h)
    assert rep.status_code == 200, rep.text
    section = rep.json()["complaint_handling"]
    assert section["overall"]["backlog"]["by_priority"]["urgent"] == 2
    assert {t["key"] for t in section["topics"]} >= {"hygiene", "delivery"}
    html = c.get("/v1/reports/management-review", params={**window, "format": "html"}, headers=h).text
    assert "رسیدگی به شکایت‌ها (ISO 10002)" in html
    xlsx = c.get("/v1/reports/management-review", params={**window, "format": "xlsx"}, headers=h)
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert {"complaint_handling", "complaint_trend", "complaint_topics"} <= set(wb.sheetnames)
    rows = {r[0]: r[1] for r in wb["complaint_handling"].iter_rows(values_only=True)}
    assert rows["volume"] == 7 and rows["backlog_urgent"] == 2
    page = c.get("/dashboard").text
    assert 'id="complaints-panel"' in page and "complaints.js" in page
    js = c.get("/dashboard/static/complaints.js")
    assert js.status_code == 200 and "/v1/indicators/process" in js.text


def test_indicators_complaint_block_uses_the_default_window(world):
    """Without "from", GET /v1/indicators counts the complaints of the window its satisfaction figures use
    (the last 30 days for period=day), not every complaint before "to"."""
    c, h, seg = world["client"], headers(world["keys"]["manager"]), world["seg"]
    to = (T0 + timedelta(days=33)).date().isoformat()
    ind = c.get("/v1/indicators", params={"segment": seg, "to": to, "period": "day", "min_n": 1}, headers=h).json()
    assert ind["from"] == "2011-05-05" and ind["to"] == to  # the world's records 4..8 of 0..8
    process = c.get("/v1/indicators/process", params={"segment": seg, "period": "", "min_n": 1}, headers=h)
    window = c.get("/v1/indicators/process", params={"segment": seg, "from": ind["from"], "to": to, "period": "", "min_n": 1},
                   headers=h)
    everything, in_window = process.json()["overall"]["volume"], window.json()["overall"]["volume"]
    assert 0 < in_window < everything
    assert ind["complaint_handling"]["overall"]["volume"] == in_window


def test_end_to_end_with_the_real_analyzer(db_url):  # noqa: F811
    from tests.apiutil import load_test_analyzer

    client, create_key = make_client(db_url, load_test_analyzer())
    key = create_key("ingest", unique("e2e"))
    seg = unique("seg")
    r = client.post("/v1/feedback", json={"text": "بعد از خوردن کباب همه مسموم شدیم و حالمون بد شد", "kind": "complaint",
                                           "segment": seg, "external_id": unique("x")}, headers=headers(key))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["priority"]) == ("received", "urgent")
    one = client.get(f"/v1/complaints/{body['id']}", headers=headers(key)).json()
    assert one["priority_reasons"][0]["code"] == "safety.health_effect"
    r = client.post("/v1/feedback", json={"text": "خیلی خوشمزه بود، ممنون", "kind": "comment", "segment": seg},
                    headers=headers(key))
    assert r.json()["status"] is None and r.json()["priority"] is None


def test_review_queue_shows_triage_reasons(world):
    c, k, seg = world["client"], world["keys"], world["seg"]
    r = c.get("/v1/review/queue", params={"segment": seg, "limit": 50, "since": "2011-01-01"}, headers=headers(k["analyst"]))
    assert r.status_code == 200, r.text
    by_id = {it["feedback_id"]: it["complaint"] for it in r.json()["items"]}
    cockroach = by_id[world["ids"]["cockroach"]]
    assert cockroach["priority"] == "urgent" and cockroach["priority_reasons"][0]["code"] == "safety.foreign_object"
    if world["ids"]["praise"] in by_id:
        assert by_id[world["ids"]["praise"]] is None
    if world["ids"]["grumble"] in by_id:  # triaged, not in handling: reasons shown, no status
        assert by_id[world["ids"]["grumble"]]["status"] is None and by_id[world["ids"]["grumble"]]["priority"] == "normal"
    assert "PRIORITY_FA" in c.get("/review").text


def test_out_of_range_input_is_a_4xx(world):
    c, h = world["client"], headers(world["keys"]["analyst"])
    fid = world["ids"]["late3"]
    assert c.patch(f"/v1/feedback/{2**40}/status", json={"status": "acknowledged"}, headers=h).status_code == 422
    r = c.patch(f"/v1/feedback/{fid}/status", json={"status": "acknowledged", "at": "0001-01-01T00:00:00+05:00"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "complaint.invalid_time"
    assert c.get("/v1/complaints", params={"offset": 2**62}, headers=h).status_code == 422


def test_bulk_insert_keeps_each_row_with_its_record_and_intake_state(db_url):  # noqa: F811
    """A batch whose rows differ in which fields are empty: ids, topics and triage land on the right records."""
    from store.migrate import upgrade

    upgrade(db_url)
    factory = make_sessionmaker(make_engine(db_url))
    settings = Settings(database_url=db_url, timezone="UTC")
    product = unique("bulk")
    items, analyses = [], []
    for i in range(40):
        text = f"شماره {i}: " + ("پیک خیلی دیر رسید" if i % 2 else "غذا عالی بود")
        items.append({"text": text, "external_id": unique(f"bulk-{i}"), "kind": "complaint" if i % 4 == 0 else "comment",
                      "product": product if i % 3 else None, "segment": None if i % 5 else "vip",
                      "rating": None if i % 2 else 4.0, "created_at": T0 + timedelta(days=400, minutes=i)})
        analyses.append(analysis(text, 0.9 if i % 2 else 0.05, [("delivery", 0.9, "neg")] if i % 2 else []))
    with factory() as s:
        stored = insert_feedback(s, items, analyses, None, settings)
        s.commit()
        ids = [fb.id for fb in stored]
    assert len(set(ids)) == 40 and ids == sorted(ids)
    with factory() as s:
        by_id = {fb.id: fb for fb in s.query(Feedback).filter(Feedback.id.in_(ids))}
        for fb_id, it, returned in zip(ids, items, stored, strict=True):
            fb = by_id[fb_id]
            assert (fb.external_id, fb.text, fb.product, fb.segment, fb.rating) == (
                it["external_id"], it["text"], it["product"], it["segment"], it["rating"])
            assert [t.topic for t in fb.topics] == (["delivery"] if "دیر" in it["text"] else [])
            # the returned objects carry what intake wrote (no stale state in the session)
            assert (returned.priority, returned.status, returned.recurrence, returned.related_ids) == (
                fb.priority, fb.status, fb.recurrence, fb.related_ids)
        late = [by_id[i] for i, it in zip(ids, items, strict=True) if "دیر" in it["text"]]
        assert all(fb.priority is not None for fb in late)
        assert {fb.recurrence for fb in late if fb.product == product} == {"recurring"}
        events = s.query(StatusEvent).filter(StatusEvent.feedback_id.in_(ids)).all()
        assert sorted(e.feedback_id for e in events) == sorted(fb.id for fb in by_id.values() if fb.status is not None)
