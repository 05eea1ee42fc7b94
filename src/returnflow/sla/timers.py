"""Durable deadline timers: `schedule`/`cancel` in the caller's transaction; `fire_due` run by the worker.

A due timer is claimed, fired and marked in ONE transaction (rows locked `FOR UPDATE SKIP LOCKED` on PostgreSQL;
SQLite's `BEGIN IMMEDIATE` makes the worker the only writer): the row lock is the lease. A worker killed at any
point rolls its transaction back, the locks go with its connection, and the next worker finds the timers still
pending. A timer cannot fire twice because "fired" is written by the transaction that fires it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, column, exists, func, insert, select, table, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..actor import SYSTEM
from ..cases import store
from ..cases.store import CaseRecord
from ..cases.workflow import allowed_actions, fire
from ..db import Database, utcnow
from ..deferred import deferrable
from ..errors import AppError, Conflict
from .models import Timer

log = logging.getLogger("returnflow.sla")
TIMERS = Timer.__table__

_INSERT = insert(TIMERS).returning(TIMERS.c.id)
# Clocks that run across the case's steps and are stopped only by their own area (an advance exchange's return
# deadline runs from the replacement's shipment until the original arrives, whatever steps the case takes meanwhile).
OWN_CLOCKS = ("advance_exchange_return", "advance_exchange_follow_up", "refund_deadline")
# Deferrable (nobody reads how many): the derivation step executes them with its other writes (returnflow/deferred.py).
_CANCEL = (update(TIMERS).where(TIMERS.c.case_id == bindparam("_case"), TIMERS.c.status == "pending")
           .values(status="cancelled"))
_CANCEL_ALL = deferrable(_CANCEL.where(*(TIMERS.c.kind != kind for kind in OWN_CLOCKS)))  # no IN list: see deferrable
_CANCEL_KIND = deferrable(_CANCEL.where(TIMERS.c.kind == bindparam("_kind")))


def schedule(session: Session, *, merchant_id: int, case_id: int, kind: str, due_at: datetime,
             action: str | None = None, payload: dict | None = None, rule: str | None = None,
             at: datetime | None = None) -> int:
    """Creates a pending timer in the caller's transaction; returns its id."""
    return store.run(session, _INSERT, {
        "merchant_id": merchant_id, "case_id": case_id, "kind": kind, "due_at": due_at, "action": action,
        "payload": payload or {}, "rule": rule, "status": "pending", "remaining_seconds": None, "result": None,
        "created_at": at or utcnow(), "fired_at": None}).scalar_one()


_INSERT_MANY = deferrable(insert(TIMERS))  # the derivation step executes it with its other writes


def schedule_many(session: Session, *, merchant_id: int, case_id: int, timers: list[dict], rule: str | None,
                  at: datetime) -> None:
    """Creates pending timers (each a dict of kind, due_at, action, payload) in one statement, in the caller's
    transaction."""
    store.run(session, _INSERT_MANY, [{
        "merchant_id": merchant_id, "case_id": case_id, "kind": t["kind"], "due_at": t["due_at"],
        "action": t["action"], "payload": t["payload"] or {}, "rule": rule, "status": "pending",
        "remaining_seconds": None, "result": None, "created_at": at, "fired_at": None} for t in timers])


def cancel(session: Session, *, case_id: int, kind: str | None = None) -> None:
    """Cancels the case's pending timers (of `kind`, or all but OWN_CLOCKS)."""
    if kind is None:
        store.run(session, _CANCEL_ALL, {"_case": case_id})
    else:
        store.run(session, _CANCEL_KIND, {"_case": case_id, "_kind": kind})


def pending(session: Session, case_id: int) -> list[Timer]:
    """The case's timers that have not happened yet (pending or paused), soonest first."""
    return list(session.scalars(select(Timer).where(Timer.case_id == case_id,
                                                    Timer.status.in_(("pending", "paused")))
                                .order_by(Timer.due_at, Timer.id)))


# ---- firing --------------------------------------------------------------------------------------------------

# What a timer kind does when it falls due, besides firing its action: {kind suffix: handler}. A handler returns the
# outbox messages to write ({"topic", "payload"}); `cache` lives for one batch (e.g. a merchant's staff list).
# Filled by returnflow/bootstrap.py (sla.hooks: the reminder and escalation notices; notify.robots: breach alerts).
OnDue = Callable[[Session, CaseRecord, object, datetime, dict], list[dict]]
ON_DUE: dict[str, OnDue] = {}

