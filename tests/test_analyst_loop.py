"""The analysts' loop end to end on a real server (uvicorn on loopback, SQLite, real models).

ingest → label what the review queue offers → training job (409 for a second) → new version with a
comparison → activate → re-analyse → the corrected comments get the analyst's labels; a job failing
midway; requests served throughout model swaps; taxonomy versions; the CLI verbs; the review page in
headless Chromium. Models are trained on small slices of snappfood-topics so each run takes seconds.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import require

STATE: dict = {}  # shared by the tests of this module, in order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def micro_f1(pairs) -> float:
    tp = fp = fn = 0
    for gold, pred in pairs:
        tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
    return 2 * tp / max(1, 2 * tp + fp + fn)


@pytest.fixture(scope="module")
def loop(data_dir, tmp_path_factory):
    import uvicorn

    from api.main import create_app
    from api.settings import Settings
    from models.analyzer import Analyzer
    from models.taxonomy import Taxonomy
    from models.training_api import train
    from store.db import make_engine, make_sessionmaker
    from store.keys import create_key
    from store.migrate import upgrade
    from training.data import load_records, write_jsonl

    tmp = tmp_path_factory.mktemp("loop")
    recs = load_records(data_dir / "snappfood-topics" / "train.jsonl").records
    initial, stream, base = recs[:80], recs[80:160], recs[160:260]
    write_jsonl(base, tmp / "base.jsonl")
    snappfood = Taxonomy.load(Path(__file__).resolve().parents[1] / "models" / "taxonomies" / "snappfood.yaml")
    train(initial, taxonomy=snappfood, seed=0, progress=False).save(tmp / "m0")
    a0 = Analyzer.load(tmp / "m0")

    url = f"sqlite:///{tmp / 'loop.db'}"
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    settings = Settings(database_url=url, model_dir=tmp / "models", train_base_data=[tmp / "base.jsonl"],
                        train_holdout=0.25, train_min_labels=10, rate_limit_per_minute=0)
    with factory() as s:
        keys = {role: create_key(s, role, f"{role}-1")[1] for role in ("ingest", "analyst", "admin")}
        from store import registry

        registry.register(s, tmp / "m0")  # the model in service, so it can be rolled back to
        s.commit()
        registry.activate(s, a0.version)
    app = create_app(settings, analyzer=a0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    base_url = f"http://127.0.0.1:{port}"
    yield {"url": base_url, "keys": keys, "app": app, "recs": {r.id: r for r in recs}, "stream": stream,
           "a0": a0, "tmp": tmp, "settings": settings, "factory": factory, "db": url}
    server.should_exit = True
    thread.join(5)


def client(loop, role="analyst") -> httpx.Client:
    return httpx.Client(base_url=loop["url"], headers={"X-API-Key": loop["keys"][role]}, timeout=60)


def wait_job(c: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    seen = set()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = c.get(f"/v1/jobs/{job_id}").json()
        seen.add(job["progress"])
        if job["status"] in ("succeeded", "failed"):
            job["progress_seen"] = sorted(seen)
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_full_loop(loop):
    c, ingest = client(loop), client(loop, "ingest")
    start = datetime(2024, 3, 1)
    items = [{"text": r.text, "external_id": r.id, "created_at": (start + timedelta(days=i)).isoformat(),
              "segment": "tehran" if i % 2 else "shiraz"} for i, r in enumerate(loop["stream"])]
    batch = ingest.post("/v1/feedback/batch", json={"items": items})
    assert batch.status_code == 200, batch.text
    ext_of = {row["id"]: loop["stream"][row["row"]].id for row in batch.json()["items"]}

    # the queue: analyst only, filters, diverse unlabelled records with reasons
    assert ingest.get("/v1/review/queue").status_code == 403
    assert c.get("/v1/review/queue", params={"since": "nonsense"}).status_code == 422
    seg = c.get("/v1/review/queue", params={"segment": "tehran", "limit": 100}).json()
    assert seg["items"] and all(i["segment"] == "tehran" for i in seg["items"])
    late = c.get("/v1/review/queue", params={"since": "2024-04-01", "limit": 100}).json()["items"]
    assert late and all(i["created_at"] >= "2024-04-01" for i in late)
    queue = c.get("/v1/review/queue", params={"limit": 40}).json()["items"]
    assert len(queue) == 40 and len({i["feedback_id"] for i in queue}) == 40
    assert queue[0]["priority"] >= queue[-1]["priority"] - 0.5 and all("reasons" in i for i in queue)

    early = c.post("/v1/models/train")  # nothing labelled yet
    assert early.status_code == 409 and early.json()["error"]["code"] == "train.not_enough_labels"

    # the analyst corrects them (the annotated labels play the analyst)
    corrected = {}
    for item in queue:
        gold = loop["recs"][ext_of[item["feedback_id"]]]
        r = c.put(f"/v1/feedback/{item['feedback_id']}/labels", json={"topics": gold.topics, "sentiment": gold.sentiment})
        assert r.status_code == 200, r.text
        assert r.json()["labels"]["author"] == "analyst-1" and r.json()["model"] == item["analysis"]
        corrected[item["feedback_id"]] = gold
    bad = c.put(f"/v1/feedback/{queue[0]['feedback_id']}/labels", json={"topics": {"weather": "neg"}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "labels.invalid"
    assert c.put("/v1/feedback/999999/labels", json={"sentiment": "neg"}).status_code == 404
    assert ingest.put(f"/v1/feedback/{queue[0]['feedback_id']}/labels", json={"sentiment": "neg"}).status_code == 403
    exported = [json.loads(line) for line in c.get("/v1/labels/export").text.splitlines()]
    assert len(exported) == 40 and {e["id"] for e in exported} == {g.id for g in corrected.values()}
    assert c.get("/v1/review/queue", params={"limit": 100}).json()["pool"] == 40  # labelled ones leave the queue

    # training job: one at a time
    before = {fid: c.get(f"/v1/feedback/{fid}").json() for fid in corrected}
    job = c.post("/v1/models/train", json={"seed": 0})
    assert job.status_code == 202, job.text
    second = c.post("/v1/models/train")
    assert second.status_code == 409 and second.json()["error"]["code"] == "job.conflict"
    done = wait_job(c, job.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert len(done["progress_seen"]) >= 2 and done["progress"] == 1.0
    version = done["result"]["version"]
    STATE["v1"] = version

    # the new version: registered, not active, with a comparison against the served one
    shown = c.get(f"/v1/models/{version}").json()
    assert shown["is_active"] is False and shown["card"]["version"] == version
    assert shown["card"]["metrics"]["held_out_gold"]["n"] == 10
    cmp_ = shown["comparison"]
    assert cmp_["against"] == loop["a0"].version and cmp_["n"] == 10
    micro = cmp_["metrics"]["topics.micro_f1"]
    assert {"new", "old", "delta", "ci_low", "ci_high"} <= set(micro) and micro["ci_low"] <= micro["delta"] <= micro["ci_high"]
    assert any(k.startswith("topic:") for k in cmp_["per_label"]) and "sentiment:neg" in cmp_["per_label"]
    assert cmp_["training"]["gold"] == 30 and cmp_["training"]["base"] == 100

    # activate → the service answers with the new model at once
    act = c.post(f"/v1/models/{version}/activate")
    assert act.status_code == 200 and act.json()["is_active"] is True
    listed = c.get("/v1/models").json()
    assert listed["serving"] == version
    assert [m["version"] for m in listed["models"] if m["is_active"]] == [version]
    assert c.post("/v1/analyze", json={"texts": ["پیک خیلی دیر رسید"]}).json()["model"] == version

    # re-analyse everything: stored records now carry the new version
    job = c.post("/v1/feedback/reanalyze", json={"since": "2024-01-01"})
    assert job.status_code == 202, job.text
    done = wait_job(c, job.json()["id"])
    assert done["status"] == "succeeded" and done["result"]["reanalyzed"] == 80
    held_out = set(cmp_["held_out_ids"])
    trained = [fid for fid, g in corrected.items() if g.id not in held_out]
    after = {fid: c.get(f"/v1/feedback/{fid}").json() for fid in corrected}
    assert all(a["model_version"] == version for a in after.values())

    def topics_of(fb):
        return {t["topic"] for t in fb["analysis"]["topics"]}

    f1_before = micro_f1([(set(corrected[f].topics), topics_of(before[f])) for f in trained])
    f1_after = micro_f1([(set(corrected[f].topics), topics_of(after[f])) for f in trained])
    assert f1_after >= 0.85 and f1_after > f1_before, (f1_before, f1_after)
    labels_now = c.get(f"/v1/feedback/{trained[0]}/labels").json()
    assert labels_now["labels"]["topics"] == corrected[trained[0]].topics  # gold kept beside the new output
    STATE["corrected"] = corrected


def test_failed_job_leaves_everything_as_it_was(loop, monkeypatch):
    require("v1" in STATE, "needs test_full_loop")
    import models.training_api

    c = client(loop)
    models_before = c.get("/v1/models").json()
    dirs_before = sorted(p.name for p in loop["settings"].model_dir.iterdir())

    class HalfWritten:
        def save(self, out):
            Path(out).mkdir(parents=True)
            (Path(out) / "model.skops").write_bytes(b"partial")
            raise OSError("disk full")

    monkeypatch.setattr(models.training_api, "train", lambda *a, **k: HalfWritten())
    job = c.post("/v1/models/train")
    assert job.status_code == 202
    done = wait_job(c, job.json()["id"])
    assert done["status"] == "failed" and "OSError" in done["error"]
    assert c.get("/v1/models").json() == models_before
    assert sorted(p.name for p in loop["settings"].model_dir.iterdir()) == dirs_before
    assert c.post("/v1/analyze", json={"texts": ["غذا سرد بود"]}).json()["model"] == STATE["v1"]
    bad = c.post("/v1/models/nope/activate")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "model.not_found"


def test_requests_served_throughout_model_swaps(loop):
    require("v1" in STATE, "needs test_full_loop")
    versions = [loop["a0"].version, STATE["v1"]]
    stop = threading.Event()
    results: list[tuple[int, str | None]] = []

    def hammer():
        with client(loop, "ingest") as h:
            while not stop.is_set():
                r = h.post("/v1/analyze", json={"texts": ["پیک دیر رسید و غذا سرد بود", "خیلی خوشمزه بود"]})
                results.append((r.status_code, r.json().get("model") if r.status_code == 200 else r.text))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    with client(loop) as c:
        for i in range(6):  # roll back and forward
            r = c.post(f"/v1/models/{versions[i % 2]}/activate")
            assert r.status_code == 200, r.text
            time.sleep(0.15)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(results) >= 10
    assert all(code == 200 for code, _ in results), [r for r in results if r[0] != 200][:3]
    assert {m for _, m in results} <= set(versions)
    assert {m for _, m in results} == set(versions)  # both models answered during the swaps
    with client(loop) as c:
        assert c.get("/v1/models").json()["serving"] == STATE["v1"]


def test_taxonomy_versions_and_emerging_topic(loop):
    c = client(loop)
    tax = c.get("/v1/taxonomy").json()
    assert tax["version"] == 0 and tax["retrain_needed"] is False and len(tax["topics"]) == 8
    assert tax["topics"][0]["label_fa"] == "ارسال و پیک" and tax["model_version"] == STATE["v1"]
    bad = c.put("/v1/taxonomy", json={"name": "x", "topics": [{"id": "a b", "label_fa": ""}]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "taxonomy.invalid"
    relabel = {"name": tax["name"], "topics": [dict(t, label_fa=t["label_fa"] + " ") for t in tax["topics"]]}
    v1 = c.put("/v1/taxonomy", json=relabel).json()
    assert v1["version"] == 1 and v1["retrain_needed"] is False  # wording only
    added = c.post("/v1/taxonomy/topics", json={"id": "app", "label_fa": "اپلیکیشن", "seeds": ["اپ", "برنامه"]})
    assert added.status_code == 201
    v2 = added.json()
    assert v2["version"] == 2 and v2["retrain_needed"] is True and v2["topics"][-1]["id"] == "app"
    assert c.post("/v1/taxonomy/topics", json={"id": "app", "label_fa": "x"}).status_code == 409
    missing = c.post("/v1/taxonomy/topics", json={"id": "z", "label_fa": "ز", "theme_id": "emg-none"})
    assert missing.status_code == 404
    assert [v["version"] for v in c.get("/v1/taxonomy/versions").json()["versions"]] == [2, 1]
    # labels may now use the new topic
    fid = next(iter(STATE.get("corrected", {})), None)
    if fid is not None:
        assert c.put(f"/v1/feedback/{fid}/labels", json={"topics": {"app": "neg"}, "sentiment": "neg"}).status_code == 200
    assert client(loop, "ingest").get("/v1/taxonomy").status_code == 403


def test_cli_models_and_labels(loop, monkeypatch, tmp_path):
    require("v1" in STATE, "needs test_full_loop")
    from typer.testing import CliRunner

    from api.cli import app
    from api.settings import get_settings

    monkeypatch.setenv("BAZKHORD_DATABASE_URL", loop["db"])
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke
        listed = run(app, ["models", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.output)
        assert {r["version"] for r in rows} == {loop["a0"].version, STATE["v1"]}
        shown = json.loads(run(app, ["models", "show", STATE["v1"]]).output)
        assert shown["comparison"]["against"] == loop["a0"].version
        out = tmp_path / "gold.jsonl"
        assert run(app, ["labels", "export", "--out", str(out)]).exit_code == 0
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert len(lines) == 40 and all("topics" in x and "sentiment" in x for x in lines)
        imported = run(app, ["labels", "import", str(out), "--author", "cli"])
        assert imported.exit_code == 0 and json.loads(imported.output)["imported"] == 40
        act = run(app, ["models", "activate", loop["a0"].version])
        assert act.exit_code == 0 and loop["a0"].version in act.output
        rows = json.loads(run(app, ["models", "list", "--json"]).output)
        assert [r["version"] for r in rows if r["is_active"]] == [loop["a0"].version]
    finally:
        get_settings.cache_clear()


def test_review_page_in_chromium(loop, tmp_path):
    require(shutil.which("chromium") is not None and shutil.which("chromedriver") is not None,
            "headless chromium + chromedriver (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    opts.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(loop["url"] + "/review")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
        driver.find_element(By.ID, "key").send_keys(loop["keys"]["analyst"])
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        wait.until(lambda d: d.find_element(By.ID, "text").text.strip())
        first_text = driver.find_element(By.ID, "text").text
        assert "از" in driver.find_element(By.ID, "position").text
        boxes = driver.find_elements(By.CSS_SELECTOR, "#topics input[type=checkbox]")
        assert len(boxes) >= 8
        # evidence words of the model's topics are highlighted (when the model found any)
        item = client(loop).get("/v1/review/queue", params={"limit": 1}).json()["items"][0]
        marks = [m.text for m in driver.find_elements(By.CSS_SELECTOR, "#text mark")]
        assert set(marks) == {e for e in item["evidence"] if e in item["text"]}
        body = driver.find_element(By.TAG_NAME, "body")
        was = boxes[0].is_selected()
        body.send_keys("1")  # toggle the first topic
        assert boxes[0].is_selected() != was
        if not boxes[0].is_selected():
            body.send_keys("1")
        body.send_keys(Keys.SHIFT + "1")  # cycle its polarity
        polarity = driver.find_element(By.CSS_SELECTOR, "#topics select.polarity").get_attribute("value")
        body.send_keys("a")  # overall sentiment: negative
        assert driver.find_element(By.CSS_SELECTOR, 'input[name="sentiment"][value="neg"]').is_selected()
        body.send_keys(Keys.ENTER)  # save and go to the next one
        wait.until(lambda d: d.find_element(By.ID, "text").text != first_text)
        saved = client(loop).get(f"/v1/feedback/{item['feedback_id']}/labels").json()["labels"]
        first_topic = boxes[0].get_attribute("data-topic")
        assert saved["sentiment"] == "neg" and saved["topics"][first_topic] == polarity
        assert saved["author"] == "analyst-1"
        body.send_keys(Keys.ARROW_RIGHT)  # previous (right-to-left)
        wait.until(lambda d: d.find_element(By.ID, "text").text == first_text)
        assert "برچسب" in driver.find_element(By.ID, "status").text
        driver.save_screenshot(str(tmp_path / "review.png"))
    finally:
        driver.quit()
