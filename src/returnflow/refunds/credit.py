"""Spending what a customer's ledger holds (store credit, points, coupons): never below zero, with its voucher."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..db import utcnow
from ..errors import Forbidden, NotFound
from ..money import MoneyError, fmt, to_minor
from ..orders.models import Customer
from . import ledger
from .service import refuse

SPENDERS = ("agent", "supervisor", "admin", "platform")
ASSETS = ("store_credit", "points", "coupon")


def spend(session: Session, *, actor: Actor, external_id: str, asset: str, currency: str, amount,
          reference: str) -> dict:
    """Takes `amount` off the customer's `asset` balance (e.g. paid with store credit at checkout)."""
    if actor.role not in SPENDERS or actor.merchant_id is None:
        raise Forbidden("forbidden_role", role=actor.role, what="spend a customer's balance", allowed=list(SPENDERS))
    stmt = select(Customer).where(Customer.merchant_id == actor.merchant_id, Customer.external_id == external_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # two spends of one balance are checked one after the other
    customer = session.scalar(stmt)
    if customer is None:
        raise NotFound("customer", external_id, field="external_id")
    if asset not in ASSETS:
        raise refuse("asset", f"'{asset}' is not a balance; allowed: {', '.join(ASSETS)}",
                     f"「{asset}」不是可用的余额类型；可选：{', '.join(ASSETS)}")
    try:
        minor = to_minor(amount, currency)
    except MoneyError as exc:
        raise refuse("amount", str(exc), exc.zh) from None
    if minor <= 0:
        raise refuse("amount", "must be more than 0", "必须大于 0")
    held = ledger.balances(session, merchant_id=customer.merchant_id, customer_id=customer.id).get((asset, currency), 0)
    if minor > held:
        raise refuse("amount", f"{fmt(minor, currency)} asked, but the balance is {fmt(held, currency)} {currency}",
                     f"申请使用 {fmt(minor, currency)}，但余额仅 {fmt(held, currency)} {currency}",
                     code="insufficient_balance")
    at = utcnow()
    ledger.credit(session, merchant_id=customer.merchant_id, customer_id=customer.id, asset=asset, currency=currency,
                  amount=-minor, at=at, by=actor.ref, memo=f"spent: {reference}")
    ledger.post(session, merchant_id=customer.merchant_id, kind="balance_spent", currency=currency,
                lines=[(ledger.SETTLEMENT_ACCOUNT[asset], minor, 0), ("sales_revenue", 0, minor)], at=at,
                memo=f"{asset} spent by {external_id}: {reference}")
    return {"customer": external_id, "asset": asset, "currency": currency, "spent": fmt(minor, currency),
            "balance": fmt(held - minor, currency)}
