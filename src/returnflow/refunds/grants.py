"""Compensation (coupon, store credit, points) by authority, the way refunds are decided: within the requester's
limit it is applied at once; above it the request waits, nothing on the customer's ledger, until an approver whose
own limit covers it approves (applied exactly once) or rejects it with a reason."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ..actor import Actor
from ..cases.service import get_case
from ..db import utcnow
from ..errors import Conflict, Forbidden, NotFound
from ..flows import history, move
from ..money import MoneyError, fmt, to_minor
from . import ledger, locks
from .models import Compensation
from .money_flows import COMPENSATION
from .schemas import CompensationCreate
from .money_flows import APPROVERS
from .money_settings import limit_for, money_settings
from .refusal import refuse
from ..i18n import N_
from ..cases.models import Case

log = logging.getLogger("returnflow.refunds")

COMPENSATORS = ("agent", "supervisor", "admin")
# kind -> the customer's ledger asset it is credited to
KINDS = {"coupon": "coupon", "credit": "store_credit", "points": "points"}
# The most one compensation may be, in minor units: far above any real goodwill and far below the 64-bit column,
# so that balances summed over many entries cannot overflow either.
MAX_MINOR = 10**15
STATES = ("awaiting_approval", "applied", "rejected")


def _amount(body: CompensationCreate, currency: str) -> int:
    try:
        amount = to_minor(body.amount, currency)
    except MoneyError as exc:
        raise refuse("amount", exc.text, **exc.values) from None
    if amount <= 0:
        raise refuse("amount", N_("must be more than 0"))
    if amount > MAX_MINOR:
        raise refuse("amount", N_("more than the most one compensation may be ({limit})"),
                     limit=fmt(MAX_MINOR, currency), code="amount_too_large")
    return amount


def _event(session: Session, comp: Compensation, at: datetime, action: str, actor: Actor, **extra) -> None:
    """One declared move (money_flows.COMPENSATION): the state, the version, the event row."""
    move(session, COMPENSATION, comp, action, by=actor.ref, role=actor.role, at=at,
         data={"role": actor.role, **{k: v for k, v in extra.items() if v}})


def compensate(session: Session, *, actor: Actor, number: str, body: CompensationCreate) -> Compensation:
    """Records the compensation; applied at once within the requester's limit, else awaiting approval."""
    if actor.role not in COMPENSATORS:
        raise Forbidden("forbidden_role", role=actor.role, what="compensate a customer", allowed=list(COMPENSATORS))
    case = get_case(session, actor=actor, number=number)
    if body.kind not in KINDS:
        raise refuse("kind", N_("'{kind}' is not a compensation; allowed: {choices}"), kind=body.kind,
                     choices=', '.join(KINDS))
    if body.currency.upper() != case.currency:
        raise refuse("currency", N_("{currency} does not match the case currency {case_currency}"),
                     currency=body.currency,
                     case_currency=case.currency, code="wrong_currency")
    amount = _amount(body, case.currency)
    if case.customer_id is None:
        raise refuse("case", N_("the case's order has no customer to compensate"))
    if body.code and session.scalar(select(Compensation.id).where(Compensation.code == body.code)):
        raise refuse("code", N_("coupon code {code_} is already used"), code_=body.code)
    at = utcnow()
    limit = limit_for(money_settings(session, case.merchant_id), actor.role, case.currency)
    code = (body.code or f"CP{secrets.token_hex(5).upper()}") if body.kind == "coupon" else None
    comp = Compensation(merchant_id=case.merchant_id, case_id=case.id, customer_id=case.customer_id, kind=body.kind,
                        currency=case.currency, amount=amount, code=code, reason=body.reason, created_by=actor.ref,
                        created_at=at, requested_role=actor.role, state="requested", version=0)
    if limit is None or amount <= limit:
        comp.approved_by, comp.decided_at = actor.ref, at
        _event(session, comp, at, "apply", actor, limit=_shown(limit, comp.currency))
        _apply(session, comp, case_number=case.number, by=actor.ref, at=at)
    else:
        _event(session, comp, at, "submit", actor, limit=_shown(limit, comp.currency))
        log.info("compensation %s of %s %s awaits approval (limit of %s: %s)", comp.id, fmt(amount, comp.currency),
                 comp.currency, actor.role, limit)
    return comp


def _shown(limit: int | None, currency: str) -> str | None:
    return None if limit is None else fmt(limit, currency)


def _apply(session: Session, comp: Compensation, *, case_number: str, by: str, at: datetime) -> None:
    """The ledger credit and its voucher (the unique index on the entry's compensation makes it once only)."""
    asset = KINDS[comp.kind]
    ledger.credit(session, merchant_id=comp.merchant_id, customer_id=comp.customer_id, asset=asset,
                  currency=comp.currency, amount=comp.amount, at=at, by=by, compensation_id=comp.id,
                  memo=f"compensation on {case_number}" + (f" coupon {comp.code}" if comp.code else ""))
    ledger.post(session, merchant_id=comp.merchant_id, kind="compensation", currency=comp.currency,
                lines=[("compensation_expense", comp.amount, 0), (ledger.SETTLEMENT_ACCOUNT[asset], 0, comp.amount)],
                at=at, memo=f"compensation ({comp.kind}) on {case_number}", case_id=comp.case_id,
                compensation_id=comp.id)


