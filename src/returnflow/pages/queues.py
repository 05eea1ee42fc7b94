"""The console's deadline queues, read from the SLA timers (sla/): "due soon" (the current step's deadline is
within its reminder window) and "overdue" (the current step's deadline has passed and the step has not ended)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case as when_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from ..actor import Actor
from ..cases.conversation import CasePlan
from ..cases.models import Case
from ..cases.workflow import OPEN_STATES, allowed_actions
from ..sla.models import Timer
from ..sla.settings import DEFAULTS, STEP_OF_STATE, for_merchant
from ..cases import service

DEFAULT_WINDOW_HOURS = 24  # for a step without a reminder of its own

# The deadline kind of the step each open state is in ("review.due" ...).
_DUE_KIND = when_({state: f"{step}.due" for state, step in STEP_OF_STATE.items()}, value=Case.state, else_="")


def _current_due(*conditions):
    """The case's deadline for the step it is in now: the newest timer of that step's kind (a later visit to the
    same step, after a reopen, schedules a newer one), still pending or already fired."""
    newer = aliased(Timer)
    return exists().where(
        Timer.case_id == Case.id, Timer.kind == _DUE_KIND, Timer.status.in_(("pending", "fired")), *conditions,
        ~exists().where(newer.case_id == Timer.case_id, newer.kind == Timer.kind, newer.id > Timer.id))


def windows(session: Session, actor: Actor) -> dict[str, int]:
    """Hours before each step's deadline from which its cases are "due soon": the merchant's reminder (SLA
    settings, `remind_before_hours`), else 24."""
    settings = for_merchant(session, actor.merchant_id) if actor.merchant_id is not None else DEFAULTS
    return {step: int(conf.get("remind_before_hours") or DEFAULT_WINDOW_HOURS)
            for step, conf in settings["steps"].items()}


def open_states() -> list[str]:
    return [s.value for s in OPEN_STATES]


def overdue(now: datetime) -> tuple:
    """`where` conditions of the overdue queue."""
    return (Case.state.in_(open_states()), _current_due(Timer.due_at <= now))


def due_soon(session: Session, actor: Actor, now: datetime) -> tuple:
    """`where` conditions of the due-soon queue: not yet due, but within the step's reminder window."""
    near = or_(*(and_(Timer.kind == f"{step}.due", Timer.due_at <= now + timedelta(hours=hours))
                 for step, hours in windows(session, actor).items()))
    return (Case.state.in_(open_states()), _current_due(Timer.status == "pending", Timer.due_at > now, near))


def soonest_due():
    """Sort key: the current step's deadline, soonest first."""
    return (select(func.min(Timer.due_at)).where(Timer.case_id == Case.id, Timer.kind == _DUE_KIND,
                                                 Timer.status.in_(("pending", "fired")))
            .correlate(Case).scalar_subquery().asc(),)


def deadlines(session: Session, cases) -> dict[int, datetime]:
    """Each case's current deadline (the newest timer of its step), for the queue's column."""
    wanted = {c.id: f"{STEP_OF_STATE.get(c.state)}.due" for c in cases if c.state in STEP_OF_STATE}
    if not wanted:
        return {}
    rows = session.execute(select(Timer.case_id, Timer.kind, Timer.due_at).where(
        Timer.case_id.in_(list(wanted)), Timer.status.in_(("pending", "fired", "paused"))).order_by(Timer.id))
    found: dict[int, datetime] = {}
    for case_id, kind, due_at in rows:
        if wanted.get(case_id) == kind:
            found[case_id] = due_at
    return found


def by_assignee(session: Session, actor: Actor) -> list[tuple[int | None, int]]:
    """(assignee id or None, open cases) for the console's side list."""
    stmt = select(Case.assignee_id, func.count()).where(Case.state.in_(open_states()))
    if actor.merchant_id is not None:
        stmt = stmt.where(Case.merchant_id == actor.merchant_id)
    return [(a, n) for a, n in session.execute(stmt.group_by(Case.assignee_id).order_by(func.count().desc()))]


def plan_declined():
    """Cases whose latest plan the customer declined: back with the agent to propose something else."""
    newer = aliased(CasePlan)
    return exists().where(CasePlan.case_id == Case.id, CasePlan.status == "declined",
                          ~exists().where(newer.case_id == CasePlan.case_id, newer.id > CasePlan.id))


def due_mark(due: datetime | None, state: str, now: datetime, hours: dict[str, int]) -> str:
    """A queue row's deadline mark: "overdue", "due_soon" (within its step's reminder window) or ""."""
    if due is None or state not in open_states():
        return ""
    if due <= now:
        return "overdue"
    window = hours.get(STEP_OF_STATE.get(state, ""), DEFAULT_WINDOW_HOURS)
    return "due_soon" if due <= now + timedelta(hours=window) else ""


def claim_if_free(session: Session, actor: Actor, case) -> bool:
    """Assigns an unassigned case to `actor` (the workflow's `assign`, so its event and audit as any assignment);
    False when it has an assignee, the actor is no user or may not assign it."""
    if case.assignee_id is not None or actor.user_id is None or "assign" not in allowed_actions(case, actor):
        return False
    service.act(session, actor=actor, number=case.number, action="assign", version=case.version,
                payload={"assignee_id": actor.user_id})
    return True
