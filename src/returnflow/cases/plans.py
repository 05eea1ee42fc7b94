"""Plans the customer confirms before they are carried out (PROCESS.md §2): an agent proposes one (partial refund,
exchange, repair ...), the customer accepts or declines it, the agent may withdraw it while it waits. Each step
is a workflow event on the case (fired at the version the caller saw) beside the plan row. The staff and portal
pages and the JSON API (cases/conversation_api.py) call these functions alike."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import Conflict, Worded
from ..flows import move
from ..i18n import N_
from ..money import MoneyError, fmt, to_minor
from . import service
from .conversation import CasePlan
from .record_flows import CASE_PLAN
from .store import CaseRecord, enqueue
from .workflow import allowed_actions

KINDS = {
    "full_refund": N_("Full refund"),
    "partial_refund": N_("Partial refund (keep the item)"),
    "exchange": N_("Exchange for a new item"),
    "repair": N_("Repair"),
    "reship": N_("Send the missing item again"),
    "store_credit": N_("Store credit"),
}
WITH_AMOUNT = ("partial_refund", "store_credit")
STATUSES = {"proposed": N_("Waiting for the customer"), "accepted": N_("Accepted by the customer"),
            "declined": N_("Declined by the customer"), "withdrawn": N_("Withdrawn")}

NOT_OPEN = N_("This plan is no longer open: it was withdrawn or already answered. Nothing was changed.")
ONE_OPEN = N_("A plan is already waiting for the customer. Withdraw it before proposing another.")
NOT_ALLOWED = N_("A plan cannot be proposed in this state or by your role.")
AMOUNT = N_("Amount: enter a number such as 30.50.")


def plans_of(session: Session, case_id: int) -> list[CasePlan]:
    return list(session.scalars(select(CasePlan).where(CasePlan.case_id == case_id).order_by(CasePlan.id)))


def open_plan(session: Session, case_id: int) -> CasePlan | None:
    return session.scalar(select(CasePlan).where(CasePlan.case_id == case_id, CasePlan.status == "proposed"))


def amount_minor(raw: str, currency: str, limit: int) -> int:
    """The typed amount (e.g. "30.50") in minor units, refused unless 0 < amount <= what the case claims."""
    try:
        value = Decimal(raw.strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        raise Worded("amount", AMOUNT, field="amount") from None
    if not value.is_finite() or value <= 0:
        raise Worded("amount", AMOUNT, field="amount")
    try:
        minor = to_minor(value, currency)
    except MoneyError:
        raise Worded("amount", AMOUNT, field="amount") from None
    if minor > limit:
        raise Worded("amount", N_("Amount: at most {limit}, what the request claims."), field="amount",
                     limit=fmt(limit, currency))
    return minor


def propose(session: Session, *, case: CaseRecord, actor: Actor, kind: str, amount: str, note: str,
            at: datetime, version: int | None = None) -> CasePlan:
    """Records a proposed plan and its timeline event at `version` (None: the case as loaded); the customer is told
    by message (contract 1)."""
    version = at_version(case, version)
    if kind not in KINDS:
        raise Worded("kind", N_("Plan: choose one of the listed plans."), field="kind")
    if "propose_plan" not in allowed_actions(case, actor):
        raise Worded("plan_not_allowed", NOT_ALLOWED, field="kind", status=409)
    if open_plan(session, case.id) is not None:
        raise Worded("plan_open", ONE_OPEN, field="kind", status=409)
    minor = amount_minor(amount, case.currency, case.claimed_amount) if kind in WITH_AMOUNT else None
    plan = CasePlan(case_id=case.id, merchant_id=case.merchant_id, kind=kind, amount=minor, currency=case.currency,
                    note=note[:2000], proposed_by=actor.ref, proposed_name=actor.name, created_at=at)
    move(session, CASE_PLAN, plan, "propose", by=actor.ref, role=actor.role, at=at, data={"kind": kind})
    payload = {"plan": plan.id, "kind": kind, "message": note[:2000]}
    if minor is not None:
        payload["amount"] = fmt(minor, case.currency)
        payload["currency"] = case.currency
    service.act(session, actor=actor, number=case.number, action="propose_plan",
                version=version, payload=payload)
    customer = case.customer or {}
    if customer.get("email"):
        enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=at, payload={
            "channel": "email", "to": customer["email"], "locale": customer.get("locale") or "zh-CN",
            "template": "case_message", "data": {"case": case.number, "body": note[:2000]}})
    return plan


def at_version(case: CaseRecord, version: int | None) -> int:
    """The version the caller saw (None: the case as loaded), refused at once when the case has moved on."""
    if version is None:
        return case.version
    if version != case.version:
        raise Conflict("stale_version", field="version", sent=version, current=case.version)
    return version


def _proposed(session: Session, case: CaseRecord, plan_id: str | int) -> CasePlan:
    plan = session.get(CasePlan, int(plan_id)) if str(plan_id).isdigit() else None
    if plan is None or plan.case_id != case.id or plan.status != "proposed":
        raise Worded("plan_not_open", NOT_OPEN, field="plan", status=409)
    return plan


def answer(session: Session, *, case: CaseRecord, actor: Actor, plan_id: str | int, accept: bool, note: str,
           at: datetime, version: int | None = None) -> CasePlan:
    """The customer's answer, recorded before anything is carried out; a decline goes back to the agent."""
    version = at_version(case, version)
    plan = _proposed(session, case, plan_id)
    plan.answer_note, plan.answered_by, plan.answered_at = note[:2000], actor.ref, at
    move(session, CASE_PLAN, plan, "accept" if accept else "decline", by=actor.ref, role=actor.role, at=at,
         data={"note": note[:2000]} if note else None)
    payload = {"plan": plan.id, "kind": plan.kind}
    if plan.amount is not None:
        payload["amount"] = fmt(plan.amount, plan.currency)
        payload["currency"] = plan.currency
    if note:
        payload["message"] = note[:2000]
    service.act(session, actor=actor, number=case.number, action="accept_plan" if accept else "decline_plan",
                version=version, payload=payload)
    return plan


def withdraw(session: Session, *, case: CaseRecord, actor: Actor, plan_id: str | int, at: datetime,
             version: int | None = None) -> CasePlan:
    version = at_version(case, version)
    plan = _proposed(session, case, plan_id)
    plan.answered_by, plan.answered_at = actor.ref, at
    move(session, CASE_PLAN, plan, "withdraw", by=actor.ref, role=actor.role, at=at)
    service.act(session, actor=actor, number=case.number, action="withdraw_plan",
                version=version, payload={"plan": plan.id, "kind": plan.kind})
    return plan
