"""A maintained summary for the step-time and satisfaction reports: one row per case with the first time it reached
each milestone, each step's seconds, who decided it first and the state it was last closed from.

`analytics_case_steps` is written by the derivation step from every case event (a producer, like the SLA clocks):
opening inserts the row, each milestone action (approve/reject, ship_return, receive, inspect, resolve, close) sets
its column to the earliest time seen, the first decision names its actor and each closing its state; the database
stores the seconds of each step from the times (generated columns). So the row always equals what the case's
events say (`raw_milestones` computes the same from the events; tests and `returnflow report rollup-check` compare
them), and the reports read one narrow row per case instead of every event of the period. Migrations 0013 and
0025 fill it for the cases that existed before; `rebuild` (`returnflow report rollup-rebuild`) does the same on
demand.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Computed, Float, ForeignKey, Index, String, bindparam, case, column, delete, func, insert,
                        or_, select, update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..cases.models import Case, CaseEvent
from ..cases.side_effects import Write
from ..db import Base, UTCDateTime
from ..deferred import deferrable
from .sql import span

MILESTONES = {"intake": ("open",), "decision": ("approve", "reject"), "shipped": ("ship_return",),
              "received": ("receive",), "inspected": ("inspect",), "resolved": ("resolve",), "closed": ("close",)}
COLUMN_OF_ACTION = {action: f"{name}_at" for name, actions in MILESTONES.items() for action in actions}


class CaseSteps(Base):
    """When a case first reached each milestone (null: not yet), how long each step took (computed by the database
    from those times), who decided it and the state it was closed from.

    Keyed by (merchant, opening time, case): a period's rows are one range of the key (SQLite keeps the rows in
    that order, WITHOUT ROWID), and updates find a case by its own unique index."""

    __tablename__ = "analytics_case_steps"
    __table_args__ = (Index("ix_analytics_case_steps_case", "case_id", unique=True), {"sqlite_with_rowid": False})

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    intake_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who made the first decision (approve or reject), as the timeline names them; the state of the last closing.
    decided_by: Mapped[str | None] = mapped_column(String(200))
    closed_from: Mapped[str | None] = mapped_column(String(30))
    # Seconds per step (null: the step was not reached), stored by the database whenever the times change.
    decision_secs: Mapped[float | None] = mapped_column(Float, Computed(span(column("intake_at"),
                                                                            column("decision_at")), persisted=True))
    shipped_secs: Mapped[float | None] = mapped_column(Float, Computed(span(column("decision_at"),
                                                                           column("shipped_at")), persisted=True))
    received_secs: Mapped[float | None] = mapped_column(Float, Computed(span(
        func.coalesce(column("shipped_at"), column("decision_at")), column("received_at")), persisted=True))
    inspected_secs: Mapped[float | None] = mapped_column(Float, Computed(span(column("received_at"),
                                                                             column("inspected_at")), persisted=True))
    resolved_secs: Mapped[float | None] = mapped_column(Float, Computed(span(
        func.coalesce(column("inspected_at"), column("received_at"), column("decision_at"), column("intake_at")),
        column("resolved_at")), persisted=True))
    closed_secs: Mapped[float | None] = mapped_column(Float, Computed(span(
        func.coalesce(column("resolved_at"), column("decision_at")), column("closed_at")), persisted=True))
    total_secs: Mapped[float | None] = mapped_column(Float, Computed(span(column("intake_at"), column("closed_at")),
                                                                    persisted=True))


STEPS_TABLE = CaseSteps.__table__
# What the writers and the checks name: the stored columns (the seconds per step are the database's to compute).
STORED = ["case_id", "merchant_id", "created_at"] + [f"{name}_at" for name in MILESTONES] + ["decided_by",
                                                                                              "closed_from"]
# All `deferrable`: the derivation step executes them with its other writes (returnflow/deferred.py).
_INSERT = deferrable(insert(STEPS_TABLE))
# Earliest time wins, so events recorded out of order (back-dated imports) still give the first one.
_SET = {col: deferrable(update(STEPS_TABLE).where(STEPS_TABLE.c.case_id == bindparam("_case"),
                                       or_(STEPS_TABLE.c[col].is_(None), STEPS_TABLE.c[col] > bindparam("_at")))
        .values({col: bindparam("_at")}))
        for col in set(COLUMN_OF_ACTION.values()) - {"intake_at", "decision_at", "closed_at"}}
# A case's events are derived in their order: the first decision names who decided, the last closing its state.
# In the same statement as the milestone's time (the derivation step pays per statement, not per column).
_AT = bindparam("_at", type_=UTCDateTime())
_EARLIEST = {col: case((or_(STEPS_TABLE.c[col].is_(None), STEPS_TABLE.c[col] > _AT), _AT), else_=STEPS_TABLE.c[col])
             for col in ("decision_at", "closed_at")}
_SET["decision_at"] = deferrable(update(STEPS_TABLE).where(STEPS_TABLE.c.case_id == bindparam("_case")).values(
    decision_at=_EARLIEST["decision_at"], decided_by=func.coalesce(STEPS_TABLE.c.decided_by, bindparam("_who"))))
_SET["closed_at"] = deferrable(update(STEPS_TABLE).where(STEPS_TABLE.c.case_id == bindparam("_case")).values(
    closed_at=_EARLIEST["closed_at"], closed_from=bindparam("_from")))


def who(event: dict) -> str | None:
    """The event's actor as the reports name them: their name, else their id, else their kind (as `_WHO` in SQL)."""
    return event.get("actor_name") or (event["actor_id"] if event.get("actor_id") is not None
                                       else event.get("actor_kind"))


