"""The derivation step's deferred writes (returnflow/deferred.py): the producers' writes are kept and executed
together, the same statement for many rows at once (on PostgreSQL in one round trip), before the next read and at
the end; a read still sees every write before it, a case's writes to a table keep their order, and a write that
fails still fails its whole transaction."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import IntegrityError

from returnflow import deferred, derive, flows
from returnflow.analytics.rollup import STEPS_TABLE
from returnflow.cases.models import Case, CaseEvent
from returnflow.cases.store import OUTBOX
from returnflow.db import utcnow
from returnflow.deferred import deferrable, deferred_writes
from returnflow.notify.models import FollowUpTask
from returnflow.sla.models import Timer
from tests.support.flows import PAYLOADS, open_for, run
from tests.support.world import make_order, make_shop

POSITIONS = derive.POSITIONS


def test_a_read_sees_the_kept_writes_before_it_in_order_and_a_failed_one_fails_the_transaction(db):
    add = deferrable(insert(POSITIONS))
    move = deferrable(update(POSITIONS).where(POSITIONS.c.name == "first").values(event_id=10))
    with db.transaction() as session:
        with deferred_writes(session) as kept:
            deferred.execute(session, add, {"name": "first", "event_id": 1})
            deferred.execute(session, move, {})  # after the INSERT of the same table: runs after it
            deferred.execute(session, add, {"name": "second", "event_id": 2})
            assert len(kept.entries) == 3  # kept, not executed
            rows = dict(session.connection().execute(select(POSITIONS.c.name, POSITIONS.c.event_id)).all())
            assert rows["first"] == 10 and rows["second"] == 2 and not kept.entries
    with pytest.raises(IntegrityError):
        with db.transaction() as session:
            with deferred_writes(session):
                deferred.execute(session, add, {"name": "third", "event_id": 3})
                deferred.execute(session, add, {"name": "first", "event_id": 4})  # taken: fails when executed
    with db.read() as session:
        names = set(session.scalars(select(POSITIONS.c.name)))
    assert {"first", "second"} <= names and "third" not in names  # the failed transaction rolled back whole


def test_a_write_with_an_in_list_cannot_be_deferred():
    """SQLAlchemy cannot execute an IN list for many rows at once: refused where the statement is declared."""
    with pytest.raises(ValueError, match="IN lists"):
        deferrable(update(POSITIONS).where(POSITIONS.c.name.in_(("a", "b"))).values(event_id=0))


def _walk(db, shop, n: int) -> list[str]:
    numbers = []
    for i in range(n):
        make_order(db, shop, f"D-{i}")
        number = open_for(db, shop.actors["agent"], f"D-{i}", "return_refund")
        for action in ("approve", "ship_return", "receive"):
            run(db, number, action, shop.actors["warehouse" if action == "receive" else "agent"])
        numbers.append(number)
    return numbers


@pytest.fixture
def worker_mode(monkeypatch):
    """Requests leave their events to the worker (the tests derive them themselves)."""
    monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")
    derive.get_derive_settings.cache_clear()
    yield
    monkeypatch.setenv("RETURNFLOW_DERIVE", "inline")
    derive.get_derive_settings.cache_clear()


def _steps_in_batches(db, shop, prefix: str, n: int) -> tuple[list[str], int, int]:
    """As under load, each batch holds many cases, one event each: every case opened, derived; every case
    approved, derived; ... Returns the case numbers, the events derived and the statements their derivation ran
    (an executemany counts once)."""
    numbers = []
    for i in range(n):
        make_order(db, shop, f"{prefix}-{i}")
        numbers.append(open_for(db, shop.actors["agent"], f"{prefix}-{i}", "return_refund"))
    statements = events = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    def drain() -> None:
        nonlocal events
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            while (done := derive.derive_batch(db.engine, limit=500)).events:
                assert done.failed == 0
                events += done.events
        finally:
            event.remove(db.engine, "before_cursor_execute", count)

    drain()
    for action in ("approve", "ship_return", "receive", "inspect"):
        actor = shop.actors["warehouse" if action in ("receive", "inspect") else "agent"]
        for number in numbers:
            run(db, number, action, actor, payload=PAYLOADS.get(action, {}))
        drain()
    return numbers, events, statements


def test_batches_of_cases_at_the_same_step_derive_in_fewer_statements_and_all_their_rows(db, worker_mode,
                                                                                          monkeypatch):
    shop = make_shop(db)

    def one_by_one(*_args, **_kwargs):
        raise AssertionError("a derivation batch failed and was derived case by case")

    monkeypatch.setattr(derive, "_one_by_one", one_by_one)
    # The same walk with every write executed at once (no buffer open: store.run executes them), then kept.
    with monkeypatch.context() as unkept:
        unkept.setattr(derive, "deferred_writes", lambda _session: nullcontext(deferred.Buffer()))
        _numbers, events_before, before = _steps_in_batches(db, shop, "B", 12)
    numbers, events, after = _steps_in_batches(db, shop, "S", 12)
    assert events == events_before == 12 * 5
    assert after <= 0.8 * before, (before, after)
    # Everything the events set off is written: the next step's clocks (the ended ones cancelled), the step
    # summary's times.
    with db.read() as session:
        ids = session.scalars(select(Case.id).where(Case.number.in_(numbers))).all()
        timers = session.execute(select(Timer.case_id, Timer.kind, Timer.status).where(Timer.case_id.in_(ids))).all()
        steps = session.execute(select(STEPS_TABLE).where(STEPS_TABLE.c.case_id.in_(ids))).all()
        underived = derive.backlog(session)["underived"]
    assert underived == 0
    pending = sorted(t.kind for t in timers if t.status == "pending")
    assert "review.due" not in pending and "receipt_confirmation.due" not in pending, pending
    assert {t.kind for t in timers if t.status == "cancelled"} >= {"review.due", "receipt_confirmation.due"}
    assert len(steps) == 12 and all(s.inspected_at is not None and s.received_at is not None for s in steps)


def test_a_deferred_write_that_fails_leaves_its_case_underived_and_the_others_derived(db, worker_mode, caplog):
    shop = make_shop(db)
    numbers = _walk(db, shop, 3)
    with db.read() as session:
        ids = dict(session.execute(select(Case.number, Case.id).where(Case.number.in_(numbers))).all())
    blocked = ids[numbers[1]]
    # The step summary's row of the middle case exists already: its "open" INSERT (a deferred write) fails.
    with db.transaction() as session:
        session.connection().execute(insert(STEPS_TABLE), {"case_id": blocked, "merchant_id": shop.id,
                                                           "created_at": utcnow()})
    done = derive.derive_batch(db.engine, limit=500)
    assert (done.events, done.failed) == (8, 1)  # the batch failed whole, then case by case: one case left
    assert "a derivation batch failed (IntegrityError" in caplog.text  # the log names the error
    with db.read() as session:
        derived = set(session.scalars(select(derive.DERIVED.c.event_id)))
        events = session.execute(select(CaseEvent.id, CaseEvent.case_id).where(CaseEvent.case_id.in_(ids.values())))
        by_case: dict[int, set[int]] = {}
        for row in events:
            by_case.setdefault(row.case_id, set()).add(row.id)
        blocked_timers = session.scalar(select(Timer.id).where(Timer.case_id == blocked).limit(1))
    assert by_case[blocked].isdisjoint(derived) and blocked_timers is None  # nothing of it half-written
    assert by_case[ids[numbers[0]]] <= derived and by_case[ids[numbers[2]]] <= derived
    with db.transaction() as session:
        session.connection().execute(STEPS_TABLE.delete().where(STEPS_TABLE.c.case_id == blocked))
    assert derive.derive_batch(db.engine, limit=500).events == 4  # the next round derives it


def test_what_producers_read_per_case_is_read_once_per_batch_and_gives_what_case_by_case_gives(db, worker_mode,
                                                                                                  monkeypatch):
    """The route facts, the approval time, the refund deadline's state and the follow-up tasks' ids
    (returnflow/batch_reads.py): read with one statement for every case of a batch, and the batch derives the same
    rows as each case read on its own."""
    shop = make_shop(db)
    reads: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        text = " ".join(statement.split())
        if text.startswith(("SELECT orders.country", "SELECT cases.id, orders.country", "SELECT case_events.created_at",
                            "SELECT case_events.case_id, case_events.created_at", "SELECT sla_timers.id",
                            "SELECT sla_timers.case_id", "SELECT nextval", "SELECT coalesce(max(follow_up_tasks")):
            reads.append(text[:60])

    def walk(prefix: str) -> tuple[list[str], int]:
        numbers, _events, _statements = [], 0, 0
        for i in range(8):
            make_order(db, shop, f"{prefix}-{i}")
            numbers.append(open_for(db, shop.actors["agent"], f"{prefix}-{i}", "return_refund"))
        del reads[:]
        for action in (None, "approve", "ship_return", "receive", "inspect", "resolve", "close"):
            for number in numbers if action else ():
                run(db, number, action, shop.actors["warehouse" if action in ("receive", "inspect") else "agent"])
            event.listen(db.engine, "before_cursor_execute", count)  # the derivation's reads only
            try:
                while (done := derive.derive_batch(db.engine, limit=500)).events:
                    assert done.failed == 0
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
        return numbers, len(reads)

    def derived(numbers: list[str]) -> list:
        """Per case, in order: its timers (kind, status, due after its opening) and its messages (template, the
        return deadline after the approval), with the case's own times taken out."""
        out = []
        with db.read() as session:
            for number in numbers:
                case_id, opened = session.execute(select(Case.id, Case.created_at).where(Case.number == number)).one()
                approved = session.scalar(select(CaseEvent.created_at).where(CaseEvent.case_id == case_id,
                                                                             CaseEvent.action == "approve"))
                timers = sorted((t.kind, t.status, round((t.due_at - opened).total_seconds() / 3600))
                                for t in session.scalars(select(Timer).where(Timer.case_id == case_id)))
                messages = []
                for payload in session.scalars(select(OUTBOX.c.payload).where(OUTBOX.c.case_id == case_id)
                                               .order_by(OUTBOX.c.id)):
                    data = payload.get("data") or {}
                    deadline = data.get("deadline")
                    messages.append((payload.get("channel"), payload.get("template"), data.get("address"),
                                     round((datetime.fromisoformat(deadline) - approved).total_seconds())
                                     if deadline else None))
                closed = session.scalar(select(CaseEvent.created_at).where(CaseEvent.case_id == case_id,
                                                                           CaseEvent.action == "close"))
                tasks = [(round((t.due_at - closed).total_seconds()), t.status, [
                    (e.kind, e.action, e.to_state, e.case_id == case_id) for e in flows.events(session, "follow_up", t.id)])
                    for t in session.scalars(select(FollowUpTask).where(FollowUpTask.case_id == case_id))]
                out.append((timers, messages, tasks))
        return out

    with monkeypatch.context() as alone:  # each case reads for itself
        alone.setattr(derive, "for_batch", lambda _session, _cases: nullcontext())
        alone_numbers, alone_reads = walk("A")
    batch_numbers, batch_reads_ = walk("B")
    assert alone_reads >= 8 * 2, alone_reads  # route facts and approval time per approved case, at least
    assert batch_reads_ <= 4, (batch_reads_, reads)  # one per batch and kind of read
    alone_rows, batch_rows = derived(alone_numbers), derived(batch_numbers)
    assert batch_rows == alone_rows
    assert any(template == "return_instructions" and address for _timers, messages, _tasks in batch_rows
               for _channel, template, address, _deadline in messages)
    # Each closed case has its follow-up task (taken ahead by id in the batch) with its opening move.
    assert all(tasks == [(7 * 86400, "open", [("follow_up", "schedule", "open", True)])]
               for _timers, _messages, tasks in batch_rows), batch_rows[0][2]


