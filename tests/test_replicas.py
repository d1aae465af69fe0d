"""Replicas share the registry: an activation committed by one replica reaches the others."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from api.analyzer_holder import AnalyzerHolder
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.registry import activate, register
from store.registry_watch import RegistryWatcher


@dataclass
class FakeAnalyzer:
    version: str


def _artifact(tmp_path: Path, version: str) -> Path:
    d = tmp_path / version
    d.mkdir()
    (d / "model.json").write_text(f'{{"version": "{version}", "backend": "sklearn"}}', encoding="utf-8")
    return d


def _setup(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'replicas.db'}"
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    with factory() as session:
        for v in ("v1", "v2"):
            register(session, _artifact(tmp_path, v), card={"version": v})
        session.commit()
    return factory


def loader(path: str) -> FakeAnalyzer:
    if Path(path).name == "broken":
        raise OSError("unreadable")
    return FakeAnalyzer(Path(path).name)


def test_activation_in_one_replica_reaches_the_other(tmp_path: Path) -> None:
    factory = _setup(tmp_path)
    a, b = AnalyzerHolder(FakeAnalyzer("bundled")), AnalyzerHolder(FakeAnalyzer("bundled"))
    watcher_b = RegistryWatcher(factory, b, interval=0.05, loader=loader)
    assert watcher_b.check_once() is False  # nothing active yet: keep the startup model
    with factory() as session:
        activate(session, "v2", holder=a, loader=loader)
    assert a.version == "v2" and b.version == "bundled"
    watcher_b.start()
    try:
        deadline = time.monotonic() + 5
        while b.version != "v2" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b.version == "v2"
        with factory() as session:  # rollback through replica A reaches B too
            activate(session, "v1", holder=a, loader=loader)
        deadline = time.monotonic() + 5
        while b.version != "v1" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b.version == "v1"
    finally:
        watcher_b.stop()
    assert RegistryWatcher(factory, b, loader=loader).check_once() is False  # already current: no reload


def test_version_that_fails_to_load_keeps_the_old_model(tmp_path: Path) -> None:
    factory = _setup(tmp_path)
    with factory() as session:
        register(session, _artifact(tmp_path, "broken"), card={"version": "broken"})
        session.commit()
        activate(session, "broken")  # committed by a replica that did not load it
    holder = AnalyzerHolder(FakeAnalyzer("v1"))
    watcher = RegistryWatcher(factory, holder, loader=loader)
    assert watcher.check_once() is False and holder.version == "v1"
    assert watcher.check_once() is False  # not retried on every poll
