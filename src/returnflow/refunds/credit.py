"""Spending what a customer's ledger holds (store credit, points, coupons): never below zero, with its voucher, and by
authority like every money move — above the spender's limit the spend waits for an approver, the balance untouched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ..actor import Actor
from ..db import utcnow
from ..errors import Conflict, Forbidden, NotFound
from ..flows import histories, history, move
from ..money import MoneyError, fmt, to_minor
from ..orders.models import Customer
from . import ledger, locks
from .grants import MAX_MINOR
from .models import BalanceSpend
from .money_flows import BALANCE_SPEND
from .money_flows import APPROVERS
from .money_settings import limit_for, money_settings
from .refusal import refuse
from ..i18n import N_

SPENDERS = ("agent", "supervisor", "admin", "platform")
ASSETS = ("store_credit", "points", "coupon")
STATES = ("awaiting_approval", "applied", "rejected")


def _held(session: Session, row: BalanceSpend) -> int:
    return ledger.balances(session, merchant_id=row.merchant_id, customer_id=row.customer_id).get(
        (row.asset, row.currency), 0)


def _enough(session: Session, row: BalanceSpend) -> int:
    held = _held(session, row)
    if row.amount > held:
        raise refuse("amount", N_("{amount} asked, but the balance is {held} {currency}"),
                     amount=fmt(row.amount, row.currency), held=fmt(held, row.currency), currency=row.currency,
                     code="insufficient_balance")
    return held


def _event(session: Session, row: BalanceSpend, at: datetime, action: str, actor: Actor, **extra) -> None:
    """One declared move (money_flows.BALANCE_SPEND): the state, the version, the event row."""
    move(session, BALANCE_SPEND, row, action, by=actor.ref, role=actor.role, at=at,
         data={"role": actor.role, **{k: v for k, v in extra.items() if v}})


def _apply(session: Session, row: BalanceSpend, *, external_id: str, by: str, at: datetime) -> None:
    ledger.credit(session, merchant_id=row.merchant_id, customer_id=row.customer_id, asset=row.asset,
                  currency=row.currency, amount=-row.amount, at=at, by=by, memo=f"spent: {row.reference}")
    ledger.post(session, merchant_id=row.merchant_id, kind="balance_spent", currency=row.currency,
                lines=[(ledger.SETTLEMENT_ACCOUNT[row.asset], row.amount, 0), ("sales_revenue", 0, row.amount)],
                at=at, memo=f"{row.asset} spent by {external_id}: {row.reference}")


def spend(session: Session, *, actor: Actor, external_id: str, asset: str, currency: str, amount,
          reference: str) -> dict:
    """Takes `amount` off the customer's `asset` balance (e.g. paid with store credit at checkout); above the
    spender's limit it is recorded as awaiting approval and the balance does not move."""
    if actor.role not in SPENDERS or actor.merchant_id is None:
        raise Forbidden("forbidden_role", role=actor.role, what="spend a customer's balance", allowed=list(SPENDERS))
    customer = locks.customer(session, actor.merchant_id, external_id=external_id)
    if customer is None:
        raise NotFound("customer", external_id, field="external_id")
    if asset not in ASSETS:
        raise refuse("asset", N_("'{asset}' is not a balance; allowed: {choices}"), asset=asset,
                     choices=', '.join(ASSETS))
    try:
        minor = to_minor(amount, currency)
    except MoneyError as exc:
        raise refuse("amount", exc.text, **exc.values) from None
    if minor <= 0:
        raise refuse("amount", N_("must be more than 0"))
    if minor > MAX_MINOR:
        raise refuse("amount", N_("more than the most one move may be ({limit})"), limit=fmt(MAX_MINOR, currency),
                     code="amount_too_large")
    at = utcnow()
    row = BalanceSpend(merchant_id=customer.merchant_id, customer_id=customer.id, asset=asset, currency=currency,
                       amount=minor, reference=reference, state="requested", requested_by=actor.ref,
                       requested_role=actor.role, decision_note="", version=0, created_at=at)
    held = _enough(session, row)
    limit = limit_for(money_settings(session, customer.merchant_id), actor.role, currency)
    if limit is None or minor <= limit:
        row.approved_by, row.decided_at = actor.ref, at
        _event(session, row, at, "apply", actor)
        _apply(session, row, external_id=external_id, by=actor.ref, at=at)
        held -= minor
    else:
        _event(session, row, at, "submit", actor, limit=fmt(limit, currency))
    return spend_dict(row, external_id, held)