def test_a_case_closed_twice_in_one_batch_gets_two_follow_up_tasks_each_with_its_opening_move(db, worker_mode,
                                                                                              monkeypatch):
    """The id taken ahead for a closed case's follow-up is given once: a second closing in the same batch inserts its
    task the ordinary way (and the batch does not fail on a taken id)."""

    def one_by_one(*_args, **_kwargs):
        raise AssertionError("the derivation batch failed and was derived case by case")

    monkeypatch.setattr(derive, "_one_by_one", one_by_one)
    shop = make_shop(db)
    make_order(db, shop, "T-1")
    number = open_for(db, shop.actors["agent"], "T-1", "return_refund")
    for action, role in (("reject", "agent"), ("close", "agent"), ("reopen", "supervisor"), ("reject", "agent"),
                         ("close", "agent")):
        run(db, number, action, shop.actors[role])
    done = derive.derive_batch(db.engine, limit=500)
    assert done.failed == 0 and done.cases == 1
    with db.read() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        tasks = session.scalars(select(FollowUpTask.id).where(FollowUpTask.case_id == case_id)).all()
        moves = [[(e.action, e.to_state) for e in flows.events(session, "follow_up", task)] for task in tasks]
        assert derive.backlog(session)["underived"] == 0
    assert len(set(tasks)) == 2 and moves == [[("schedule", "open")]] * 2
