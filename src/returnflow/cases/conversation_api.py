"""The JSON API of the conversation around a case: plans the customer confirms, hand-offs to other teams, and
messages (customer-visible or internal). Same frame as cases/api.py: a bearer token, errors naming the field in
the caller's language, `version` guarding the steps that move the case, Idempotency-Key on every write."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

from ..db import utcnow
from ..web import DB, JSON, CurrentActor, mutate
from . import handoffs, plans
from .conversation_schemas import (
    HandoffCreate, HandoffReturn, MessageCreate, PlanPropose, PlanWithdraw, handoff_dict, message_dict, plan_dict,
)
from .current import CurrentCase, still_at
from .messages import add_message, messages_of

router = APIRouter(tags=["cases"])
PlanId = Path(ge=1, le=2**31 - 1, description="The plan's id")
HandoffId = Path(ge=1, le=2**31 - 1, description="The hand-off's id")


# ---- plans -------------------------------------------------------------------------------------------------------

@router.get("/cases/{number}/plans")
async def list_plans(case: CurrentCase, db: DB) -> list[dict]:
    """The case's plans, oldest first: proposed, accepted, declined or withdrawn."""
    with db.read() as session:
        return JSON([plan_dict(p) for p in plans.plans_of(session, case.id)])


@router.post("/cases/{number}/plans", status_code=201)
async def propose_plan(body: PlanPropose, case: CurrentCase, actor: CurrentActor, request: Request) -> dict:
    """Proposes a plan for the customer to accept (a `propose_plan` event at `version`; the customer is told).
    One plan waits at a time: 409 while another is proposed."""
    def work(session):
        plan = plans.propose(session, case=case, actor=actor, kind=body.kind,
                             amount="" if body.amount is None else str(body.amount), note=body.note.strip(),
                             at=utcnow(), version=body.version)
        return 201, plan_dict(plan)

    return await mutate(request, actor, work)


@router.post("/cases/{number}/plans/{plan_id}/withdraw")
async def withdraw_plan(body: PlanWithdraw, case: CurrentCase, actor: CurrentActor, request: Request,
                        plan_id: int = PlanId) -> dict:
    """Withdraws the plan waiting for the customer (409 once it is answered or withdrawn)."""
    def work(session):
        return 200, plan_dict(plans.withdraw(session, case=case, actor=actor, plan_id=plan_id, at=utcnow(),
                                             version=body.version))

    return await mutate(request, actor, work)


# ---- hand-offs ---------------------------------------------------------------------------------------------------

@router.get("/cases/{number}/handoffs")
async def list_handoffs(case: CurrentCase, db: DB) -> list[dict]:
    """The case's hand-offs to other teams, oldest first."""
    with db.read() as session:
        return JSON([handoff_dict(h) for h in handoffs.of_case(session, case.id)])


@router.post("/cases/{number}/handoffs", status_code=201)
async def hand_off(body: HandoffCreate, case: CurrentCase, actor: CurrentActor, request: Request) -> dict:
    """Hands the case to quality control (`qc`), the product team (`product`) or supplier appraisal
    (`supplier`); internal unless `visibility` is "customer" (then the customer sees the team and the note)."""
    def work(session):
        still_at(session, case, body.version)
        row = handoffs.create(session, case=case, actor=actor, team=body.team, note=body.note, at=utcnow(),
                              visibility=body.visibility)
        return 201, handoff_dict(row)

    return await mutate(request, actor, work)


@router.post("/cases/{number}/handoffs/{handoff_id}/accept")
async def accept_handoff(case: CurrentCase, actor: CurrentActor, request: Request,
                         handoff_id: int = HandoffId) -> dict:
    """The team takes the hand-off (open → accepted; 409 if it was taken or is done)."""
    def work(session):
        return 200, handoff_dict(handoffs.accept(session, case=case, actor=actor, handoff_id=handoff_id))

    return await mutate(request, actor, work)


@router.post("/cases/{number}/handoffs/{handoff_id}/return")
async def return_handoff(body: HandoffReturn, case: CurrentCase, actor: CurrentActor, request: Request,
                         handoff_id: int = HandoffId) -> dict:
    """The team returns the case with what it found (→ done; 409 if it is done already)."""
    def work(session):
        return 200, handoff_dict(handoffs.finish(session, case=case, actor=actor, handoff_id=handoff_id,
                                                 note=body.note, at=utcnow()))

    return await mutate(request, actor, work)


# ---- messages ----------------------------------------------------------------------------------------------------

@router.get("/cases/{number}/messages")
async def list_messages(case: CurrentCase, db: DB) -> list[dict]:
    """Every message on the case, oldest first, internal ones included (staff read this; the customer's portal
    shows only those with visibility "customer")."""
    with db.read() as session:
        return JSON([message_dict(m) for m in messages_of(session, case.id)])


@router.post("/cases/{number}/messages", status_code=201)
async def post_message(body: MessageCreate, case: CurrentCase, actor: CurrentActor, request: Request) -> dict:
    """Posts a message: `visibility` "customer" is a reply the customer reads (and is sent to them); "internal"
    is for staff only and never reaches the customer."""
    def work(session):
        still_at(session, case, body.version)
        message = add_message(session, case=case, actor=actor, body=body.body, at=utcnow(),
                              visibility=body.visibility)
        return 201, message_dict(message)

    return await mutate(request, actor, work)
