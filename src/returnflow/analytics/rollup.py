"""A maintained summary for the step-time reports: one row per case with the first time it reached each milestone.

`analytics_case_steps` is written in the transaction of every case event (a workflow side effect, like the SLA
clocks): opening inserts the row, and each milestone action (approve/reject, ship_return, receive, inspect,
resolve, close) sets its column to the earliest time seen. So the row always equals what the case's events say
(`raw_milestones` computes the same from the events; tests and `returnflow report rollup-check` compare them), and
the step-time report reads one narrow row per case instead of every event of the period. Migration 0013 fills it
for the cases that existed before; `rebuild` (`returnflow report rollup-rebuild`) does the same on demand.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..cases.models import Case, CaseEvent
from ..cases.side_effects import Write
from ..db import Base, UTCDateTime
from ..deferred import deferrable

MILESTONES = {"intake": ("open",), "decision": ("approve", "reject"), "shipped": ("ship_return",),
              "received": ("receive",), "inspected": ("inspect",), "resolved": ("resolve",), "closed": ("close",)}
COLUMN_OF_ACTION = {action: f"{name}_at" for name, actions in MILESTONES.items() for action in actions}


class CaseSteps(Base):
    """When a case first reached each milestone (null: not yet)."""

    __tablename__ = "analytics_case_steps"
    __table_args__ = (Index("ix_analytics_case_steps_scope", "merchant_id", "created_at"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    intake_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


STEPS_TABLE = CaseSteps.__table__
# Both `deferrable`: the derivation step executes them with its other writes (returnflow/deferred.py).
_INSERT = deferrable(insert(STEPS_TABLE))
# Earliest time wins, so events recorded out of order (back-dated imports) still give the first one.
_SET = {col: deferrable(update(STEPS_TABLE).where(STEPS_TABLE.c.case_id == bindparam("_case"),
                                       or_(STEPS_TABLE.c[col].is_(None), STEPS_TABLE.c[col] > bindparam("_at")))
        .values({col: bindparam("_at")})) for col in set(COLUMN_OF_ACTION.values()) - {"intake_at"}}


def on_event(session: Session, case, event: dict) -> list[Write]:
    """The workflow side effect: the write that keeps the case's row in step with its new event; sends nothing."""
    action = event["action"]
    if action == "open":
        return [Write(_INSERT, {"case_id": case.id, "merchant_id": case.merchant_id, "created_at": case.created_at,
                                "intake_at": event["created_at"], "decision_at": None, "shipped_at": None,
                                "received_at": None, "inspected_at": None, "resolved_at": None, "closed_at": None})]
    if action in COLUMN_OF_ACTION:
        return [Write(_SET[COLUMN_OF_ACTION[action]], {"_case": case.id, "_at": event["created_at"]})]
    return []


def raw_milestones():
    """The same rows computed from case_events (the source of truth): case_id, merchant_id, created_at and the
    first time of each milestone."""
    ev = CaseEvent.__table__
    c = Case.__table__
    firsts = [func.min(case((ev.c.action.in_(actions), ev.c.created_at))).label(f"{name}_at")
              for name, actions in MILESTONES.items()]
    return (select(ev.c.case_id, c.c.merchant_id, c.c.created_at, *firsts)
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
    columns = ["case_id", "merchant_id", "created_at"] + [f"{name}_at" for name in MILESTONES]
    session.execute(insert(STEPS_TABLE).from_select(columns, source))
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
    stmt = select(STEPS_TABLE)
    if merchant_id is not None:
        stmt = stmt.where(STEPS_TABLE.c.merchant_id == merchant_id)
    have = {row[0]: tuple(row[1:]) for row in session.execute(stmt)}
    return sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))


__all__ = ["CaseSteps", "on_event", "rebuild", "differences", "raw_milestones"]
