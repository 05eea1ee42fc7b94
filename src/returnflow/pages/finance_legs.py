"""How a refund goes back: each payment leg with the order's payment it returns to (method in words, the original
transaction's reference, the payer, the amount) and what finance needs to pay a manual leg by hand; and the one
form that records a manual leg paid with its reference (exactly once: a second or stale submit changes nothing and
says so on the page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from ..flows import count
from ..money import fmt
from ..orders.models import Customer, Order
from ..refunds.models import Refund, RefundPayment
from ..refunds.money_flows import REFUND_PAYMENT
from .frame import N_, PageError, gettext

# The order's payment methods (as shops and importers name them) in words; an unknown one is shown humanised.
METHODS = {"wechat_pay": N_("WeChat Pay"), "wechat": N_("WeChat Pay"), "weixin": N_("WeChat Pay"),
           "alipay": N_("Alipay"), "card": N_("Bank card"), "bank_card": N_("Bank card"),
           "unionpay": N_("UnionPay card"), "credit_card": N_("Credit card"), "debit_card": N_("Bank card"),
           "bank_transfer": N_("Bank transfer"), "cash": N_("Cash"), "cod": N_("Cash on delivery"),
           "paypal": N_("PayPal"), "balance": N_("Store balance"), "store_credit": N_("Store credit"),
           "points": N_("Points"), "coupon": N_("Coupon"), "gift_card": N_("Gift card"),
           "original": N_("The order's payment"), "manual": N_("Paid by hand")}
# How the leg's money moves back.
ROUTES = {"http": N_("Through the payment provider (sent by the Pay button)"),
          "wechatpay": N_("Through WeChat Pay (sent by the Pay button)"),
          "alipay": N_("Through Alipay (sent by the Pay button)"),
          "manual": N_("By hand: finance pays it outside the system and records the reference"),
          "store_credit": N_("Credited to the customer's store credit"),
          "points": N_("Credited to the customer's points"), "coupon": N_("Given back as a coupon")}
# What finance does to pay a manual leg back, per original method.
HOW = {"wechat_pay": N_("Refund it in the WeChat Pay merchant platform against the original transaction."),
       "alipay": N_("Refund it in the Alipay merchant console against the original transaction."),
       "card": N_("Refund it to the same card through the card acquirer against the original transaction."),
       "unionpay": N_("Refund it to the same card through the card acquirer against the original transaction."),
       "bank_transfer": N_("Transfer it to the bank account the customer paid from."),
       "cash": N_("Pay it back in cash and keep the signed receipt.")}
HOW["wechat"] = HOW["weixin"] = HOW["wechat_pay"]
HOW["bank_card"] = HOW["credit_card"] = HOW["debit_card"] = HOW["card"]
HOW_ANY = N_("Pay it back the way the customer paid, against the original transaction.")
NO_REFERENCE = N_("The order carries no reference of the original payment: find it in the shop's payment records "
                  "by the order number, or ask the customer, before you pay.")
NO_PAYER = N_("The order names no customer: look the payer up in the shop's order system before you pay.")
NO_ACCOUNT = N_("No bank account of the customer is on file: ask the customer for it (name, bank, account number) "
                "and note it with the payment.")
ACCOUNT_METHODS = frozenset({"bank_transfer", "cash", "cod"})

MISSING_REFERENCE = N_("Payment reference: enter the bank transfer or receipt number of the payment you made.")
ALREADY_PAID = N_("Payment {number} is already recorded as paid (reference {reference}); nothing was paid twice.")
STALE = N_("Payment {number} changed after you opened this page; nothing was recorded. Check it below and record "
           "it again if it still needs paying.")
NOT_APPROVED = N_("Refund {refund} is not approved for payment (it is {state}); nothing was recorded.")
NOT_MANUAL = N_("Payment {number} goes back through the payment provider: use its Pay or Retry button instead.")


def method_words(method: str | None, locale: str) -> str:
    if not method:
        return ""
    if method in METHODS:
        return gettext(locale, METHODS[method])
    return method.replace("_", " ").strip().capitalize()


def route_of(leg: RefundPayment) -> str:
    return leg.gateway or "manual" if leg.destination == "gateway" else leg.destination


def payers(session, refunds: list[Refund]) -> dict[int, dict[str, Any]]:
    """Per order id: its number, the paying customer (name, phone, email; None when the order names none) and
    its payments as the order recorded them."""
    orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_({r.order_id for r in refunds})))}
    people = {c.id: c for c in session.scalars(select(Customer).where(
        Customer.id.in_({o.customer_id for o in orders.values() if o.customer_id})))} if orders else {}
    out = {}
    for oid, o in orders.items():
        c = people.get(o.customer_id)
        out[oid] = {"order": o.number, "currency": o.currency, "payments": o.payments or [],
                    "payer": {"name": c.name, "phone": c.phone, "email": c.email} if c else None}
    return out


def leg_view(leg: RefundPayment, refund: Refund, order: dict[str, Any] | None, locale: str) -> dict[str, Any]:
    """One leg as finance reads it: method and route in words, the original transaction, payer, amount; for a
    manual leg still to pay, what to do and what is missing (messages, already translated)."""
    route = route_of(leg)
    payer = (order or {}).get("payer")
    manual = route == "manual"
    todo = manual and leg.state in ("pending", "sent") and refund.state == "approved"
    missing = []
    if todo and not leg.payment_ref:
        missing.append(gettext(locale, NO_REFERENCE))
    if todo and payer is None:
        missing.append(gettext(locale, NO_PAYER))
    if todo and (leg.method in ACCOUNT_METHODS or leg.method not in METHODS):
        missing.append(gettext(locale, NO_ACCOUNT))
    return {"leg": leg, "amount": fmt(leg.amount, leg.currency), "method": method_words(leg.method, locale),
            "route": gettext(locale, ROUTES[route]) if route in ROUTES else method_words(route, locale),
            "manual": manual, "payer": payer, "order": (order or {}).get("order", ""),
            "how": gettext(locale, HOW.get(leg.method, HOW_ANY)) if todo else "", "missing": missing,
            "markable": todo, "version": count(object_session(leg), REFUND_PAYMENT.kind, leg.id)}


def original_payments(order: dict[str, Any] | None, locale: str) -> list[dict[str, Any]]:
    """The order's own payment legs (what the customer paid with), for the case's refund page."""
    if not order:
        return []
    return [{"method": method_words(p.get("method"), locale), "reference": p.get("reference") or "",
             "amount": fmt(int(p.get("amount") or 0), order["currency"])} for p in order["payments"]]


def refusal(session, number: str, version: int | None, locale: str) -> PageError | None:
    """Why leg `number` cannot be recorded paid now, in words (None: it can). Read before the locked write, which
    checks again: a race still ends in the service's refusal, which the page words the same way."""
    leg = session.scalar(select(RefundPayment).where(RefundPayment.number == number))
    if leg is None:
        return None  # the service answers "not found" with the field
    refund = session.get(Refund, leg.refund_id)
    if leg.state == "succeeded":
        return PageError("already_paid", ALREADY_PAID, status=409, number=number, reference=leg.reference or "")
    if route_of(leg) != "manual":
        return PageError("not_manual", NOT_MANUAL, status=409, number=number)
    if refund.state != "approved":
        from .finance_pages import REFUND_STATES

        return PageError("refund_state", NOT_APPROVED, status=409, refund=refund.number,
                         state=gettext(locale, REFUND_STATES.get(refund.state, N_("not payable"))))
    if version is not None and version != count(session, REFUND_PAYMENT.kind, leg.id):
        return PageError("stale", STALE, status=409, number=number)
    return None
