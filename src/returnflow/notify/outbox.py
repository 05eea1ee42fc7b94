"""Delivering outbox messages: claimed with a time lease, delivered outside any transaction, the outcome recorded.

A claim sets `status='leased'`, `lease_until` and bumps `attempts` (rows locked `FOR UPDATE SKIP LOCKED` on
PostgreSQL while claiming). A worker that dies holding a lease loses nothing: when the lease runs out another worker
claims the row again. The outcome is written only while the row still carries this claim (same attempt number), so
a worker whose lease was taken over cannot overwrite the newer outcome. Failures retry with exponential backoff;
after `outbox_max_attempts` the message is dead-lettered (status 'dead') and can be replayed.
Messages are claimed by priority (sign-in codes first), then in order of arrival. A message carrying a one-time
code (`secret`) is never replayed, and its code is removed from the row once it is sent, dead or expired
(notify.secrets). Claims can skip the lanes (a merchant's destination) already busy in this process, and take only
so many messages per lane (notify.dispatch delivers lanes side by side).
Delivery is at least once; every message carries its id (webhook `X-Returnflow-Delivery`, email Message-ID,
provider Idempotency-Key) so a receiver can drop the rare repeat after a crash between sending and recording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from functools import lru_cache
from typing import Any
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update

from ..cases.models import OutboxMessage
from ..db import Database, utcnow
from .channels import DeliveryError
from .config import DeliverySettings
from .models import DeliveryAttempt
from .secrets import EXPIRED, redacted, scrub
from .templates import one_batch

log = logging.getLogger("returnflow.notify")
OUTBOX = OutboxMessage.__table__
ATTEMPTS = DeliveryAttempt.__table__


@dataclass
class Claimed:
    id: int
    merchant_id: int | None
    case_id: int | None
    topic: str
    payload: dict
    attempts: int
    lane: str = ""
    secret: bool = False
    expires_at: datetime | None = None


@dataclass
class StoreRow:
    """A delivery that is a row of our own (an in-app message): a handler returns it as its note, and it is written
    in the transaction that records the message as sent (at most once per outbox id: `outbox_id` is unique)."""

    table: Any
    values: dict


# topic -> deliver(db, settings, message) -> (status_code or None, note or StoreRow). Raise DeliveryError on failure.
Handler = Callable[[Database, DeliverySettings, Claimed], tuple[int | None, str]]
HANDLERS: dict[str, Handler] = {}  # filled by returnflow/bootstrap.py
# Called in the transaction that records dead letters: (session, [(id, merchant, case, topic, reason)]) -> messages
# ({"merchant_id", "case_id", "topic", "payload"}) to queue, such as the staff robots' alerts (notify.robots).
ON_DEAD: list[Callable[[Any, list], list[dict]]] = []


def _due(now_param: str = "now"):
    now = bindparam(now_param)
    return or_(and_(OUTBOX.c.status == "pending", OUTBOX.c.available_at <= now),
               and_(OUTBOX.c.status == "leased", OUTBOX.c.lease_until < now))


_COLUMNS = (OUTBOX.c.id, OUTBOX.c.merchant_id, OUTBOX.c.case_id, OUTBOX.c.topic, OUTBOX.c.payload,
            OUTBOX.c.attempts, OUTBOX.c.lane, OUTBOX.c.secret, OUTBOX.c.expires_at, OUTBOX.c.priority,
            OUTBOX.c.available_at)
_ORDER = (OUTBOX.c.priority, OUTBOX.c.available_at, OUTBOX.c.id)
# The lanes that have pending messages, one index seek each on (status, lane, ...) — a loose index scan, written
# as a recursive query because neither SQLite nor PostgreSQL skips through an index by itself. Reading them with
# DISTINCT or GROUP BY would walk every pending row: with email not configured or a receiver down, that backlog
# grows, and the claim ran over all of it on every round (the worker's CPU doubled in bench/lifecycle.py as it did).
_PENDING_LANES = text(
    "WITH RECURSIVE lanes(lane) AS ("
    " SELECT MIN(lane) FROM outbox WHERE status = 'pending'"
    " UNION ALL"
    " SELECT (SELECT MIN(o.lane) FROM outbox o WHERE o.status = 'pending' AND o.lane > lanes.lane)"
    " FROM lanes WHERE lanes.lane IS NOT NULL)"
    " SELECT lane FROM lanes WHERE lane IS NOT NULL")


@lru_cache(maxsize=8)
def _of_lane(topics: tuple[str, ...], postgresql: bool):
    """A lane's first due messages in claim order: one range of (status, lane, available_at) — the lane's messages
    waiting out a retry lie after it and are not read — whose rows are ordered by priority and age (a sort of the
    lane's due messages only, keeping the first `n`)."""
    stmt = (select(*_COLUMNS)
            .where(OUTBOX.c.status == "pending", OUTBOX.c.lane == bindparam("lane"),
                   OUTBOX.c.available_at <= bindparam("now"), OUTBOX.c.topic.in_(topics))
            .order_by(*_ORDER).limit(bindparam("n")))
    return stmt.with_for_update(skip_locked=True) if postgresql else stmt


@lru_cache(maxsize=8)
def _expired(topics: tuple[str, ...], postgresql: bool):
    """Messages whose lease ran out (their worker died): few, found by (status, ...)."""
    stmt = (select(*_COLUMNS)
            .where(OUTBOX.c.status == "leased", OUTBOX.c.lease_until < bindparam("now"), OUTBOX.c.topic.in_(topics))
            .order_by(*_ORDER).limit(bindparam("n")))
    return stmt.with_for_update(skip_locked=True) if postgresql else stmt


def claim(db: Database, *, now: datetime, limit: int, lease: timedelta, skip: Collection[str] = (),
          lanes: int | None = None, per_lane: Callable[[str], int] | None = None) -> list[Claimed]:
    """Takes up to `limit` due messages of the topics this process can deliver, under a lease, by priority then
    age. `skip`: lanes not to take from; `lanes`: at most this many distinct lanes; `per_lane(lane)`: at most this
    many messages of one lane (rows looked at but not taken stay as they are).

    The rows of skipped lanes are never read: the lanes with pending messages are listed first (_PENDING_LANES), and
    each other lane gives its first messages in claim order; those are merged in claim order. So a backlog waiting
    in a skipped lane costs a claim nothing, and so do the messages of any lane that wait out a retry."""
    topics = tuple(sorted(HANDLERS))
    postgresql = db.dialect == "postgresql"
    if not postgresql:
        # SQLite has one writer: whether anything is due is asked in a read transaction first, so a worker with
        # nothing to deliver does not take the write lock from the requests (nor wait behind a long write for it).
        with db.read() as session:
            if not _claimable(session.connection(), topics, postgresql, now, limit, skip, lanes, per_lane):
                return []
    with db.transaction() as session:
        connection = session.connection()
        rows = _claimable(connection, topics, postgresql, now, limit, skip, lanes, per_lane)
        if not rows:
            return []
        connection.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows])).values(
            status="leased", lease_until=now + lease, attempts=OUTBOX.c.attempts + 1))
    return [Claimed(r.id, r.merchant_id, r.case_id, r.topic, r.payload or {}, r.attempts + 1, r.lane or "",
                    bool(r.secret), r.expires_at) for r in rows]


