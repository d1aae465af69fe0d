"""The dashboard in a real headless Chromium: loads with data, right-to-left, charts drawn, filters work."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from indicators.bulk import bulk_insert
from indicators.demo_texts import generate
from store.db import make_engine
from store.migrate import upgrade
from tests.conftest import require

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from api.main import create_app
    from api.settings import Settings
    from store.keys import create_key

    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'dash.db'}"
    upgrade(url)
    with Session(make_engine(url)) as s:
        items = generate(3000, end=date(2024, 6, 30), seed=5)
        bulk_insert(s, [dict(it.to_feedback(), sentiment=it.sentiment, topics=it.topics) for it in items])
        _row, key = create_key(s, "manager", "dashboard test")
        s.commit()
    app = create_app(Settings(database_url=url, rate_limit_per_minute=0), analyzer=None, load_model=False)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", key
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_bin = shutil.which("chromedriver")
    require(chromium is not None and driver_bin is not None, "chromium and chromedriver are not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "selenium is not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1366,2200", "--lang=fa-IR",
                 f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver_bin), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _wait(drv, cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        value = drv.execute_script(cond)
        if value:
            return value
        time.sleep(0.2)
    shown = drv.execute_script("return document.getElementById('message').textContent")
    raise AssertionError(f"timed out waiting for: {cond}; page message: {shown}")


# A canvas has drawn when some pixel is not fully transparent.
CANVAS_DRAWN = """
return Array.from(document.querySelectorAll('canvas')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
  return [c.id, c.width, c.height, painted];
});
"""


def _kpi(drv, title):
    return drv.execute_script(f"return document.querySelector('[data-kpi=\"{title}\"] .value').textContent")


def test_dashboard_in_headless_chromium(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, key = server
    browser.get(base + "/dashboard")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    assert browser.find_element(By.ID, "app").get_attribute("hidden") is not None  # nothing without a key
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    _wait(browser, "return document.body.dataset.renders === '1'")
    assert browser.execute_script("return sessionStorage.getItem('bazkhord.key')") == key

    drawn = browser.execute_script(CANVAS_DRAWN)
    assert {c[0] for c in drawn} == {"trend", "volume", "topics"}
    for cid, w, h, painted in drawn:
        assert w > 0 and h > 0 and painted > 500, (cid, painted)
    assert browser.execute_script("return typeof Chart") == "function"  # served by the app, not a CDN
    heat_cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap td")
    assert len(heat_cells) >= 10 * 8
    assert len(browser.find_elements(By.CSS_SELECTOR, "#themes .theme blockquote")) >= 3
    csat_all = _kpi(browser, "رضایت (CSAT)")
    assert any(ch in csat_all for ch in "۰۱۲۳۴۵۶۷۸۹")  # Persian digits
    window = browser.find_element(By.ID, "window").text
    assert "۱۴۰۳" in window and "تیر" in window, window  # Jalali dates: ... تا ۱۰ تیر ۱۴۰۳ (2024-06-30)
    shots = Path(os.environ.get("BAZKHORD_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "dashboard.png"))

    # The figures follow the filters, and match the API for the same slice.
    seg = Select(browser.find_element(By.ID, "segment"))
    choice = seg.options[1].get_attribute("value")
    seg.select_by_value(choice)
    _wait(browser, "return document.body.dataset.renders === '2'")
    csat_seg = _kpi(browser, "رضایت (CSAT)")
    assert csat_seg != csat_all
    api = browser.execute_script(
        "const r = await fetch('/v1/indicators?period=month&calendar=jalali&group_by=segment&segment=' + encodeURIComponent(arguments[0]),"
        " {headers: {'X-API-Key': sessionStorage.getItem('bazkhord.key')}}); return await r.json();", choice)
    expected = browser.execute_script("return new Intl.NumberFormat('fa-IR', {maximumFractionDigits: 1}).format(arguments[0])",
                                      api["overall"]["csat"]["value"])
    assert csat_seg.startswith(expected)
    Select(browser.find_element(By.ID, "calendar")).select_by_value("gregorian")
    _wait(browser, "return document.body.dataset.renders === '3'")
    assert "۲۰۲۴" in browser.find_element(By.ID, "window").text

    # A phone-sized window: one column, nothing wider than the screen.
    browser.set_window_size(390, 2400)
    time.sleep(0.5)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    browser.save_screenshot(str(shots / "dashboard-phone.png"))