def spend_dict(row: BalanceSpend, external_id: str, balance: int, events: list[dict] | None = None) -> dict:
    if events is None:
        events = history(object_session(row), BALANCE_SPEND.kind, row.id)
    return {"id": row.id, "state": row.state, "version": row.version, "customer": external_id, "asset": row.asset,
            "currency": row.currency, "spent": fmt(row.amount, row.currency) if row.state == "applied" else "0",
            "amount": fmt(row.amount, row.currency), "reference": row.reference,
            "balance": fmt(balance, row.currency), "requested_by": row.requested_by, "approved_by": row.approved_by,
            "decision_note": row.decision_note, "history": events}


def _decidable(session: Session, actor: Actor, spend_id: int, version: int | None, what: str) -> BalanceSpend:
    if actor.role not in APPROVERS:
        raise Forbidden("forbidden_role", role=actor.role, what=f"{what} a balance spend", allowed=list(APPROVERS))
    row = session.get(BalanceSpend, spend_id)
    if row is None or not actor.can_see(row.merchant_id) or actor.kind == "customer":
        raise NotFound("balance spend", spend_id, field="id")
    locks.customer(session, row.merchant_id, customer_id=row.customer_id)  # one decision on a balance at once
    row = locks.spend(session, spend_id)
    if row.state != "awaiting_approval":
        raise refuse("state", N_("balance spend {id} is {state}; only one awaiting approval can be decided"),
                     id=row.id, state=row.state, code="spend_state", status=409)
    if version is not None and version != row.version:
        raise Conflict("stale_version", field="version", sent=version, current=row.version)
    if actor.ref == row.requested_by:
        raise Forbidden("forbidden_role", role=actor.role, what=f"{what} a balance spend they requested",
                        allowed=["another approver"])
    return row


def _external_id(session: Session, row: BalanceSpend) -> str:
    return session.scalar(select(Customer.external_id).where(Customer.id == row.customer_id))


def approve(session: Session, *, actor: Actor, spend_id: int, version: int | None = None, note: str = "") -> dict:
    """Takes it off the balance once (still never below zero), by an approver whose own limit covers it."""
    row = _decidable(session, actor, spend_id, version, "approve")
    limit = limit_for(money_settings(session, row.merchant_id), actor.role, row.currency)
    if limit is not None and row.amount > limit:
        raise Forbidden("forbidden_role", role=actor.role, what=f"approve {fmt(row.amount, row.currency)} "
                        f"{row.currency} (limit {fmt(limit, row.currency)})", allowed=["admin"])
    held = _enough(session, row)
    at = utcnow()
    row.approved_by, row.decided_at, row.decision_note = actor.ref, at, note
    _event(session, row, at, "approve", actor, note=note)
    external_id = _external_id(session, row)
    _apply(session, row, external_id=external_id, by=actor.ref, at=at)
    return spend_dict(row, external_id, held - row.amount)


def reject(session: Session, *, actor: Actor, spend_id: int, reason: str, version: int | None = None) -> dict:
    """Turned down with a reason: the balance stays as it is."""
    if not reason.strip():
        raise refuse("reason", N_("say why the spend is rejected"))
    row = _decidable(session, actor, spend_id, version, "reject")
    at = utcnow()
    row.approved_by, row.decided_at, row.decision_note = actor.ref, at, reason.strip()
    _event(session, row, at, "reject", actor, reason=reason.strip())
    return spend_dict(row, _external_id(session, row), _held(session, row))


def listing(session: Session, *, actor: Actor, state: str | None = None, limit: int = 200) -> list[dict]:
    """The merchant's balance spends (state=awaiting_approval: the approval queue), oldest first."""
    stmt = select(BalanceSpend, Customer.external_id).join(Customer, Customer.id == BalanceSpend.customer_id)
    if actor.merchant_id is not None:
        stmt = stmt.where(BalanceSpend.merchant_id == actor.merchant_id)
    if state is not None:
        if state not in STATES:
            raise refuse("state", N_("'{state}' is not a spend state; allowed: {choices}"), state=state,
                         choices=', '.join(STATES))
        stmt = stmt.where(BalanceSpend.state == state)
    rows = session.execute(stmt.order_by(BalanceSpend.created_at, BalanceSpend.id).limit(limit)).all()
    events = histories(session, BALANCE_SPEND.kind, [row.id for row, _ in rows])
    return [spend_dict(row, external_id, _held(session, row), events[row.id]) for row, external_id in rows]


def may_approve(settings: dict, actor: Actor, row: BalanceSpend) -> str:
    """'' when `actor` may approve `row`, else 'role' | 'own' | 'limit'."""
    if actor.role not in APPROVERS:
        return "role"
    if row.requested_by == actor.ref:
        return "own"
    limit = limit_for(settings, actor.role, row.currency)
    return "limit" if limit is not None and row.amount > limit else ""