_COLS = (TIMERS.c.id, TIMERS.c.merchant_id, TIMERS.c.case_id, TIMERS.c.kind, TIMERS.c.due_at, TIMERS.c.action,
         TIMERS.c.payload, TIMERS.c.rule)
_DUE = (select(*_COLS).where(TIMERS.c.status == "pending", TIMERS.c.due_at <= bindparam("now"))
        .order_by(TIMERS.c.due_at, TIMERS.c.id).limit(bindparam("limit")))
_DUE_PG = _DUE.with_for_update(skip_locked=True)
_MARK = (update(TIMERS).where(TIMERS.c.id == bindparam("_id"), TIMERS.c.status == "pending")
         .values(status=bindparam("status"), fired_at=bindparam("fired_at"), result=bindparam("result")))
_MARK_MANY = (update(TIMERS).where(TIMERS.c.id.in_(bindparam("ids", expanding=True)), TIMERS.c.status == "pending")
              .values(status="fired", fired_at=bindparam("fired_at"), result=TIMERS.c.kind))
_LOCK_CASES = (select(store.CASES.c.id).where(store.CASES.c.id.in_(bindparam("ids", expanding=True)))
               .order_by(store.CASES.c.id).with_for_update(skip_locked=True))
# Cases with events not derived yet (returnflow/derive.py; named here, not imported: derive sits above the areas).
# Their timers wait: the derivation of those events may end or move them (a step that ended stops its clocks).
_DERIVED = table("event_derivations", column("event_id"))
_POSITION = table("derive_positions", column("name"), column("event_id"))
_UNDERIVED_CASES = select(store.EVENTS.c.case_id).distinct().where(
    store.EVENTS.c.case_id.in_(bindparam("ids", expanding=True)),
    store.EVENTS.c.id > func.coalesce(select(_POSITION.c.event_id).where(_POSITION.c.name == "case_events")
                                      .scalar_subquery(), 0),
    ~exists().where(_DERIVED.c.event_id == store.EVENTS.c.id))
_DEFER = (update(TIMERS).where(TIMERS.c.id == bindparam("_id"))
          .values(due_at=bindparam("due_at"), result=bindparam("result")))


@dataclass
class Batch:
    claimed: int = 0
    fired: int = 0
    moot: int = 0
    retried: int = 0