def _claimable(connection, topics: tuple, postgresql: bool, now: datetime, limit: int, skip: Collection[str],
               lanes: int | None, per_lane: Callable[[str], int] | None) -> list:
    """The rows claim would take now (see claim), in claim order."""
    found = [r for r in connection.execute(_expired(topics, postgresql), {"now": now, "n": limit})
             if r.lane not in skip]
    for lane in connection.execute(_PENDING_LANES).scalars():
        if lane in skip:
            continue
        n = min(limit, per_lane(lane)) if per_lane is not None else limit
        found += connection.execute(_of_lane(topics, postgresql), {"lane": lane, "now": now, "n": n}).all()
    found.sort(key=lambda r: (r.priority, r.available_at, r.id))
    rows = _fair_share(found, lanes, per_lane) if lanes is not None or per_lane is not None else found
    return rows[:limit]


def _fair_share(rows: list, lanes: int | None, per_lane: Callable[[str], int] | None) -> list:
    """The rows taken, in their order: from at most `lanes` lanes, at most `per_lane(lane)` of each."""
    taken: dict[str, int] = {}
    chosen = []
    for r in rows:
        n = taken.get(r.lane)
        if n is None:
            if lanes is not None and len(taken) >= lanes:
                continue
            n = 0
        if per_lane is not None and n >= per_lane(r.lane):
            continue
        taken[r.lane] = n + 1
        chosen.append(r)
    return chosen


