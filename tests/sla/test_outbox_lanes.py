"""The outbox claim reads lane by lane (notify.outbox.claim), and a lane whose whole batch failed rests
(notify.dispatch): a backlog waiting in one lane — email not configured, a receiver down — neither hides another
lane's messages nor is read or tried on every round."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from returnflow.cases.models import OutboxMessage
from returnflow.db import utcnow
from returnflow.notify import outbox
from returnflow.notify.channels import DeliveryError
from returnflow.notify.config import DeliverySettings
from returnflow.notify.dispatch import Dispatcher
from tests.conftest import migrated_sqlite
from tests.support.world import make_shop

T0 = datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc)  # after everything the tests write at the real now
LEASE = timedelta(seconds=60)


def add(db, merchant_id: int, lane: str, n: int, *, topic: str = "lane_test", at: datetime = T0,
        priority: int = 100) -> list[int]:
    rows = [{"merchant_id": merchant_id, "topic": topic, "case_id": None, "payload": {"k": k}, "status": "pending",
             "attempts": 0, "available_at": at + timedelta(microseconds=k), "created_at": at, "priority": priority,
             "lane": lane} for k in range(n)]
    with db.transaction() as s:
        s.execute(insert(OutboxMessage.__table__), rows)
        return list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.lane == lane)
                              .order_by(OutboxMessage.id.desc()).limit(n)))[::-1]


@pytest.fixture
def handlers(monkeypatch):
    """Test topics: `lane_test` is delivered, `lane_down` fails as a destination that is down does."""
    calls: list[str] = []

    def ok(db, settings, message):
        calls.append(message.lane)
        return 200, "ok"

    def down(db, settings, message):
        calls.append(message.lane)
        raise DeliveryError("the receiver is down")

    monkeypatch.setitem(outbox.HANDLERS, "lane_test", ok)
    monkeypatch.setitem(outbox.HANDLERS, "lane_down", down)
    return calls


def test_a_long_backlog_in_one_lane_does_not_hide_another_lanes_newer_message(db, handlers):
    shop = make_shop(db)
    add(db, shop.id, "a", 40)  # older, and more than the claim's limit
    newer = add(db, shop.id, "b", 1, at=T0 + timedelta(minutes=5))
    # Three messages a lane, up to 20 in all: lane b's one message is among them although 40 older ones of lane a
    # come first in claim order (the claim used to read the first 20 in that order, all of lane a, then share).
    claimed = outbox.claim(db, now=T0 + timedelta(hours=1), limit=20, lease=LEASE, lanes=2, per_lane=lambda _l: 3)
    assert [m.lane for m in claimed] == ["a", "a", "a", "b"]
    assert claimed[-1].id == newer[0]
    # A skipped lane gives nothing, and the others' order is claim order: priority first, then age.
    code = add(db, shop.id, "b", 1, at=T0 + timedelta(minutes=9), priority=10)
    claimed = outbox.claim(db, now=T0 + timedelta(hours=1), limit=20, lease=LEASE, skip={"a"})
    assert [m.id for m in claimed] == code
    # Messages waiting out a retry are not due yet; leases that ran out are claimed again.
    later = add(db, shop.id, "c", 2, at=T0 + timedelta(days=1))
    assert outbox.claim(db, now=T0 + timedelta(hours=1), limit=20, lease=LEASE, skip={"a"}) == []
    again = outbox.claim(db, now=T0 + timedelta(hours=1, minutes=2), limit=20, lease=LEASE, skip={"a"})
    assert sorted(m.id for m in again) == sorted([newer[0], *code])  # their one-minute leases ran out
    assert all(m.attempts == 2 for m in again)
    # A day on: the new lane's messages are due, and b's leases ran out again; the code comes first.
    last = outbox.claim(db, now=T0 + timedelta(days=2), limit=20, lease=LEASE, skip={"a"})
    assert [m.id for m in last] == [*code, newer[0], *later]


def test_a_lane_whose_batch_failed_as_a_whole_rests_while_the_other_lanes_go_on(db, handlers):
    shop = make_shop(db)
    due = utcnow() - timedelta(minutes=1)  # the dispatcher claims at the real now
    add(db, shop.id, "down", 3, topic="lane_down", at=due)
    add(db, shop.id, "up", 2, at=due)
    settings = DeliverySettings(outbox_backoff_seconds=30, delivery_threads=4)
    dispatcher = Dispatcher(db, settings)
    try:
        dispatcher.pump()
        deadline = time.monotonic() + 10
        while dispatcher.in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(handlers) == ["down"] * 3 + ["up"] * 2
        assert dispatcher.rests("down") and not dispatcher.rests("up")
        # New messages in both lanes: only the lane that is up is tried; the resting lane's wait for its rest.
        add(db, shop.id, "down", 2, at=due)
        add(db, shop.id, "up", 1, at=due)
        handlers.clear()
        dispatcher.pump()
        deadline = time.monotonic() + 10
        while dispatcher.in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert handlers == ["up"]
        with dispatcher.lock:
            dispatcher.resting["down"] = time.monotonic()  # its rest is over
        handlers.clear()
        dispatcher.pump()
        deadline = time.monotonic() + 10
        while dispatcher.in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert handlers == ["down", "down"]  # the new ones (the failed three wait out their own backoff)
        assert not dispatcher.rests("down")  # they were delivered: the lane is up again
    finally:
        dispatcher.close()


def test_on_sqlite_a_claim_reads_a_lanes_due_messages_only(tmp_path_factory):
    """SQLite's plan (PostgreSQL plans by its statistics): one index range per lane, its due messages only."""
    db = migrated_sqlite(tmp_path_factory, tmp_path_factory.mktemp("plan") / "plan.db")
    db.dispose()
    path = db.url.split("///", 1)[1]
    stmt = outbox._of_lane(tuple(sorted(outbox.HANDLERS)), False)
    # The IN list of topics is rendered at execution; any list plans alike.
    sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "('notify', 'webhook')", str(stmt.compile(db.engine)))
    with sqlite3.connect(path) as con:
        plan = " | ".join(row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?")))
        lanes = " | ".join(row[3] for row in con.execute("EXPLAIN QUERY PLAN " + outbox._PENDING_LANES.text))
    assert "ix_outbox_status_lane_due (status=? AND lane=? AND available_at<?)" in plan, plan
    assert "ix_outbox_status_lane_due (status=? AND lane>?)" in lanes, lanes


def test_on_sqlite_a_claim_with_nothing_due_does_not_wait_for_the_write_lock(tmp_path_factory, handlers):
    """A worker with nothing to deliver looks in a read transaction: while another connection holds SQLite's one
    write lock (a request, a long import), its claim comes back empty at once instead of taking or waiting for the
    lock; once something is due and the lock is free, it claims as before."""
    db = migrated_sqlite(tmp_path_factory, tmp_path_factory.mktemp("idle") / "idle.db")
    try:
        shop = make_shop(db)
        later = add(db, shop.id, "later", 2, at=T0 + timedelta(hours=1))  # not due at T0
        path = db.url.split("///", 1)[1]
        holder = sqlite3.connect(path, timeout=0, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held
        try:
            started = time.monotonic()
            assert outbox.claim(db, now=T0, limit=10, lease=LEASE) == []
            assert time.monotonic() - started < 2  # the busy timeout is 30 s: it did not wait for the lock
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        claimed = outbox.claim(db, now=T0 + timedelta(hours=2), limit=10, lease=LEASE)
        assert [m.id for m in claimed] == later
    finally:
        db.dispose()
