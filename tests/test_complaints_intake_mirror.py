"""One-record intake from the per-process mirror of the window decides as the reads of the window do.

The same stream of records (live ones, backfills older than the mirror, ties, customers, records that
other writers commit between intakes, a reanalysis halfway) is stored one record at a time into two
databases, with the mirror and without it; every triage, recurrence and lifecycle field must match.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

import store.complaints as complaints
import store.intake_mirror as intake_mirror
import tests.test_complaints_prepared_intake as prepared
from api.settings import Settings
from indicators.bulk import bulk_insert
from store.db import make_engine, make_sessionmaker, serialized_writes, write_turn_held
from store.feedback import insert_feedback, prepare_record
from store.migrate import upgrade
from store.reanalyze import reanalyze
from store.schema import Feedback
from tests.test_complaints_prepared_intake import TEXTS, TOPICS, _Relabel, _state, analysis


def _stream(seed: int, n: int, t0: datetime) -> list:
    # most are live; some arrive late (hours), a few are backfills from before the mirror's window
    return prepared._stream(seed, n, t0, steps=(0, 0, 1, 5, 30), late=(0, 0, 0, 0, 0, 0, 3, 5 * 24, 40 * 24))


def _database(tmp_path, name: str, **settings):
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    return make_sessionmaker(make_engine(url)), Settings(database_url=url, timezone="UTC", **settings)


def _other_writer(factory, rnd: random.Random, at: datetime, k: int) -> None:
    """Triaged records committed by another writer (no intake of theirs), as another process would."""
    with factory() as s:
        first = (s.scalar(select(func.max(Feedback.id))) or 0) + 1
        bulk_insert(s, [{"text": rnd.choice(TEXTS) + f" دیگری {k}-{j}", "created_at": at - timedelta(minutes=j),
                         "kind": "complaint", "sentiment": "neg", "topics": {rnd.choice(TOPICS): "neg"},
                         "product": rnd.choice([None, "pizza", "kebab"]), "meta": {"customer_id": f"c{rnd.randint(1, 6)}"}}
                        for j in range(3)])
        s.execute(update(Feedback).where(Feedback.id >= first).values(priority="normal"))
        s.commit()


def _store(factory, settings, stream, seed: int) -> None:
    """One record at a time, as a one-record POST stores it: prepared (odd records), then inserted in
    its write turn."""
    rnd = random.Random(seed)
    for j, (item, an) in enumerate(stream):
        if j % 17 == 5:
            _other_writer(factory, rnd, item["created_at"], j)
        if j == len(stream) // 2:
            reanalyze(factory, _Relabel(), since=item["created_at"] - timedelta(hours=2))
        with factory() as s:
            prep = prepare_record(s, item, an, None, settings) if j % 2 else None
            with serialized_writes(s.get_bind()):
                insert_feedback(s, [item], [an], None, settings, prep)
                s.commit()


@pytest.mark.parametrize("seed,policy", [
    (1, {}),
    (2, {"recurrence_min": 2, "systemic_min_scopes": 2}),
    (3, {"recurrence_window_days": 1, "recurrence_min": 4}),
])
def test_the_mirror_decides_as_the_window_reads(tmp_path, monkeypatch, seed, policy):
    t0 = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=20)
    stream = _stream(seed, 220, t0)
    reads, settings_a = _database(tmp_path, "reads.db", intake_mirror=False, **policy)
    _store(reads, settings_a, stream, seed)

    mirrored, settings_b = _database(tmp_path, "mirror.db", **policy)
    used = {"mirror": 0, "rebuilds": 0, "prepared builds": 0}
    real_decision, real_rebuild = complaints._mirrored_decision, intake_mirror.IntakeMirror._rebuild
    real_install = intake_mirror.IntakeMirror._install

    def decision(*args):
        out = real_decision(*args)
        used["mirror"] += out is not None
        return out

    def rebuild(self, *args):
        used["rebuilds"] += 1
        return real_rebuild(self, *args)

    monkeypatch.setattr(complaints, "_mirrored_decision", decision)
    def install(self, built, seen_id, seen_at, now):
        used["prepared builds"] += seen_at is not None and not write_turn_held(mirrored.kw["bind"])
        return real_install(self, built, seen_id, seen_at, now)

    monkeypatch.setattr(intake_mirror.IntakeMirror, "_rebuild", rebuild)
    monkeypatch.setattr(intake_mirror.IntakeMirror, "_install", install)
    _store(mirrored, settings_b, stream, seed)
    assert _state(mirrored) == _state(reads)
    triaged = sum(1 for r in _state(reads)[0] if r[1] is not None)
    assert used["mirror"] > 0.5 * triaged, (used, triaged)
    # the first intake (prepared, or not), and the one after the reanalysis
    assert used["rebuilds"] + used["prepared builds"] == 2, used


def test_a_record_older_than_the_mirror_and_intake_outside_the_turn_read_the_window(tmp_path, monkeypatch):
    factory, settings = _database(tmp_path, "old.db")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    calls = []
    real = complaints._mirrored_decision
    monkeypatch.setattr(complaints, "_mirrored_decision", lambda *a: calls.append(real(*a)) or calls[-1])
    items = [({"text": f"پیک دیر رسید {k}", "kind": "complaint", "product": "pizza", "created_at": at},
              analysis("پیک دیر رسید", 0.9, {"delivery": "neg"}))
             for k, at in enumerate([now - timedelta(days=3), now - timedelta(days=3, hours=1), now])]
    for item, an in items[:2]:
        with factory() as s, serialized_writes(s.get_bind()):
            insert_feedback(s, [item], [an], None, settings)
            s.commit()
    assert calls == [None, None]  # filed before the mirror's window: read as before
    with factory() as s:  # no write turn held (a caller that did not take it): read as before
        assert not write_turn_held(s.get_bind())
        (fb,) = insert_feedback(s, [items[2][0]], [items[2][1]], None, settings)
        s.commit()
    assert len(calls) == 2 and fb.recurrence == "recurring" and len(fb.related_ids) == 2


def test_a_covered_record_is_not_prepared_before_its_turn(tmp_path):
    factory, settings = _database(tmp_path, "prep.db")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    item = {"text": "دیر رسید", "kind": "complaint", "created_at": now}
    with factory() as s:
        assert prepare_record(s, item, analysis("دیر رسید", 0.9, {"delivery": "neg"}), None, settings).intake is None
        old = {**item, "created_at": now - timedelta(days=60)}
        assert prepare_record(s, old, analysis("دیر رسید", 0.9, {"delivery": "neg"}), None, settings).intake is not None
    _f, no_mirror = _database(tmp_path, "prep2.db", intake_mirror=False)
    with _f() as s:
        assert prepare_record(s, item, analysis("دیر رسید", 0.9, {"delivery": "neg"}), None, no_mirror).intake is not None


def test_a_window_too_large_to_mirror_is_read_per_intake(tmp_path, monkeypatch):
    monkeypatch.setattr(intake_mirror, "MAX_RECORDS", 5)
    factory, settings = _database(tmp_path, "big.db")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    results = []
    for k in range(9):
        item = {"text": f"پیک دیر رسید {k}", "kind": "complaint", "product": "pizza", "created_at": now + timedelta(minutes=k)}
        with factory() as s, serialized_writes(s.get_bind()):
            (fb,) = insert_feedback(s, [item], [analysis(item["text"], 0.9, {"delivery": "neg"})], None, settings)
            s.commit()
            results.append((fb.recurrence, len(fb.related_ids or [])))
    assert results[-1] == ("recurring", 8)  # still decided, by the reads, past the cap
    mirror = next(m for k, m in intake_mirror._MIRRORS.items() if str(tmp_path) in k[0])
    assert mirror.index is None and mirror.disabled_until is not None


def test_the_mirror_is_built_before_the_write_turn(tmp_path, monkeypatch):
    """A prepared record builds the mirror with no lock held; its turn only catches up with the records
    committed in between (read again, once each)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    stream = _stream(7, 40, now - timedelta(hours=6))
    live = [(it, an) for it, an in stream if it["created_at"] > now - timedelta(days=1)]
    rebuilds = []
    real = intake_mirror.IntakeMirror._rebuild
    monkeypatch.setattr(intake_mirror.IntakeMirror, "_rebuild", lambda self, *a: rebuilds.append(1) or real(self, *a))
    results = {}
    for mirror in (False, True):
        factory, settings = _database(tmp_path, f"before-{mirror}.db", intake_mirror=mirror)
        for item, an in live[:20]:
            with factory() as s, serialized_writes(s.get_bind()):
                insert_feedback(s, [item], [an], None, settings)
                s.commit()
        if mirror:  # a mirror built long ago: the next use builds it anew
            m = next(m for k, m in intake_mirror._MIRRORS.items() if str(tmp_path / "before-True.db") in k[0])
            m.built_at -= intake_mirror.REBUILD_AFTER
        rebuilds.clear()
        item, an = live[20]
        with factory() as s:
            prep = prepare_record(s, item, an, None, settings)
            assert prep.intake is None if mirror else True
            if mirror:
                assert m.built_at > now and len(m) > 0  # built here, outside the turn
            for other, oan in live[21:23]:  # committed between its preparation and its turn
                with factory() as w, serialized_writes(w.get_bind()):
                    insert_feedback(w, [other], [oan], None, settings)
                    w.commit()
            with serialized_writes(s.get_bind()):
                insert_feedback(s, [item], [an], None, settings, prep)
                s.commit()
        assert not rebuilds
        if mirror:
            assert sorted(m.index.by_id) == sorted(set(m.index.by_id))
            assert len(m.index.items) == len(m.index.by_id)  # nothing added twice
        results[mirror] = _state(factory)
    assert results[True] == results[False]
