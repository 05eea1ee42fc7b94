"""Finance's "to approve" page beyond refunds: compensation, charges to customers and balance spends that wait
because they are above their requester's limit. Each shows whether the signed-in user may decide it; approving
and rejecting (with the reason) go through the same services as the API (`refunds.grants`,
`refunds.charge_approval`, `refunds.credit`), with the same forms as refunds (staff/finance/_decide.html); a
refused decision is shown with its reason on the queue page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from ..actor import Actor
from ..auth.models import User
from ..cases.models import Case
from ..errors import AppError
from ..money import fmt
from ..refunds import charge_approval, credit, grants, money_settings
from ..refunds.models import BalanceSpend, Compensation, CustomerCharge
from .console import screen_actor, text
from ..refunds.api import RowId
from .frame import FLASH, N_, PageError, check_csrf, redirect, safe_next

router = APIRouter(include_in_schema=False)
LIMIT = 200
COMPENSATION_KINDS = {"coupon": N_("Coupon"), "credit": N_("Store credit"), "points": N_("Points")}
ASSETS = {"store_credit": N_("Store credit"), "points": N_("Points"), "coupon": N_("Coupon")}
# Why a waiting item is not this user's to decide ('role' | 'own' | 'limit' -> msgid), per kind.
LIMIT_WHY = N_("Above your approval limit: an administrator decides it.")
NOT_YOURS = {"role": N_("Only a supervisor or an administrator approves compensation."),
             "own": N_("You requested this compensation: another approver decides it."), "limit": LIMIT_WHY}
CHARGE_NOT_YOURS = {"role": N_("Only a supervisor or an administrator approves charges."),
                    "own": N_("You priced this charge: another approver decides it."), "limit": LIMIT_WHY}
SPEND_NOT_YOURS = {"role": N_("Only a supervisor or an administrator approves balance spends."),
                   "own": N_("You requested this spend: another approver decides it."), "limit": LIMIT_WHY}
FLASH.update({"charge_approved": N_("The charge was approved and sent to the payment provider."),
              "charge_rejected": N_("The charge was rejected: nothing is taken from the customer."),
              "compensation_approved": N_("The compensation was approved and given to the customer."),
              "compensation_rejected": N_("The compensation was rejected."),
              "spend_approved": N_("The spend was approved and taken off the customer's balance."),
              "spend_rejected": N_("The spend was rejected: the balance stays as it was.")})
REJECT_WHY = {"compensation": N_("Say why the compensation is rejected."),
              "charge": N_("Say why the charge is rejected."),
              "spend": N_("Say why the spend is rejected.")}


def waiting_count(session, actor: Actor) -> int:
    total = 0
    for model in (Compensation, CustomerCharge, BalanceSpend):
        stmt = select(func.count()).select_from(model).where(model.state == "awaiting_approval")
        if actor.merchant_id is not None:
            stmt = stmt.where(model.merchant_id == actor.merchant_id)
        total += session.scalar(stmt) or 0
    return total


def waiting(session, actor: Actor) -> dict[str, Any]:
    """The template's `compensations`, `charges` and `spends` awaiting approval, each with `why` ('' when this
    user may decide it)."""
    settings = money_settings.money_settings(session, actor.merchant_id) if actor.merchant_id is not None else None

    def why(reasons: dict, code: str) -> str:
        return reasons.get(code, "") if settings else ""

    comps = grants.listing(session, actor=actor, state="awaiting_approval", limit=LIMIT)
    charges = charge_approval.waiting(session, actor=actor, limit=LIMIT)
    spends = session.scalars(select(BalanceSpend).where(BalanceSpend.state == "awaiting_approval",
                                                        *([BalanceSpend.merchant_id == actor.merchant_id]
                                                          if actor.merchant_id is not None else []))
                             .order_by(BalanceSpend.created_at, BalanceSpend.id).limit(LIMIT)).all()
    case_ids = {c.case_id for c in comps} | {c.case_id for c in charges}
    numbers = dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all()) \
        if case_ids else {}
    refs = {c.created_by for c in comps} | {s.requested_by for s in spends}
    ids = {int(r[5:]) for r in refs if r.startswith("user:") and r[5:].isdigit()}
    names = {f"user:{i}": n for i, n in session.execute(select(User.id, User.name).where(User.id.in_(ids)))} \
        if ids else {}
    return {
        "compensation_kinds": COMPENSATION_KINDS, "spend_assets": ASSETS,
        "compensations": [{"comp": c, "case": numbers.get(c.case_id, ""), "amount": fmt(c.amount, c.currency),
                           "requested_by": names.get(c.created_by, c.created_by),
                           "why": why(NOT_YOURS, grants.may_approve(settings, actor, c)) if settings else ""}
                          for c in comps],
        "charges": [{"charge": c, "case": numbers.get(c.case_id, ""), "amount": fmt(c.amount, c.currency),
                     "why": why(CHARGE_NOT_YOURS, charge_approval.may_approve(settings, actor, c)) if settings else ""}
                    for c in charges],
        "spends": [{"spend": s, "amount": fmt(s.amount, s.currency),
                    "requested_by": names.get(s.requested_by, s.requested_by),
                    "why": why(SPEND_NOT_YOURS, credit.may_approve(settings, actor, s)) if settings else ""}
                   for s in spends],
    }


async def _decide(request: Request, kind: str, ref: str, what: str):
    actor = screen_actor(request, "finance")
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = safe_next(text(form, "back", 300), "/staff/finance")
    raw = text(form, "version", 12)
    version = int(raw) if raw.isdigit() and len(raw) < 10 else None
    reason = text(form, "reason")
    try:
        if what == "reject" and not reason:
            raise PageError("required", REJECT_WHY[kind], field="reason")
        _apply(request, actor, form, kind, ref, what, version, reason)
    except AppError as exc:
        from .finance_pages import refused_on  # it includes this module's router

        return refused_on(request, actor, back, exc)
    return redirect(request, back, flash=f"{kind}_{what}d" if what == "approve" else f"{kind}_rejected")


def _apply(request: Request, actor: Actor, form, kind: str, ref: str, what: str, version: int | None,
           reason: str) -> None:
    with request.app.state.db.transaction() as session:
        if kind == "compensation":
            if what == "approve":
                grants.approve(session, actor=actor, comp_id=int(ref), version=version, note=text(form, "note"))
            else:
                grants.reject(session, actor=actor, comp_id=int(ref), version=version, reason=reason)
        elif kind == "charge":
            if what == "approve":
                charge_approval.approve(session, actor=actor, number=ref, note=text(form, "note"))
            else:
                charge_approval.reject(session, actor=actor, number=ref, reason=reason)
        elif what == "approve":
            credit.approve(session, actor=actor, spend_id=int(ref), version=version, note=text(form, "note"))
        else:
            credit.reject(session, actor=actor, spend_id=int(ref), version=version, reason=reason)


@router.post("/staff/finance/compensations/{comp_id}/approve")
async def approve_compensation(comp_id: RowId, request: Request):
    return await _decide(request, "compensation", str(comp_id), "approve")


@router.post("/staff/finance/compensations/{comp_id}/reject")
async def reject_compensation(comp_id: RowId, request: Request):
    return await _decide(request, "compensation", str(comp_id), "reject")


@router.post("/staff/finance/charges/{number}/approve")
async def approve_charge(number: str, request: Request):
    return await _decide(request, "charge", number, "approve")


@router.post("/staff/finance/charges/{number}/reject")
async def reject_charge(number: str, request: Request):
    return await _decide(request, "charge", number, "reject")


@router.post("/staff/finance/balance-spends/{spend_id}/approve")
async def approve_spend(spend_id: RowId, request: Request):
    return await _decide(request, "spend", str(spend_id), "approve")


@router.post("/staff/finance/balance-spends/{spend_id}/reject")
async def reject_spend(spend_id: RowId, request: Request):
    return await _decide(request, "spend", str(spend_id), "reject")
