"""SLA API: a merchant's step deadlines and calendar, a case's timers (the workers' lag: jobs/api.py)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Request
from sqlalchemy import select

from ..cases.service import get_case
from ..merchants.scope import resolve_merchant
from ..errors import Forbidden
from ..web import DB, JSON, CurrentActor, mutate
from . import calendar
from .models import Timer
from .settings import DEFAULT_STEPS, STEP_OF_STATE, auto_actions_for, for_merchant, save
from ..policy.service import step_rule

router = APIRouter(tags=["sla"])
EDITORS = ("admin", "supervisor", "platform")
STAFF = ("agent", "warehouse", "finance", "supervisor", "admin", "platform")


def _staff(actor, roles=STAFF, what="read SLA data") -> None:
    if actor.role not in roles:
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=list(roles))


@router.get("/sla/settings")
async def get_settings(actor: CurrentActor, db: DB, merchant: str | None = None) -> dict:
    """The merchant's SLA settings (defaults where it set nothing), the calendars and each step's possible outcomes."""
    _staff(actor)
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        settings = for_merchant(session, m.id)
        return _shape({**settings, "steps": _own_rules(session, m.id, settings["steps"])})


def _own_rules(session, merchant_id: int, steps: dict) -> dict:
    """Default steps cite the merchant's own preset, as their timers do (policy.service.step_rule)."""
    return {step: {**conf, "rule": step_rule(session, merchant_id, step, conf.get("rule"))}
            if conf.get("rule") == DEFAULT_STEPS.get(step, {}).get("rule") else conf for step, conf in steps.items()}


def _shape(settings: dict) -> dict:
    return {"settings": settings, "calendars": calendar.available(),
            "steps": {step: {"states": sorted(s for s, x in STEP_OF_STATE.items() if x == step),
                             "auto_actions": auto_actions_for(step)} for step in DEFAULT_STEPS}}


@router.put("/sla/settings")
async def put_settings(request: Request, actor: CurrentActor, body: dict = Body(...),
                       merchant: str | None = None):
    """Replaces the merchant's SLA settings document (partial: unset keys take the defaults)."""
    _staff(actor, EDITORS, "edit SLA settings")

    def work(session):
        m = resolve_merchant(session, actor, merchant)
        return 200, _shape(save(session, m.id, body, actor.ref))

    return await mutate(request, actor, work)


@router.get("/cases/{number}/timers")
async def case_timers(number: str, actor: CurrentActor, db: DB) -> JSON:
    """The case's deadline timers, pending and past, with what became of each."""
    _staff(actor)
    with db.read() as session:
        case = get_case(session, actor=actor, number=number)
        rows = session.scalars(select(Timer).where(Timer.case_id == case.id).order_by(Timer.id))
        return JSON([{"id": t.id, "kind": t.kind, "due_at": t.due_at, "action": t.action, "rule": t.rule,
                      "status": t.status, "result": t.result, "fired_at": t.fired_at,
                      "remaining_seconds": t.remaining_seconds} for t in rows])
