"""The derivation step: what a case event sets off beyond its own transaction, derived from the event log.

A request writes the case's new state and version, its event and the few rows the decision itself needs
(cases.side_effects.SIDE_EFFECTS). Everything else an event sets off (cases.side_effects.DERIVED: timers, notices,
webhook deliveries, the analytics rollup, ...) is written here, for each event not yet derived, in the order of the
case's events, together with the event's `event_derivations` row, in one transaction per batch:
- a crash loses nothing: the event is durable and stays underived until a transaction derives it;
- nothing is derived twice: the derivation row's key is the event id (and derived outbox messages carry the event
  id and their place, unique together); the cases of a batch are claimed first (PostgreSQL: an advisory lock per
  case, taken without waiting, so several workers share the log; SQLite: one writer at a time).

`derive_positions` keeps the low-water mark: every event up to it is derived, so a round reads only what is newer.

Modes (RETURNFLOW_DERIVE): `worker` (the default) — the worker derives (the worker process `returnflow serve`
starts, or `returnflow worker` processes), a request only wakes the workers (PostgreSQL: NOTIFY in its transaction;
SQLite: the doorbell after its commit, returnflow/doorbell.py); `inline` — right after the
request's commit the same process derives that case's events with the same code (an eager worker; if it dies in
between, the worker picks them up).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import BigInteger, String, bindparam, exists, func, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from .batch_reads import for_batch
from .cases import store
from .cases.side_effects import DERIVED_BATCH, derive_effects
from .cases.store import OUTBOX
from .db import Base, Tx, UTCDateTime, utcnow
from .deferred import deferrable, deferred_writes
from .prepared import prepared
from .doorbell import address as doorbell_of, ring

log = logging.getLogger("returnflow.derive")


class EventDerivation(Base):
    """An event whose derived rows are written: inserted in the transaction that writes them, so an event is derived
    exactly once (a second derivation fails on the key and rolls back)."""

    __tablename__ = "event_derivations"

    # A case_events id; no foreign key: the insert stays one index write, and an event deleted behind the app's
    # back must still show as a gap in its chain (audit.chain.verify), not be kept by its derivation.
    event_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    derived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DerivePosition(Base):
    """The low-water mark of a derivation stream: every event with an id up to `event_id` is derived.

    On PostgreSQL an event id can become visible after a higher one (ids are taken before commit), so a new mark is
    first kept as `pending_id` with the snapshot's `pending_xmax`; it becomes the mark once every transaction that
    was running then has ended (none can still add an event below it)."""

    __tablename__ = "derive_positions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_id: Mapped[int | None] = mapped_column(BigInteger)
    pending_xmax: Mapped[int | None] = mapped_column(BigInteger)


EVENTS = store.EVENTS
DERIVED = EventDerivation.__table__
POSITIONS = DerivePosition.__table__
STREAM = "case_events"
LOCK_CLASS = 0x7264  # the advisory lock space of case derivations: (LOCK_CLASS, case id)


class DeriveSettings(BaseSettings):
    """RETURNFLOW_DERIVE: who derives ("worker" or "inline"); RETURNFLOW_DERIVE_BATCH: events per transaction (unset:
    BATCH_DEFAULT for the database)."""

    model_config = SettingsConfigDict(env_prefix="RETURNFLOW_", env_file=".env", extra="ignore")

    derive: Literal["worker", "inline"] = "worker"
    derive_batch: int | None = Field(default=None, ge=1)

    def batch_for(self, dialect: str) -> int:
        return self.derive_batch or BATCH_DEFAULT.get(dialect, 50)


# Events per derivation transaction. SQLite: the transaction holds the one write lock, so small batches with a pause
# between them let the requests in (jobs/worker.py). PostgreSQL: nothing waits for it, and each batch pays a dozen
# fixed statements: with 50, one worker in `serve` trailed a loaded server by ~1 s (bench/lifecycle.py, lag p99
# 1.06-1.24 s; with 200: 0.76-0.96 s in three of four runs, two workers 0.72-0.97 s instead of 1.1-1.2 s).
BATCH_DEFAULT = {"sqlite": 50, "postgresql": 200}


@lru_cache
def get_derive_settings() -> DeriveSettings:
    return DeriveSettings()


def mode() -> str:
    return get_derive_settings().derive


# The batch's own statements run as prepared statements (returnflow/prepared.py).
_UNDERIVED = prepared(select(EVENTS.c.id, EVENTS.c.case_id)
                      .where(EVENTS.c.id > bindparam("pos"), ~exists().where(DERIVED.c.event_id == EVENTS.c.id))
                      .order_by(EVENTS.c.id).limit(bindparam("limit")))
_POSITION = select(POSITIONS.c.event_id).where(POSITIONS.c.name == STREAM)
_POSITION_READ = prepared(_POSITION)
_OF_CASES = prepared(select(EVENTS)
                     .where(EVENTS.c.case_id.in_(bindparam("ids", expanding=True)),
                            EVENTS.c.id > func.coalesce(_POSITION.scalar_subquery(), 0),
                            ~exists().where(DERIVED.c.event_id == EVENTS.c.id))
                     .order_by(EVENTS.c.case_id, EVENTS.c.seq))
_MARK = deferrable(insert(DERIVED))
_INSERT_KEYED = deferrable(insert(OUTBOX))
_LOW_WATER = prepared(select(func.coalesce(
    select(func.min(EVENTS.c.id)).where(EVENTS.c.id > bindparam("pos"),
                                        ~exists().where(DERIVED.c.event_id == EVENTS.c.id)).scalar_subquery() - 1,
    select(func.max(EVENTS.c.id)).scalar_subquery(), 0)))
_TRY_LOCK = text("SELECT c FROM unnest(CAST(:ids AS integer[])) AS c "
                 "WHERE pg_try_advisory_xact_lock(:k, c) LIMIT :n")
_LOCK = text("SELECT pg_advisory_xact_lock(:k, c) FROM unnest(CAST(:ids AS integer[])) AS c")
_PG_POSITION = text("SELECT event_id, pending_id, pending_xmax FROM derive_positions WHERE name = :name "
                    "FOR UPDATE SKIP LOCKED")
_PG_SNAPSHOT = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, "
                    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax")
_SET_POSITION = prepared(update(POSITIONS).where(POSITIONS.c.name == STREAM)
                         .values(event_id=bindparam("event_id"), pending_id=bindparam("pending_id"),
                                 pending_xmax=bindparam("pending_xmax")))

# Workers of this process waiting for work (a request in worker mode wakes them after its commit).
WAKE: set[threading.Event] = set()
CHANNEL = "returnflow_derive"  # PostgreSQL: a commit that wrote case events notifies the workers of every process
_NOTIFY = text(f"NOTIFY {CHANNEL}")
# At most one notice per process in this many seconds. A commit after a quiet spell wakes the workers at once; under
# load a notice per commit would only cost: PostgreSQL serialises the commits of notifying transactions (a
# database-wide lock), and woken workers that find nothing burn the cores the requests need (bench/lifecycle.py on
# PostgreSQL: 263-274 req/s with a notice at most every 50 ms, 283-289 with 0.25 s). A busy worker goes on while it
# finds events; an idle one looks again after its poll (RETURNFLOW_WORKER_POLL_SECONDS) at the latest.
NOTIFY_EVERY = 0.25
_notified = [float("-inf")]


def _notify(session) -> None:
    """Every listening worker process (jobs.worker.Listener) is woken when this transaction commits; PostgreSQL sends
    one notice per transaction and channel, and none if it rolls back."""
    now = time.monotonic()
    if now - _notified[0] >= NOTIFY_EVERY:
        _notified[0] = now
        session.connection().execute(_NOTIFY)


@dataclass
class Derived:
    events: int = 0
    cases: int = 0
    messages: int = 0
    failed: int = 0  # cases whose derivation raised (left underived; the next round tries again)
    lags: list[float] = field(default_factory=list)


@contextmanager
def _transaction(engine: Engine):
    with engine.begin() as connection:
        tx = Tx(connection)
        try:
            yield tx
            tx.flush_orm()
        finally:
            tx.close()


def _event(row) -> dict:
    return dict(row._mapping)


def _derive(session, case_ids: list[int], now: datetime) -> Derived:
    """Derives every underived event of the cases (claimed by the caller), case by case in seq order: their
    derivation rows in one statement, the derived producers event by event, all their outbox messages in one
    statement at the end. Raises when a producer fails (the caller rolls the transaction back)."""
    result = Derived()
    if not case_ids:
        return result
    events: dict[int, list[dict]] = {}
    for row in store.run(session, _OF_CASES, {"ids": case_ids}):
        events.setdefault(row.case_id, []).append(_event(row))
    if not events:
        return result
    cases = {c.id: c for c in store.load_many(session, sorted(events))}
    messages: list[dict] = []
    # The producers' writes are kept and executed together, the same statement for many rows at once, before the
    # next read and at the end (returnflow/deferred.py).
    # What the producers read per case is read for all the batch's cases at once (returnflow/batch_reads.py).
    with deferred_writes(session) as kept, for_batch(session, cases):
        # First: a second derivation of any of these events fails on this key (at the latest when the block ends),
        # and the transaction, with everything else it wrote, rolls back.
        store.run(session, _MARK, [{"event_id": e["id"], "derived_at": now}
                                   for todo in events.values() for e in todo])
        for case_id in case_ids:
            todo, case = events.get(case_id), cases.get(case_id)
            if not todo or case is None:
                continue
            kept.case = case_id
            for event in todo:
                messages += derive_effects(session, case, event)
            result.cases += 1
            result.events += len(todo)
            result.lags += [max((now - e["created_at"]).total_seconds(), 0.0) for e in todo]
        kept.case = None
        if messages:
            store.run(session, _INSERT_KEYED, messages)
    # What is derived per case rather than per event (the analytics returned-lines summary), for the whole batch.
    derived = {case_id: events[case_id] for case_id in case_ids if case_id in events}
    for hook in DERIVED_BATCH:
        hook(session, derived)
    result.messages = len(messages)
    return result


def _claim_and_derive(engine: Engine, case_ids: list[int], now: datetime, *, wait: bool) -> Derived:
    """Derives the cases in a transaction of their own; PostgreSQL: only those not being derived by another worker
    (`wait`: waits for them instead)."""
    with _transaction(engine) as session:
        if engine.dialect.name == "postgresql":
            if wait:
                store.run(session, _LOCK, {"ids": case_ids, "k": LOCK_CLASS}).all()  # in id order: no deadlock
            else:
                case_ids = list(store.run(session, _TRY_LOCK, {"ids": case_ids, "k": LOCK_CLASS,
                                                               "n": len(case_ids)}).scalars())
        session.orm.connection()  # the ORM session (some producers use it) joins this transaction
        return _derive(session, case_ids, now)


def _one_by_one(engine: Engine, case_ids: list[int], now: datetime, *, wait: bool) -> Derived:
    """After a batch failed: each case in its own transaction, so one whose producers fail (logged, left underived,
    tried again next round) does not hold the others back."""
    total = Derived()
    for case_id in case_ids:
        try:
            done = _claim_and_derive(engine, [case_id], now, wait=wait)
        except Exception:  # noqa: BLE001 — logged; the next round tries again
            log.exception("deriving the events of case %s failed", case_id)
            total.failed += 1
            continue
        total.cases += done.cases
        total.events += done.events
        total.messages += done.messages
        total.lags += done.lags
    return total


def derive_batch(engine: Engine, *, limit: int | None = None, now: datetime | None = None) -> Derived:
    """One batch of the worker: claims the cases of the oldest underived events (up to `limit` events), derives
    them in one transaction and moves the low-water mark. Returns what it did."""
    limit = limit or get_derive_settings().batch_for(engine.dialect.name)
    postgres = engine.dialect.name == "postgresql"
    case_ids: list[int] = []
    if not postgres and not _sqlite_work(engine):
        return Derived()
    try:
        with _transaction(engine) as session:
            pos = store.run(session, _POSITION_READ).scalar() or 0
            rows = store.run(session, _UNDERIVED, {"pos": pos, "limit": limit}).all()
            case_ids = list(dict.fromkeys(r.case_id for r in rows))
            if postgres and case_ids:
                # Cases another worker is deriving are left to it: only the ones locked here (without waiting).
                more = store.run(session, _UNDERIVED, {"pos": pos, "limit": 4 * limit}).all() \
                    if len(rows) == limit else rows
                wanted = list(dict.fromkeys(r.case_id for r in more))
                case_ids = list(store.run(session, _TRY_LOCK, {"ids": wanted, "k": LOCK_CLASS,
                                                               "n": len(case_ids)}).scalars())
            session.orm.connection()  # the ORM session (some producers use it) joins this transaction
            result = _derive(session, case_ids, now or utcnow())
            _advance(session, pos, postgres)
    except Exception as exc:  # noqa: BLE001 — a producer failed for some case: derive them one by one
        if not case_ids:
            raise
        # The error is named: a batch that keeps failing for all its cases (not one case's data) is a defect, and
        # case by case hides it behind correct but slower derivation.
        log.warning("a derivation batch failed (%s: %s); deriving its %d cases one by one", type(exc).__name__,
                    str(exc).splitlines()[0][:300] if str(exc) else "", len(case_ids))
        result = _one_by_one(engine, case_ids, now or utcnow(), wait=False)
    return result


def _sqlite_work(engine: Engine) -> bool:
    """Whether there is an event to derive or a mark to move, asked in a read transaction: SQLite has one writer,
    and a worker with nothing to do must not take the write lock from the requests."""
    with _transaction(engine.execution_options(sqlite_begin="DEFERRED")) as session:
        pos = store.run(session, _POSITION_READ).scalar() or 0
        if store.run(session, _UNDERIVED, {"pos": pos, "limit": 1}).first() is not None:
            return True
        return (store.run(session, select(func.max(EVENTS.c.id))).scalar() or 0) > pos


def derive_cases(engine: Engine, case_ids: Iterable[int], *, now: datetime | None = None) -> Derived:
    """Derives the underived events of these cases now (inline mode, after a request's commit), waiting for a worker
    deriving one of them to finish first."""
    ids = sorted(set(case_ids))
    if not ids:
        return Derived()
    try:
        result = _claim_and_derive(engine, ids, now or utcnow(), wait=True)
    except Exception:
        if len(ids) == 1:
            raise
        result = _one_by_one(engine, ids, now or utcnow(), wait=True)
    return result


def _advance(session, pos: int, postgres: bool) -> None:
    """Moves the low-water mark up to the event before the oldest underived one.

    SQLite: the transaction holds the write lock, so no event can be on its way: the mark moves at once.
    PostgreSQL: an event id is taken before its transaction commits, so a lower id may still appear; the new mark
    waits as `pending_id` until every transaction that was running when it was computed has ended (the snapshot's
    xmin has passed the xmax noted with it), then it is checked against what is underived by then and taken."""
    if not postgres:
        low = store.run(session, _LOW_WATER, {"pos": pos}).scalar() or 0
        if low > pos:
            if store.run(session, _SET_POSITION, {"event_id": low, "pending_id": None,
                                                  "pending_xmax": None}).rowcount == 0:
                store.run(session, insert(POSITIONS), {"name": STREAM, "event_id": low})
        return
    row = store.run(session, _PG_POSITION, {"name": STREAM}).first()
    if row is None:
        # No row (a schema made without the migration), or another worker is moving it now.
        store.run(session, text("INSERT INTO derive_positions (name, event_id) VALUES (:name, 0) "
                                "ON CONFLICT DO NOTHING"), {"name": STREAM})
        return
    snapshot = store.run(session, _PG_SNAPSHOT).one()
    low = store.run(session, _LOW_WATER, {"pos": row.event_id}).scalar() or 0
    mark, pending, xmax = row.event_id, row.pending_id, row.pending_xmax
    if pending is not None and snapshot.xmin >= xmax:
        mark = max(mark, min(pending, low))  # every event up to `pending` is visible now; `low` is what is derived
        pending = xmax = None
    if low > mark and pending is None:
        pending, xmax = low, snapshot.xmax
    if (mark, pending, xmax) != (row.event_id, row.pending_id, row.pending_xmax):
        store.run(session, _SET_POSITION, {"event_id": mark, "pending_id": pending, "pending_xmax": xmax})


def after_event(session, case, event) -> None:
    """The hook of every written event (cases.side_effects.AFTER_EVENT): once the transaction commits, inline mode
    derives the case's events; worker mode wakes the workers of this process. Other sessions than a `Tx` (none in
    the app) leave the event to the worker."""
    hooks = getattr(session, "after_commit", None)
    if hooks is None:
        return
    pending = hooks.get("derive")
    if pending is None:
        pending = hooks["derive"] = _AfterCommit(session.get_bind())
        if pending.engine.dialect.name == "postgresql" and mode() == "worker":
            _notify(session)
    pending.cases.add(case.id)


_DOORBELLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _doorbell(engine: Engine) -> bytes | None:
    """The doorbell of a SQLite engine's database (returnflow/doorbell.py), worked out once per engine."""
    try:
        return _DOORBELLS[engine]
    except KeyError:
        found = _DOORBELLS[engine] = doorbell_of(engine.url.render_as_string(hide_password=False))
        return found