def fire_due(db: Database, *, now: datetime | None = None, limit: int = 200) -> Batch:
    """Claims up to `limit` due timers and fires each once, in one transaction; returns what happened.

    Timers without an action (reminders) are marked and their notices written in bulk; timers with an action fire
    one by one, each in a savepoint, so one that fails leaves the others done.
    """
    now = now or utcnow()
    batch = Batch()
    with db.transaction() as session:
        stmt = _DUE_PG if db.dialect == "postgresql" else _DUE
        rows = store.run(session, stmt, {"now": now, "limit": limit}).all()
        batch.claimed = len(rows)
        if not rows:
            return batch
        connection = session.connection()
        waiting = set(store.run(session, _UNDERIVED_CASES, {"ids": sorted({r.case_id for r in rows})}).scalars())
        if waiting:
            batch.retried += sum(1 for r in rows if r.case_id in waiting)
            rows = [r for r in rows if r.case_id not in waiting]
        if db.dialect == "postgresql":
            # Cases another worker is moving right now are left to it: their timers stay pending for a later round,
            # instead of this worker waiting on that worker's row locks.
            # OWN_CLOCKS handlers move their case too (the advance exchange's deadline): they wait their turn alike,
            # so a transition that holds the case and cancels their timer never deadlocks with this worker.
            busy = {r.case_id for r in rows if _moves_case(r)}
            if busy:
                mine = set(store.run(session, _LOCK_CASES, {"ids": sorted(busy)}).scalars())
                skipped = [r for r in rows if _moves_case(r) and r.case_id not in mine]
                batch.retried += len(skipped)
                rows = [r for r in rows if not _moves_case(r) or r.case_id in mine]
        # The ORM session (some guards use it) joins the outer transaction now, not inside a timer's savepoint.
        session.orm.connection()
        cases = {c.id: c for c in store.load_many(session, sorted({r.case_id for r in rows}))}
        cache: dict = {}
        quiet = [r for r in rows if r.action is None and r.case_id in cases]
        quiet_ids = {r.id for r in quiet}
        one_by_one = [r for r in rows if r.id not in quiet_ids]
        if quiet:
            savepoint = connection.begin_nested()
            try:
                messages = []
                for row in quiet:
                    messages += _notices(session, cases[row.case_id], row, now, cache)
                marked = store.run(session, _MARK_MANY, {"ids": [r.id for r in quiet], "fired_at": now}).rowcount
                if marked != len(quiet):
                    raise Conflict("stale_version", field="timer", sent=len(quiet), current=marked)
                _write(session, messages, now)
                savepoint.commit()
                batch.fired += len(quiet)
            except Exception:  # noqa: BLE001 — fall back to one by one, where a failure stays with its timer
                savepoint.rollback()
                one_by_one = rows
        # Cases are updated in id order, so two workers never wait on each other's cases in a cycle (no deadlock).
        for row in sorted(one_by_one, key=lambda r: (r.case_id, r.id)):
            savepoint = connection.begin_nested()
            try:
                outcome = _fire_one(session, cases, row, now, cache)
                savepoint.commit()
            except (Conflict, OperationalError):
                # Someone moved the case while we held the timer (or the database chose us as a deadlock victim):
                # leave it pending for the next round.
                savepoint.rollback()
                cases.pop(row.case_id, None)
                batch.retried += 1
                continue
            except _Moot as exc:
                savepoint.rollback()
                cases.pop(row.case_id, None)
                outcome = _mark(session, row.id, "moot", now, str(exc))
            except Exception as exc:  # noqa: BLE001 — a broken timer must not hold the others back
                savepoint.rollback()
                cases.pop(row.case_id, None)
                log.exception("timer %s failed", row.id)
                store.run(session, _DEFER, {"_id": row.id, "due_at": now + timedelta(minutes=5),
                                            "result": f"error, retrying: {exc}"[:300]})
                batch.retried += 1
                continue
            if outcome == "fired":
                batch.fired += 1
            else:
                batch.moot += 1
    return batch


def _moves_case(row) -> bool:
    return row.action is not None or row.kind in OWN_CLOCKS


def _notices(session: Session, case: CaseRecord, row, now: datetime, cache: dict) -> list[dict]:
    handler = ON_DUE.get(row.kind.rsplit(".", 1)[-1])
    return handler(session, case, row, now, cache) if handler is not None else []


def _write(session: Session, messages: list[dict], now: datetime) -> None:
    if messages:
        store.run(session, store._INSERT_OUTBOX, [{
            "merchant_id": m["merchant_id"], "topic": m["topic"], "case_id": m["case_id"], "status": "pending",
            "attempts": 0, "available_at": now, "lease_until": None, "created_at": now, "payload": m["payload"]}
            for m in messages])


def _fire_one(session: Session, cases: dict[int, CaseRecord], row, now: datetime, cache: dict) -> str:
    """Fires one claimed timer: its notice, then its workflow action (as the system, citing the rule)."""
    case = cases.get(row.case_id)
    if case is None:
        found = store.load_many(session, [row.case_id])
        if not found:
            return _mark(session, row.id, "moot", now, "the case no longer exists")
        case = cases[row.case_id] = found[0]
    if row.action is not None and row.action not in allowed_actions(case, SYSTEM):
        return _mark(session, row.id, "moot", now, f"'{row.action}' is not allowed in state {case.state}")
    # Marked first: the action's own side effects cancel the case's pending timers, and this one is not pending now.
    status = _mark(session, row.id, "fired", now, row.action or row.kind)
    _write(session, _notices(session, case, row, now, cache), now)
    if row.action is not None:
        payload = {**(row.payload or {}), "rule": row.rule, "timer": row.kind, "timer_id": row.id}
        try:
            fire(session, case, row.action, SYSTEM, payload=payload, at=now)
        except Conflict:
            raise
        except AppError as exc:
            # The action no longer fits (a guard refuses it): the timer is moot, and the refusal is kept on it.
            raise _Moot(str(exc)) from exc
    return status


class _Moot(Exception):
    pass


def _mark(session: Session, timer_id: int, status: str, now: datetime, result: str) -> str:
    if store.run(session, _MARK, {"_id": timer_id, "status": status, "fired_at": now,
                                  "result": result[:300]}).rowcount != 1:
        raise Conflict("stale_version", field="timer", sent=timer_id, current="taken")
    return status
