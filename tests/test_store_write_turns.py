"""SQLite writers take turns on a lock that other processes see too (no busy-handler sleeps)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from store.db import make_engine, serialized_writes

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

HOLD = textwrap.dedent("""
    import sys, time
    from store.db import make_engine, serialized_writes
    with serialized_writes(make_engine(sys.argv[1])):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    print("released", flush=True)
""")


def test_another_process_waits_for_the_turn_and_gets_it_when_released(tmp_path):
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    child = subprocess.Popen([sys.executable, "-c", HOLD, url, "1.0"], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        assert child.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with serialized_writes(make_engine(url)):
            waited = time.monotonic() - t0
        assert child.stdout.readline().strip() == "released"
    finally:
        child.wait(10)
    assert 0.5 < waited < 5.0  # blocked until the other process let go, not failed nor polled for long
    assert (tmp_path / "turns.db.writers").exists()


def test_re_entrant_in_a_thread_and_exclusive_between_threads(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'threads.db'}")
    order: list[str] = []
    with serialized_writes(engine), serialized_writes(engine):  # the same thread may nest
        t = threading.Thread(target=lambda: (serialized_writes(engine).__enter__(), order.append("other"),
                                             serialized_writes(engine).__exit__(None, None, None)))
        t.start()
        time.sleep(0.2)
        order.append("first")
    t.join(5)
    assert order == ["first", "other"]


def test_in_memory_databases_need_no_file_and_postgresql_no_turns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with serialized_writes(make_engine("sqlite://")):
        pass
    assert not list(tmp_path.iterdir())
    assert isinstance(serialized_writes(create_engine("postgresql+psycopg://u@127.0.0.1:1/x")), nullcontext)


def test_sqlite_connections_are_set_up_for_many_readers_and_one_writer(tmp_path):
    from store.db import BUSY_TIMEOUT_S

    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "temp_store")}
    # synchronous 1 = NORMAL, temp_store 2 = MEMORY
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1,
                      "busy_timeout": int(BUSY_TIMEOUT_S * 1000), "temp_store": 2}