def _locked(session: Session, actor: Actor, comp_id: int) -> Compensation:
    # PostgreSQL: a second approver waits here and then reads the row as the first one left it.
    comp = locks.compensation(session, comp_id)
    if comp is None or not actor.can_see(comp.merchant_id) or actor.kind == "customer":
        raise NotFound("compensation", comp_id, field="id")
    return comp


def _decidable(session: Session, actor: Actor, comp_id: int, version: int | None, what: str) -> Compensation:
    if actor.role not in APPROVERS:
        raise Forbidden("forbidden_role", role=actor.role, what=f"{what} a compensation", allowed=list(APPROVERS))
    comp = _locked(session, actor, comp_id)
    if comp.state != "awaiting_approval":
        raise refuse("state", N_("compensation {id} is {state}; only one awaiting approval can be decided"),
                     id=comp.id, state=comp.state, code="compensation_state",
                     status=409)
    if version is not None and version != comp.version:
        raise Conflict("stale_version", field="version", sent=version, current=comp.version)
    if actor.ref == comp.created_by:
        raise Forbidden("forbidden_role", role=actor.role, what=f"{what} a compensation they requested",
                        allowed=["another approver"])
    return comp


def may_approve(settings: dict, actor: Actor, comp: Compensation) -> str:
    """'' when `actor` may approve `comp`, else why not (English; the pages translate their own)."""
    if actor.role not in APPROVERS:
        return "role"
    if comp.created_by == actor.ref:
        return "own"
    limit = limit_for(settings, actor.role, comp.currency)
    return "limit" if limit is not None and comp.amount > limit else ""


def approve(session: Session, *, actor: Actor, comp_id: int, version: int | None = None,
            note: str = "") -> Compensation:
    """An approver whose own limit covers the amount applies it (once: a second approval finds it applied)."""
    comp = _decidable(session, actor, comp_id, version, "approve")
    limit = limit_for(money_settings(session, comp.merchant_id), actor.role, comp.currency)
    if limit is not None and comp.amount > limit:
        raise Forbidden("forbidden_role", role=actor.role,
                        what=f"approve {fmt(comp.amount, comp.currency)} {comp.currency} "
                             f"(limit {fmt(limit, comp.currency)})", allowed=["admin"])
    at = utcnow()
    comp.approved_by, comp.decided_at, comp.decision_note = actor.ref, at, note
    _event(session, comp, at, "approve", actor, note=note)
    _apply(session, comp, case_number=get_case_number(session, comp.case_id), by=actor.ref, at=at)
    return comp


def reject(session: Session, *, actor: Actor, comp_id: int, reason: str, version: int | None = None) -> Compensation:
    """Turned down with a reason: nothing reaches the customer's ledger."""
    if not reason.strip():
        raise refuse("reason", N_("say why the compensation is rejected"))
    comp = _decidable(session, actor, comp_id, version, "reject")
    at = utcnow()
    comp.approved_by, comp.decided_at, comp.decision_note = actor.ref, at, reason.strip()
    _event(session, comp, at, "reject", actor, reason=reason.strip())
    return comp


def get_case_number(session: Session, case_id: int) -> str:
    return session.scalar(select(Case.number).where(Case.id == case_id))


def get(session: Session, *, actor: Actor, comp_id: int) -> Compensation:
    comp = session.get(Compensation, comp_id)
    if comp is None or not actor.can_see(comp.merchant_id) or actor.kind == "customer":
        raise NotFound("compensation", comp_id, field="id")
    return comp


def listing(session: Session, *, actor: Actor, state: str | None = None, limit: int = 200) -> list[Compensation]:
    """The merchant's compensations (awaiting approval first in the finance queue), oldest first."""
    stmt = select(Compensation)
    if actor.merchant_id is not None:
        stmt = stmt.where(Compensation.merchant_id == actor.merchant_id)
    if state is not None:
        if state not in STATES:
            raise refuse("state", N_("'{state}' is not a compensation state; allowed: {choices}"), state=state,
                         choices=', '.join(STATES))
        stmt = stmt.where(Compensation.state == state)
    return list(session.scalars(stmt.order_by(Compensation.created_at, Compensation.id).limit(limit)))


def compensation_dict(c: Compensation, events: list[dict] | None = None) -> dict:
    """The API's compensation; `events`: its history when the caller read many at once (flows.histories)."""
    if events is None:
        events = history(object_session(c), COMPENSATION.kind, c.id)
    return {"id": c.id, "kind": c.kind, "state": c.state, "version": c.version, "amount": fmt(c.amount, c.currency),
            "currency": c.currency,
            # A coupon's code is given out once it is applied (it is only reserved while the request waits).
            "code": c.code if c.state == "applied" else None, "reason": c.reason, "created_by": c.created_by,
            "requested_role": c.requested_role, "approved_by": c.approved_by, "decided_at": c.decided_at,
            "decision_note": c.decision_note, "history": events, "created_at": c.created_at}
