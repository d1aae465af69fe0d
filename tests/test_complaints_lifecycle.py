"""Complaint lifecycle state machine: every (from, to) pair, timestamps, ratings, stored history."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest

from nlp.errors import BazkhordError
from store.db import make_engine, make_sessionmaker
from store.lifecycle import (
    TRANSITIONS,
    apply_status_change,
    change_status,
    check_transition,
    event_to_dict,
    status_history,
)
from store.schema import COMPLAINT_STATUSES, Base, Feedback

T0 = datetime(2024, 3, 1, 9, 0)
EXPECTED = {
    ("received", "acknowledged"),
    ("acknowledged", "in_progress"),
    ("acknowledged", "resolved"),
    ("in_progress", "resolved"),
    ("resolved", "closed"),
    ("resolved", "reopened"),
    ("closed", "reopened"),
    ("reopened", "in_progress"),
    ("reopened", "resolved"),
}


def make_fb(status: str | None = "received", **kw) -> Feedback:
    fb = Feedback(
        id=1, kind="complaint", text="غذا سرد بود", payload_hash="x", created_at=T0, received_at=T0,
        day=T0.date(), jalali_day=14021211, status=status, status_at=T0 if status else None, reopen_count=0,
    )
    for k, v in kw.items():
        setattr(fb, k, v)
    return fb


def test_transition_table_is_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == EXPECTED
    assert set(TRANSITIONS) == set(COMPLAINT_STATUSES)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(COMPLAINT_STATUSES, COMPLAINT_STATUSES)))
def test_every_pair(src, dst):
    fb = make_fb(src, resolved_at=T0 if src in ("resolved", "closed") else None)
    at = T0 + timedelta(hours=5)
    if (src, dst) in EXPECTED:
        ev = apply_status_change(fb, dst, actor="alice", at=at, note="یادداشت")
        assert (ev.from_status, ev.to_status, ev.actor, ev.at, ev.note) == (src, dst, "alice", at, "یادداشت")
        assert fb.status == dst and fb.status_at == at
    else:
        with pytest.raises(BazkhordError) as exc:
            apply_status_change(fb, dst, actor="alice", at=at)
        err = exc.value
        assert err.http_status == 409 and err.code == "complaint.invalid_transition"
        assert err.details == {"from": src, "to": dst, "allowed": list(TRANSITIONS[src])}
        assert fb.status == src  # nothing changed


def test_untracked_record_starts_as_received():
    check_transition(None, "acknowledged")
    with pytest.raises(BazkhordError):
        check_transition(None, "closed")


def test_unknown_status_is_422():
    with pytest.raises(BazkhordError) as exc:
        check_transition("received", "done")
    assert exc.value.code == "complaint.unknown_status" and exc.value.http_status == 422


def test_timestamps_through_a_full_life():
    fb = make_fb()
    h = lambda n: T0 + timedelta(hours=n)  # noqa: E731
    apply_status_change(fb, "acknowledged", actor="a", at=h(2))
    apply_status_change(fb, "in_progress", actor="a", at=h(3))
    apply_status_change(fb, "resolved", actor="a", at=h(20), note="مبلغ برگشت داده شد")
    assert (fb.acknowledged_at, fb.resolved_at, fb.resolution_note) == (h(2), h(20), "مبلغ برگشت داده شد")
    apply_status_change(fb, "reopened", actor="customer", at=h(30))
    assert (fb.reopen_count, fb.resolved_at, fb.closed_at) == (1, None, None)
    apply_status_change(fb, "in_progress", actor="a", at=h(31))
    apply_status_change(fb, "resolved", actor="a", at=h(40), handling_rating=4)
    apply_status_change(fb, "closed", actor="a", at=h(41))
    assert (fb.acknowledged_at, fb.resolved_at, fb.closed_at, fb.handling_rating) == (h(2), h(40), h(41), 4.0)
    assert fb.reopen_count == 1


def test_time_cannot_go_backwards_and_aware_times_are_utc():
    fb = make_fb()
    apply_status_change(fb, "acknowledged", actor="a", at=T0 + timedelta(hours=5))
    with pytest.raises(BazkhordError) as exc:
        apply_status_change(fb, "in_progress", actor="a", at=T0 + timedelta(hours=1))
    assert exc.value.code == "complaint.invalid_time"
    fb = make_fb(status_at=None)
    with pytest.raises(BazkhordError):
        apply_status_change(fb, "acknowledged", actor="a", at=T0 - timedelta(days=1))
    aware = datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=3, minutes=30)))
    apply_status_change(fb, "acknowledged", actor="a", at=aware)
    assert fb.acknowledged_at == datetime(2024, 3, 1, 9, 0)


@pytest.mark.parametrize(
    ("status", "to", "rating", "code"),
    [
        ("in_progress", "resolved", 6, "complaint.invalid_rating"),
        ("in_progress", "resolved", 0, "complaint.invalid_rating"),
        ("acknowledged", "in_progress", 4, "complaint.rating_too_early"),
        ("in_progress", None, 4, "complaint.rating_too_early"),
    ],
)
def test_rating_rules(status, to, rating, code):
    with pytest.raises(BazkhordError) as exc:
        apply_status_change(make_fb(status), to, actor="a", at=T0 + timedelta(hours=1), handling_rating=rating)
    assert exc.value.code == code


def test_rating_after_closure_without_status_change():
    fb = make_fb("closed", resolved_at=T0, closed_at=T0)
    assert apply_status_change(fb, None, actor="a", at=T0 + timedelta(days=1), handling_rating=2.5) is None
    assert fb.handling_rating == 2.5 and fb.status == "closed"


@pytest.fixture()
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lc.db'}")
    Base.metadata.create_all(engine)
    with make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


def test_change_status_writes_history(session):
    fb = Feedback(
        kind="complaint", text="پیک دیر رسید", payload_hash="h", created_at=T0, received_at=T0 + timedelta(minutes=1),
        day=date(2024, 3, 1), jalali_day=14021211,
    )
    session.add(fb)
    session.commit()
    change_status(session, fb.id, "acknowledged", actor="bob", at=T0 + timedelta(hours=1))
    change_status(session, fb.id, "resolved", actor="bob", at=T0 + timedelta(hours=8), note="جبران شد", handling_rating=5)
    session.commit()
    events = [event_to_dict(e) for e in status_history(session, fb.id)]
    assert [(e["from"], e["to"], e["actor"]) for e in events] == [
        (None, "received", "bob"),
        ("received", "acknowledged", "bob"),
        ("acknowledged", "resolved", "bob"),
    ]
    assert events[-1]["note"] == "جبران شد"
    got = session.get(Feedback, fb.id)
    assert (got.status, got.handling_rating, got.resolution_note) == ("resolved", 5.0, "جبران شد")
    with pytest.raises(BazkhordError) as exc:
        change_status(session, 999, "acknowledged", actor="bob")
    assert exc.value.code == "feedback.not_found" and exc.value.http_status == 404
