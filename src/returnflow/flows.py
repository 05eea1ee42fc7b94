"""Declared transition tables for records other than the case, run by one `move` (the case has its own `fire`).

A record kind (a refund, a refund's payment leg, a charge to the customer, a compensation, a balance spend, a parcel
at the receiving desk, a repair work order, a shipment, a pickup booking, a plan, a hand-off, a follow-up) declares
its table once: per action the states it may start from (None: the record is being opened), the state it goes to
(None: the state stays, an event only), who may (roles) and an optional guard. `move` checks the table, sets the
state, bumps the record's version if it has one, and writes one `record_events` row in the caller's transaction,
so a record's history is exactly its event rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .auth.models import User
from .db import Base, UTCDateTime, utcnow
from . import deferred
from .deferred import deferrable
from .errors import AppError, Conflict, Forbidden

OPENING = None  # the "state" a record is in before its first move


class RecordEvent(Base):
    """One move of a money record (and any other record kind with a declared table): who, when, from, to, why."""

    __tablename__ = "record_events"
    __table_args__ = (Index("ix_record_events_record", "kind", "record_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # refund | refund_payment | customer_charge | ...
    record_id: Mapped[int]
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str | None] = mapped_column(String(30))  # None: the state stayed
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(default=dict)


Guard = Callable[[Session, Any, dict], None]


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str | None]
    to: str | None  # None: the state stays (an event only)
    roles: tuple[str, ...]
    guard: Guard | None = None
    summary: str = ""


@dataclass(frozen=True)
class Flow:
    """The declared table of one record kind."""

    kind: str
    title: str
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    case_of: Callable[[Any], int | None] = field(default=lambda record: getattr(record, "case_id", None))
    # Where the record keeps its state and its key (records older than the tables call their state `status`), and
    # its merchant (a record without a merchant column names it through its case).
    state_attr: str = "state"
    id_attr: str = "id"
    merchant_of: Callable[[Session, Any], int] = field(default=lambda session, record: record.merchant_id)

    def transition(self, action: str) -> Transition:
        for t in self.transitions:
            if t.action == action:
                return t
        raise AppError("unknown_action", status=422, field="action", action=action,
                       allowed=[t.action for t in self.transitions])

    def allowed(self, state: str | None, role: str | None = None) -> list[str]:
        return [t.action for t in self.transitions if state in t.sources and (role is None or role in t.roles)]


def role_for(session: Session, by: str) -> str:
    """The role behind an actor reference: a staff member's own role, else gateway | system | customer."""
    if by.startswith("user:") and by[5:].isdigit():
        return session.scalar(select(User.role).where(User.id == int(by[5:]))) or "unknown"
    if by.startswith("gateway:"):
        return "gateway"
    return "customer" if by.startswith("customer:") else "system"


# Called after every move, in its transaction, with its event (returnflow/bootstrap.py installs them).
AFTER_MOVE: list[Callable[[Session, RecordEvent], None]] = []


def move(session: Session, flow: Flow, record: Any, action: str, *, by: str, at: datetime,
         role: str | None = None, data: dict | None = None) -> RecordEvent:
    """Runs one declared transition of `record`: table, role, guard; the state, the version, one event row.

    A record being opened (state None) is added and flushed so its event can name it. `data` is what the event
    keeps beside its states (references, reasons, notes, the attempt), as the caller gives it."""
    source = getattr(record, flow.state_attr)
    t = _allowed(session, flow, action, source, by, role)
    data = dict(data or {})
    if t.guard is not None:
        t.guard(session, record, data)
    if t.to is not None:
        setattr(record, flow.state_attr, t.to)
    if hasattr(record, "updated_at"):
        record.updated_at = at
    if hasattr(record, "version"):
        record.version = (record.version or 0) + 1
    if source is OPENING or getattr(record, flow.id_attr) is None:
        session.add(record)
    session.flush()
    event = RecordEvent(kind=flow.kind, record_id=getattr(record, flow.id_attr),
                        merchant_id=flow.merchant_of(session, record),
                        case_id=flow.case_of(record), action=action, from_state=source,
                        to_state=t.to, actor=by, at=at, data=data)
    session.add(event)
    session.flush()
    for hook in AFTER_MOVE:
        hook(session, event)
    return event