def on_event(session: Session, case, event: dict) -> list[Write]:
    """The workflow side effect: the writes that keep the case's row in step with its new event; sends nothing."""
    action = event["action"]
    if action == "open":
        return [Write(_INSERT, {"case_id": case.id, "merchant_id": case.merchant_id, "created_at": case.created_at,
                                "intake_at": event["created_at"], "decision_at": None, "shipped_at": None,
                                "received_at": None, "inspected_at": None, "resolved_at": None, "closed_at": None,
                                "decided_by": None, "closed_from": None})]
    if action not in COLUMN_OF_ACTION:
        return []
    params = {"_case": case.id, "_at": event["created_at"]}
    if action in MILESTONES["decision"]:
        params["_who"] = who(event)
    elif action == "close":
        params["_from"] = event.get("from_state")
    return [Write(_SET[COLUMN_OF_ACTION[action]], params)]


_EV = CaseEvent.__table__.alias("e")  # an alias: the queries these go into read case_events themselves
_WHO = func.coalesce(func.nullif(_EV.c.actor_name, ""), _EV.c.actor_id, _EV.c.actor_kind)


def decided_by_of(case_id):
    """Who made the case's first decision (approve or reject), from its events."""
    return (select(_WHO).where(_EV.c.case_id == case_id, _EV.c.action.in_(MILESTONES["decision"]))
            .order_by(_EV.c.seq).limit(1).scalar_subquery())


def closed_from_of(case_id):
    """The state the case was last closed from, from its events."""
    return (select(_EV.c.from_state).where(_EV.c.case_id == case_id, _EV.c.action == "close")
            .order_by(_EV.c.seq.desc()).limit(1).scalar_subquery())


def raw_milestones():
    """The same rows computed from case_events (the source of truth): case_id, merchant_id, created_at, the first
    time of each milestone, who decided first and the state of the last closing."""
    ev = CaseEvent.__table__
    c = Case.__table__
    firsts = [func.min(case((ev.c.action.in_(actions), ev.c.created_at))).label(f"{name}_at")
              for name, actions in MILESTONES.items()]
    return (select(ev.c.case_id, c.c.merchant_id, c.c.created_at, *firsts,
                   decided_by_of(ev.c.case_id).label("decided_by"), closed_from_of(ev.c.case_id).label("closed_from"))
            .select_from(ev.join(c, c.c.id == ev.c.case_id))
            .where(ev.c.action.in_(list(COLUMN_OF_ACTION)))
            .group_by(ev.c.case_id, c.c.merchant_id, c.c.created_at))


def rebuild(session: Session, merchant_id: int | None = None) -> int:
    """Recomputes the rows from the events (all cases, or one merchant's); returns how many rows were written."""
    source = raw_milestones()
    wipe = delete(STEPS_TABLE)
    if merchant_id is not None:
        source = source.where(Case.__table__.c.merchant_id == merchant_id)
        wipe = wipe.where(STEPS_TABLE.c.merchant_id == merchant_id)
    session.execute(wipe)
    session.execute(insert(STEPS_TABLE).from_select(STORED, source))
    count = select(func.count()).select_from(STEPS_TABLE)
    if merchant_id is not None:
        count = count.where(STEPS_TABLE.c.merchant_id == merchant_id)
    return session.scalar(count) or 0


def differences(session: Session, merchant_id: int | None = None) -> list[int]:
    """Case ids whose summary row differs from what their events say (empty when the summary is right)."""
    raw = raw_milestones()
    if merchant_id is not None:
        raw = raw.where(Case.__table__.c.merchant_id == merchant_id)
    want = {row[0]: tuple(row[1:]) for row in session.execute(raw)}
    stmt = select(*(STEPS_TABLE.c[name] for name in STORED))
    if merchant_id is not None:
        stmt = stmt.where(STEPS_TABLE.c.merchant_id == merchant_id)
    have = {row[0]: tuple(row[1:]) for row in session.execute(stmt)}
    return sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))


__all__ = ["CaseSteps", "on_event", "rebuild", "differences", "raw_milestones"]