class _AfterCommit:
    __slots__ = ("engine", "cases")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cases: set[int] = set()

    def __call__(self) -> None:
        if mode() == "inline":
            try:
                derive_cases(self.engine, self.cases)
            except Exception:  # noqa: BLE001 — committed already: the worker derives what is left
                log.exception("inline derivation of cases %s failed; the worker will derive them", sorted(self.cases))
        elif self.engine.dialect.name == "sqlite":
            # The worker process on this file (serve's, or `returnflow worker`): one datagram, after the commit so
            # the worker finds the events. Every commit rings: it costs a system call, and an idle worker derives
            # at once instead of at its next poll.
            ring(_doorbell(self.engine))
        for wake in list(WAKE):
            wake.set()


def backlog(session, *, now: datetime | None = None) -> dict:
    """Events not derived yet and the age of the oldest (seconds), from the low-water mark on."""
    now = now or utcnow()
    pos = store.run(session, _POSITION_READ).scalar() or 0
    count, oldest = store.run(session, select(func.count(), func.min(EVENTS.c.created_at)).where(
        EVENTS.c.id > pos, ~exists().where(DERIVED.c.event_id == EVENTS.c.id))).one()
    return {"underived": count, "oldest_seconds": round(max((now - oldest).total_seconds(), 0.0), 3)
            if oldest is not None else 0.0, "position": pos}

