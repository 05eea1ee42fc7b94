"""Delivering outbox messages: claimed with a time lease, delivered outside any transaction, the outcome recorded.

A claim sets `status='leased'`, `lease_until` and bumps `attempts` (rows locked `FOR UPDATE SKIP LOCKED` on
PostgreSQL while claiming). A worker that dies holding a lease loses nothing: when the lease runs out another worker
claims the row again. The outcome is written only while the row still carries this claim (same attempt number), so
a worker whose lease was taken over cannot overwrite the newer outcome. Failures retry with exponential backoff;
after `outbox_max_attempts` the message is dead-lettered (status 'dead') and can be replayed.
Delivery is at least once; every message carries its id (webhook `X-Returnflow-Delivery`, email Message-ID,
provider Idempotency-Key) so a receiver can drop the rare repeat after a crash between sending and recording.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select, update

from ..cases.models import OutboxMessage
from ..db import Database, utcnow
from .channels import DeliveryError
from .config import DeliverySettings
from .models import DeliveryAttempt

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


# topic -> deliver(db, settings, message) -> (status_code or None, note). Raise DeliveryError on failure.
Handler = Callable[[Database, DeliverySettings, Claimed], tuple[int | None, str]]
HANDLERS: dict[str, Handler] = {}


def _due(now_param: str = "now"):
    now = bindparam(now_param)
    return or_(and_(OUTBOX.c.status == "pending", OUTBOX.c.available_at <= now),
               and_(OUTBOX.c.status == "leased", OUTBOX.c.lease_until < now))


def claim(db: Database, *, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Takes up to `limit` due messages of the topics this process can deliver, under a lease."""
    stmt = (select(OUTBOX.c.id, OUTBOX.c.merchant_id, OUTBOX.c.case_id, OUTBOX.c.topic, OUTBOX.c.payload,
                   OUTBOX.c.attempts)
            .where(_due(), OUTBOX.c.topic.in_(sorted(HANDLERS))).order_by(OUTBOX.c.available_at, OUTBOX.c.id)
            .limit(limit))
    if db.dialect == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    with db.transaction() as session:
        connection = session.connection()
        rows = connection.execute(stmt, {"now": now}).all()
        if not rows:
            return []
        connection.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows])).values(
            status="leased", lease_until=now + lease, attempts=OUTBOX.c.attempts + 1))
    return [Claimed(r.id, r.merchant_id, r.case_id, r.topic, r.payload or {}, r.attempts + 1) for r in rows]


def backoff(settings: DeliverySettings, attempts: int) -> timedelta:
    """Exponential: base, 2×base, 4×base ... capped."""
    seconds = min(settings.outbox_backoff_seconds * (2 ** max(attempts - 1, 0)), settings.outbox_backoff_max_seconds)
    return timedelta(seconds=seconds)


def deliver_one(db: Database, settings: DeliverySettings, message: Claimed, *, now: datetime | None = None,
                worker: str = "") -> str:
    """Delivers one claimed message and records the outcome: 'sent', 'retry' or 'dead' ('lost' if re-claimed)."""
    started = time.monotonic()
    code, error, ok = None, "", False
    try:
        code, _note = HANDLERS[message.topic](db, settings, message)
        ok = True
    except DeliveryError as exc:
        code, error = exc.status_code, str(exc)
    except Exception as exc:  # noqa: BLE001 — an unexpected failure is kept on the message, not lost
        log.exception("outbox %s failed", message.id)
        error = f"{type(exc).__name__}: {exc}"
    duration = int((time.monotonic() - started) * 1000)
    at = now or utcnow()
    if ok:
        status, values = "sent", {"status": "sent", "lease_until": None}
    elif message.attempts >= settings.outbox_max_attempts:
        status, values = "dead", {"status": "dead", "lease_until": None}
    else:
        status, values = "retry", {"status": "pending", "lease_until": None,
                                   "available_at": at + backoff(settings, message.attempts)}
    with db.transaction() as session:
        connection = session.connection()
        mine = connection.execute(update(OUTBOX).where(
            OUTBOX.c.id == message.id, OUTBOX.c.status == "leased", OUTBOX.c.attempts == message.attempts)
            .values(**values)).rowcount
        connection.execute(insert(ATTEMPTS), {
            "outbox_id": message.id, "attempt": message.attempts, "at": at, "ok": ok, "status_code": code,
            "error": error[:2000], "duration_ms": duration, "worker": worker[:80]})
    return status if mine else "lost"


def deliver_due(db: Database, settings: DeliverySettings, *, now: datetime | None = None, limit: int = 100,
                worker: str = "") -> dict[str, int]:
    """Claims and delivers one batch; returns counts by outcome."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    for message in claim(db, now=now, limit=limit, lease=timedelta(seconds=settings.outbox_lease_seconds)):
        outcome = deliver_one(db, settings, message, now=now, worker=worker)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def replay(db: Database, *, ids: list[int] | None = None, dead: bool = False, merchant_id: int | None = None,
           now: datetime | None = None) -> int:
    """Puts dead (or named) messages back in the queue, due now; returns how many."""
    stmt = update(OUTBOX).values(status="pending", available_at=now or utcnow(), lease_until=None)
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


def backlog(db: Database, *, now: datetime | None = None) -> dict:
    """What waits: due messages, the age of the oldest, dead letters."""
    now = now or utcnow()
    with db.read() as session:
        due, oldest = session.execute(select(func.count(), func.min(OUTBOX.c.available_at)).where(
            _due(), OUTBOX.c.topic.in_(sorted(HANDLERS))), {"now": now}).one()
        dead = session.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == "dead"))
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return {"due": due, "oldest_due_seconds": round(age, 3), "dead": dead}
