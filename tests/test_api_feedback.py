"""POST/GET /v1/feedback on SQLite and PostgreSQL: idempotency, batches, pagination, filters, no PII stored."""

from __future__ import annotations

from sqlalchemy import func, select

from store.db import make_engine, make_sessionmaker
from store.schema import Feedback, TopicMention
from tests.apiutil import analyzer, api, db_url, headers, keys, unique
from tests.conftest import require

_FIXTURES = (analyzer, api, db_url, keys)  # pytest finds fixtures by module name

TEXT = "پیک خیلی دیر رسید و غذا سرد بود"


def _counts(url: str) -> tuple[int, int]:
    with make_sessionmaker(make_engine(url))() as s:
        return s.scalar(select(func.count(Feedback.id))), s.scalar(select(func.count(TopicMention.id)))


def test_post_returns_record_with_analysis(api, keys):
    client, _ = api
    ch = unique("ch")
    r = client.post("/v1/feedback", json={"text": TEXT, "channel": ch, "kind": "complaint", "rating": 2,
                                          "created_at": "2024-03-19T22:00:00+03:30", "metadata": {"order": "A-1"}},
                    headers=headers(keys["ingest"]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["channel"] == ch and body["kind"] == "complaint" and body["rating_scale"] == 5
    assert body["created_at"] == "2024-03-19T18:30:00Z"  # stored in UTC
    assert body["day"] == "2024-03-19" and body["jalali_day"] == 14021229  # Tehran day, Jalali 1402/12/29
    assert body["sentiment"] in ("neg", "neu", "pos") and body["model_version"]
    assert body["analysis"]["model"] == body["model_version"]
    assert [t["topic"] for t in body["topics"]] == [t["topic"] for t in body["analysis"]["topics"]]
    assert body["status"] == "received" and body["metadata"] == {"order": "A-1"}
    assert body["raw_text"] is None
    got = client.get(f"/v1/feedback/{body['id']}", headers=headers(keys["ingest"])).json()
    assert got == body


def test_topic_mentions_carry_slice_columns(api, keys, db_url):
    client, _ = api
    seg = unique("seg")
    r = client.post("/v1/feedback/batch", json={"items": [
        {"text": t, "segment": seg, "channel": "app", "product": "پیتزا", "created_at": "2024-05-01T10:00:00Z"}
        for t in (TEXT, "بسته بندی پاره بود و غذا ریخته بود", "قیمت ها خیلی گرون شده")]},
        headers=headers(keys["ingest"]))
    assert r.status_code == 200, r.text
    with make_sessionmaker(make_engine(db_url))() as s:
        fbs = list(s.scalars(select(Feedback).where(Feedback.segment == seg)))
        assert len(fbs) == 3
        mentions = list(s.scalars(select(TopicMention).where(TopicMention.segment == seg)))
        assert len(mentions) == sum(len(fb.analysis["topics"]) for fb in fbs)
        for m in mentions:
            assert (m.channel, m.product, m.kind, m.jalali_day) == ("app", "پیتزا", "comment", 14030212)
            assert m.polarity in ("neg", "neu", "pos") and 0 <= m.score <= 1


def test_idempotent_on_external_id(api, keys, db_url):
    client, _ = api
    item = {"text": TEXT, "external_id": unique("ext"), "rating": 4, "rating_scale": 5}
    first = client.post("/v1/feedback", json=item, headers=headers(keys["ingest"]))
    assert first.status_code == 201
    n_before = _counts(db_url)
    again = client.post("/v1/feedback", json=item, headers=headers(keys["ingest"]))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json() == first.json()
    # rating_scale 5 is the default: the same payload
    same = client.post("/v1/feedback", json={k: v for k, v in item.items() if k != "rating_scale"},
                       headers=headers(keys["ingest"]))
    assert same.status_code == 200
    changed = client.post("/v1/feedback", json={**item, "rating": 1}, headers=headers(keys["ingest"]))
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "feedback.conflict"
    assert _counts(db_url) == n_before


def test_batch_all_or_nothing_leaves_database_unchanged(api, keys, db_url):
    client, _ = api
    ext = unique("dup")
    client.post("/v1/feedback", json={"text": "قبلا ثبت شده", "external_id": ext}, headers=headers(keys["ingest"]))
    before = _counts(db_url)
    items = [{"text": f"{TEXT} {i}"} for i in range(50)]
    items[7] = {"text": "   "}
    items[20] = {"text": "ok", "kind": "praise"}
    items[33] = {"text": "ok", "created_at": "2024-13-45"}
    items[40] = {"text": "متن دیگر", "external_id": ext}  # conflicts with the stored record
    items[41] = 12
    r = client.post("/v1/feedback/batch", json={"items": items}, headers=headers(keys["ingest"]))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "feedback.invalid_rows"
    assert {(e["row"], e["field"], e["code"]) for e in err["details"]} == {
        (7, "text", "field.empty_text"), (20, "kind", "field.invalid_choice"), (33, "created_at", "field.invalid_date"),
        (40, "external_id", "feedback.conflict"), (41, None, "field.wrong_type")}
    assert _counts(db_url) == before  # nothing written, not even the 45 valid rows

    r = client.post("/v1/feedback/batch?partial=true", json={"items": items}, headers=headers(keys["ingest"]))
    assert r.status_code == 200
    out = r.json()
    assert out["created"] == 45 and out["failed"] == 5 and len(out["errors"]) == 5
    assert [i["row"] for i in out["items"]] == [i for i in range(50) if i not in (7, 20, 33, 40, 41)]
    assert _counts(db_url)[0] == before[0] + 45


def test_batch_duplicates_and_replays(api, keys):
    client, _ = api
    e1, e2 = unique("b"), unique("b")
    items = [{"text": "اول", "external_id": e1}, {"text": "دوم", "external_id": e2}, {"text": "اول", "external_id": e1}]
    r = client.post("/v1/feedback/batch", json={"items": items}, headers=headers(keys["ingest"]))
    assert r.status_code == 200
    out = r.json()
    assert (out["created"], out["existing"]) == (2, 1)
    ids = {i["row"]: i["id"] for i in out["items"]}
    assert ids[0] == ids[2] != ids[1]
    replay = client.post("/v1/feedback/batch", json={"items": items}, headers=headers(keys["ingest"])).json()
    assert (replay["created"], replay["existing"]) == (0, 3)
    assert {i["row"]: i["id"] for i in replay["items"]} == ids
    clash = [{"text": "الف", "external_id": unique("c")}]
    clash.append({"text": "ب", "external_id": clash[0]["external_id"]})
    r = client.post("/v1/feedback/batch", json={"items": clash}, headers=headers(keys["ingest"]))
    assert r.status_code == 409 and r.json()["error"]["details"][0]["row"] == 1


def test_pagination_and_filters(api, keys):
    client, _ = api
    ch = unique("page")
    items = [{"text": f"نظر شماره {i} درباره غذا", "channel": ch, "kind": "suggestion" if i % 3 == 0 else "comment",
              "created_at": f"2024-06-{1 + i:02d}T12:00:00Z"} for i in range(23)]
    assert client.post("/v1/feedback/batch", json={"items": items}, headers=headers(keys["ingest"])).status_code == 200
    h = headers(keys["analyst"])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"channel": ch, "limit": 10} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/feedback", params=params, headers=h).json()
        seen += [x["id"] for x in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 23 and len(set(seen)) == 23 and seen == sorted(seen, reverse=True)

    def ids(**params):
        r = client.get("/v1/feedback", params={"channel": ch, "limit": 500, **params}, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    assert len(ids(kind="suggestion")) == 8
    assert len(ids(since="2024-06-05T00:00:00Z", until="2024-06-10T00:00:00Z")) == 5
    for s in ("neg", "neu", "pos"):
        assert all(x["sentiment"] == s for x in ids(sentiment=s))
    assert sum(len(ids(sentiment=s)) for s in ("neg", "neu", "pos")) == 23
    assert len(ids(abstained=True)) + len(ids(abstained=False)) == 23
    all_items = ids()
    topics = {t["topic"] for x in all_items for t in x["topics"]}
    for t in topics:
        assert {x["id"] for x in ids(topic=t)} == {x["id"] for x in all_items if t in {m["topic"] for m in x["topics"]}}
    assert ids(topic="no-such-topic") == []


def test_ingest_key_reads_only_its_own_records(api, keys):
    client, _ = api
    ch = unique("own")
    mine = client.post("/v1/feedback", json={"text": TEXT, "channel": ch}, headers=headers(keys["ingest"])).json()
    theirs = client.post("/v1/feedback", json={"text": TEXT, "channel": ch}, headers=headers(keys["ingest2"])).json()
    r = client.get(f"/v1/feedback/{theirs['id']}", headers=headers(keys["ingest"]))
    assert r.status_code == 404 and r.json()["error"]["code"] == "feedback.not_found"
    listed = client.get("/v1/feedback", params={"channel": ch}, headers=headers(keys["ingest"])).json()["items"]
    assert [x["id"] for x in listed] == [mine["id"]]
    both = client.get("/v1/feedback", params={"channel": ch}, headers=headers(keys["manager"])).json()["items"]
    assert {x["id"] for x in both} == {mine["id"], theirs["id"]}
    assert client.get("/v1/feedback/999999999", headers=headers(keys["admin"])).status_code == 404


def test_stored_text_has_no_pii(api, keys, db_url):
    from nlp import get_pipeline

    phone, card = "09123456789", "6037991122334455"
    probe = get_pipeline().process(f"شماره {phone}")
    require(any(p.type == "PHONE" for p in probe.pii), "the nlp pipeline does not mask phone numbers yet")
    client, _ = api
    text = f"سفارشم نرسید، با {phone} تماس بگیرید. کارت {card} و ایمیل ali.rezaei@example.com"
    r = client.post("/v1/feedback", json={"text": text, "external_id": unique("pii")}, headers=headers(keys["ingest"]))
    assert r.status_code == 201
    fid = r.json()["id"]
    assert "PHONE" in r.json()["pii_types"]
    with make_sessionmaker(make_engine(db_url))() as s:
        fb = s.get(Feedback, fid)
        stored = " ".join([fb.text, str(fb.analysis), str(fb.meta), str(fb.raw_text)])
    for secret in (phone, card, "ali.rezaei", "۰۹۱۲۳۴۵۶۷۸۹"):
        assert secret not in stored
    assert fb.raw_text is None and "[PHONE]" in fb.text