def _allowed(session: Session, flow: Flow, action: str, source: str | None, by: str,
             role: str | None) -> Transition:
    """The table's checks: the action starts from `source` (409 illegal_move), the actor's role is listed (403)."""
    t = flow.transition(action)
    if source not in t.sources:
        raise Conflict("illegal_move", kind=flow.kind, state=source or "-", action=action,
                       allowed=flow.allowed(source) or ["-"])
    role = role or role_for(session, by)
    if role not in t.roles:
        raise Forbidden("forbidden_role", role=role, what=action, allowed=list(t.roles))
    return t


# No RETURNING (nothing reads the new row's id); deferrable: the derivation step executes it with its other writes.
_OPENED = deferrable(RecordEvent.__table__.insert())


def opened(session: Session, flow: Flow, action: str, *, record_id: int, merchant_id: int, case_id: int | None,
           by: str, at: datetime, role: str | None = None, data: dict | None = None) -> None:
    """The opening move of a record a hot path inserted itself with one Core statement, in the state
    `flow.transition(action).to` (the case's own transaction keeps its statements few): the same checks as `move`
    (a refusal rolls the insert back with the transaction) and the same one `record_events` row, also by Core."""
    t = _allowed(session, flow, action, OPENING, by, role)
    if t.guard is not None or t.to is None:
        raise ValueError(f"{flow.kind}.{action} is not a plain opening: run it with move()")
    deferred.execute(session, _OPENED, {
        "kind": flow.kind, "record_id": record_id, "merchant_id": merchant_id, "case_id": case_id,
        "action": action, "from_state": None, "to_state": t.to, "actor": by, "at": at, "data": dict(data or {})})


# ---- reading ---------------------------------------------------------------------------------------------------

def entry(event: RecordEvent) -> dict:
    """One event in the shape the API has always answered with: {at, from, to, by, ...data}.

    An opening move has no `from`; a move that keeps the state has neither `from` nor `to`."""
    out: dict = {"at": event.at.isoformat()}
    if event.to_state is not None:
        if event.from_state is not None:
            out["from"] = event.from_state
        out["to"] = event.to_state
    out["by"] = event.actor
    out.update(event.data or {})
    return out


def events(session: Session, kind: str, record_id: int) -> list[RecordEvent]:
    return list(session.scalars(select(RecordEvent).where(RecordEvent.kind == kind,
                                                          RecordEvent.record_id == record_id)
                                .order_by(RecordEvent.id)))


def history(session: Session, kind: str, record_id: int) -> list[dict]:
    """A record's history, oldest first."""
    return [entry(e) for e in events(session, kind, record_id)]


def histories(session: Session, kind: str, record_ids: list[int]) -> dict[int, list[dict]]:
    """Histories of many records of one kind in one query (listings)."""
    found: dict[int, list[dict]] = {i: [] for i in record_ids}
    if record_ids:
        for e in session.scalars(select(RecordEvent).where(RecordEvent.kind == kind,
                                                           RecordEvent.record_id.in_(record_ids))
                                 .order_by(RecordEvent.id)):
            found[e.record_id].append(entry(e))
    return found


def count(session: Session, kind: str, record_id: int) -> int:
    """How many moves the record has made (a form's version for records without a version column)."""
    return session.scalar(select(func.count()).select_from(RecordEvent).where(
        RecordEvent.kind == kind, RecordEvent.record_id == record_id)) or 0


def last(session: Session, kind: str, record_id: int, *, to: str | None = None) -> RecordEvent | None:
    """The record's latest event (that moved it to `to`, if given)."""
    stmt = select(RecordEvent).where(RecordEvent.kind == kind, RecordEvent.record_id == record_id)
    if to is not None:
        stmt = stmt.where(RecordEvent.to_state == to)
    return session.scalar(stmt.order_by(RecordEvent.id.desc()).limit(1))