def backoff(settings: DeliverySettings, attempts: int) -> timedelta:
    """Exponential: base, 2×base, 4×base ... capped."""
    seconds = min(settings.outbox_backoff_seconds * (2 ** max(attempts - 1, 0)), settings.outbox_backoff_max_seconds)
    return timedelta(seconds=seconds)


_MINE = (update(OUTBOX).where(OUTBOX.c.id == bindparam("_id"), OUTBOX.c.status == "leased",
                              OUTBOX.c.attempts == bindparam("_attempts")))
_RECORD_DONE = _MINE.values(status=bindparam("status"), lease_until=None)
_RECORD_REDACTED = _MINE.values(status=bindparam("status"), lease_until=None, payload=bindparam("payload"))
_RECORD_RETRY = _MINE.values(status="pending", lease_until=None, available_at=bindparam("available_at"))
_INSERT_ATTEMPT = insert(ATTEMPTS)


@lru_cache
def _insert_once(dialect: str, table):
    """INSERT ... ON CONFLICT (outbox_id) DO NOTHING."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=["outbox_id"])


# Outcomes of a batch are recorded together, one transaction per this many messages or seconds (whichever first),
# so a long batch still records what it did well inside the lease.
RECORD_EVERY = 100
RECORD_SECONDS = 1.0


@dataclass
class _Outcome:
    message: Claimed
    status: str  # sent | retry | dead
    code: int | None
    error: str
    duration_ms: int
    at: datetime
    available_at: datetime | None
    store: StoreRow | None = None


def _attempt(db: Database, settings: DeliverySettings, message: Claimed, now: datetime | None) -> _Outcome:
    """Delivers one claimed message (outside any transaction) and says what is to be recorded."""
    if message.secret and (message.payload.get("redacted") or message.expires_at is not None
                           and message.expires_at <= (now or utcnow())):
        return _Outcome(message, "dead", None, EXPIRED, 0, now or utcnow(), None)  # a stale code is not sent
    started = time.monotonic()
    code, error, ok, store, permanent = None, "", False, None, False
    try:
        code, note = HANDLERS[message.topic](db, settings, message)
        store = note if isinstance(note, StoreRow) else None
        ok = True
    except DeliveryError as exc:
        code, error, permanent = exc.status_code, str(exc), exc.permanent
    except Exception as exc:  # noqa: BLE001 — an unexpected failure is kept on the message, not lost
        if message.secret:  # its text and traceback may hold the code
            log.error("outbox %s failed: %s", message.id, type(exc).__name__)
        else:
            log.exception("outbox %s failed", message.id)
        error = f"{type(exc).__name__}: {exc}"
    if message.secret:
        error = scrub(error, message.payload)
    duration = int((time.monotonic() - started) * 1000)
    at = now or utcnow()
    if ok:
        return _Outcome(message, "sent", code, error, duration, at, None, store)
    retry_at = at + backoff(settings, message.attempts)
    if permanent or message.attempts >= settings.outbox_max_attempts:
        return _Outcome(message, "dead", code, error, duration, at, None)
    if message.secret and message.expires_at is not None and retry_at >= message.expires_at:
        return _Outcome(message, "dead", code, f"{error} ({EXPIRED})", duration, at, None)
    return _Outcome(message, "retry", code, error, duration, at, retry_at)


def _record(db: Database, outcomes: list[_Outcome], worker: str) -> list[str]:
    """Records outcomes in one transaction, each only while its row still carries this claim (same attempt
    number): 'sent', 'retry', 'dead', or 'lost' where another worker took the message over."""
    if not outcomes:
        return []
    result = []
    with db.transaction() as session:
        connection = session.connection()
        stored = []
        for o in outcomes:
            key = {"_id": o.message.id, "_attempts": o.message.attempts}
            if o.status == "retry":
                mine = connection.execute(_RECORD_RETRY, {**key, "available_at": o.available_at}).rowcount
            elif o.message.secret:  # sent or dead: the code leaves the database
                mine = connection.execute(_RECORD_REDACTED, {**key, "status": o.status,
                                                             "payload": redacted(o.message.payload)}).rowcount
            else:
                mine = connection.execute(_RECORD_DONE, {**key, "status": o.status}).rowcount
            result.append(o.status if mine else "lost")
            if mine and o.store is not None:
                stored.append(o.store)  # (a message another worker holds now is stored by its delivery)
        dead = [(o.message.id, o.message.merchant_id, o.message.case_id, o.message.topic, o.error)
                for o, status in zip(outcomes, result) if status == "dead"]
        queued = [m for hook in ON_DEAD for m in hook(session, dead)] if dead else []
        if queued:
            session.add_all([OutboxMessage(merchant_id=m["merchant_id"], case_id=m["case_id"], topic=m["topic"],
                                           payload=m["payload"], status="pending", attempts=0, available_at=o_at,
                                           created_at=o_at) for m in queued for o_at in [outcomes[0].at]])
            session.flush()
        for table in {id(r.table): r.table for r in stored}.values():
            # A row an earlier attempt stored (its outcome never recorded) stays as it is: one per outbox id.
            connection.execute(_insert_once(db.dialect, table), [r.values for r in stored if r.table is table])
        connection.execute(_INSERT_ATTEMPT, [{
            "outbox_id": o.message.id, "attempt": o.message.attempts, "at": o.at, "ok": o.status == "sent",
            "status_code": o.code, "error": o.error[:2000], "duration_ms": o.duration_ms, "worker": worker[:80]}
            for o in outcomes])
    return result


def deliver_one(db: Database, settings: DeliverySettings, message: Claimed, *, now: datetime | None = None,
                worker: str = "") -> str:
    """Delivers one claimed message and records the outcome: 'sent', 'retry' or 'dead' ('lost' if re-claimed)."""
    return _record(db, [_attempt(db, settings, message, now)], worker)[0]


def deliver_due(db: Database, settings: DeliverySettings, *, now: datetime | None = None, limit: int = 100,
                worker: str = "") -> dict[str, int]:
    """Claims and delivers one batch, one after the other; returns counts by outcome."""
    now = now or utcnow()
    claimed = claim(db, now=now, limit=limit, lease=timedelta(seconds=settings.outbox_lease_seconds))
    return deliver_all(db, settings, claimed, now=now, worker=worker)


def deliver_all(db: Database, settings: DeliverySettings, claimed: list[Claimed], *, now: datetime | None = None,
                worker: str = "") -> dict[str, int]:
    """Delivers claimed messages in order; returns counts by outcome. Outcomes are recorded a chunk at a time."""
    counts: dict[str, int] = {}
    pending: list[_Outcome] = []
    since = time.monotonic()

    def flush() -> None:
        nonlocal since
        for status in _record(db, pending, worker):
            counts[status] = counts.get(status, 0) + 1
        pending.clear()
        since = time.monotonic()

    try:
        with one_batch():  # each merchant's wording of a template is looked up once per batch
            for message in claimed:
                pending.append(_attempt(db, settings, message, now))
                if len(pending) >= RECORD_EVERY or time.monotonic() - since >= RECORD_SECONDS:
                    flush()
    finally:
        flush()  # what was delivered is recorded even when something unexpected stops the batch
    return counts


def replay(db: Database, *, ids: list[int] | None = None, dead: bool = False, merchant_id: int | None = None,
           now: datetime | None = None) -> int:
    """Puts dead (or named) messages back in the queue, due now; returns how many. A one-time code is never sent
    again (the customer asks for a new one)."""
    stmt = update(OUTBOX).values(status="pending", available_at=now or utcnow(), lease_until=None).where(
        OUTBOX.c.secret.is_(False))
    if ids:
        stmt = stmt.where(OUTBOX.c.id.in_(ids), OUTBOX.c.status.in_(("dead", "sent")))
    elif dead:
        stmt = stmt.where(OUTBOX.c.status == "dead")
    else:
        return 0
    if merchant_id is not None:
        stmt = stmt.where(OUTBOX.c.merchant_id == merchant_id)
    with db.transaction() as session:
        return session.connection().execute(stmt).rowcount


def backlog(db: Database, *, now: datetime | None = None, merchant_id: int | None = None) -> dict:
    """What waits: due messages, the age of the oldest, dead letters (one merchant's when `merchant_id` is given)."""
    now = now or utcnow()
    mine = (OUTBOX.c.merchant_id == merchant_id,) if merchant_id is not None else ()
    with db.read() as session:
        due, oldest = session.execute(select(func.count(), func.min(OUTBOX.c.available_at)).where(
            _due(), OUTBOX.c.topic.in_(sorted(HANDLERS)), *mine), {"now": now}).one()
        dead = session.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == "dead", *mine))
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return {"due": due, "oldest_due_seconds": round(age, 3), "dead": dead}
