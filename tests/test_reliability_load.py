"""The short CI version of ``bench/load.py`` (mixed analyze/ingest/indicators at a fixed rate against the
real server): no request may fail. The same run's server log must be structured JSON with request ids
and must not contain any customer text that was sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    log = tmp_path_factory.mktemp("load") / "server.log"
    proc = subprocess.run([sys.executable, "bench/load.py", "--seconds", "5", "--rate", "50", "--json", "--log", str(log)],
                          cwd=REPO, capture_output=True, text=True, timeout=240,
                          env={"BAZKHORD_SHARED_DATA": str(data_dir), "PATH": "/usr/bin:/bin"})
    return proc, log


def test_short_load_has_no_errors(run):
    proc, _ = run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["errors"] == 0
    assert summary["sent"] == summary["scheduled"] == 250
    for kind in ("analyze", "ingest", "indicators"):
        assert summary[kind]["n"] > 0 and summary[kind]["statuses"] in ([200], [201], [200, 201])


def test_logs_are_json_with_request_ids_and_hold_no_customer_text(run, data_dir):
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import load
    finally:
        sys.path.pop(0)
    _, log = run
    content = log.read_text(encoding="utf-8")
    access = []
    for line in content.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["logger"] == "bazkhord.access":
                access.append(entry)
    assert len(access) >= 250  # every request was logged, as JSON
    assert len({e["request_id"] for e in access}) == len(access)
    assert {e["route"] for e in access} >= {"/v1/analyze", "/v1/feedback", "/v1/indicators"}
    load.DATA = Path(data_dir)
    sent = load.texts(2000)[:250]
    leaked = [t[:30] for t in sent if t in content or (len(t) > 24 and t[:24] in content)]
    assert not leaked, f"customer text in the server log: {leaked[:3]}"
