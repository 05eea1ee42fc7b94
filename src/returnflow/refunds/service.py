"""Refund decisions: request a refund, approve or reject it by authority level (one transaction each); the quote
it is requested from is refunds/quote.py."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.service import next_value_statement, get_case
from ..db import utcnow
from ..errors import Forbidden, NotFound
from ..money import fmt
from ..flows import move
from . import ledger, locks, rules
from .models import Refund, RefundLine, RefundPayment
from .money_flows import APPROVERS, REFUND, REFUND_PAYMENT, REQUESTERS
from .schemas import RefundCreate
from ..i18n import N_
from ..merchants.clock import zone_of
from .refusal import refuse
from .money_settings import gateway_for, limit_for, money_settings
from .quote import OWN_FORM, REFUNDABLE_STATES, agreed, plan

log = logging.getLogger("returnflow.refunds")


def _number(session: Session, prefix: str, at: datetime, merchant_id: int | None = None) -> str:
    """A refund (RF) or charge (CH) number: prefix, the date on the merchant's clock, daily sequence."""
    day = at.astimezone(zone_of(session, merchant_id)).strftime("%y%m%d")
    value = store.run(session, next_value_statement(session.get_bind().dialect.name), {"name": f"{prefix}{day}"}).scalar_one()
    return f"{prefix}{day}{value:04d}"


def request_refund(session: Session, *, actor: Actor, number: str, body: RefundCreate) -> Refund:
    """Decides a refund for the case: within the requester's limit it is approved at once, else it awaits approval."""
    if actor.role not in REQUESTERS:
        raise Forbidden("forbidden_role", role=actor.role, what="request a refund", allowed=list(REQUESTERS))
    case = get_case(session, actor=actor, number=number)
    # Two refunds of one order are computed one after the other; the case first (locks.py: the one order).
    locks.case(session, case.id)
    locks.order(session, case.order_id)
    body = agreed(session, case, body)
    quote, facts, order = plan(session, case, body)
    if quote.total <= 0:
        raise refuse("lines", N_("nothing left to refund on this case"), code="nothing_to_refund")
    settings = money_settings(session, case.merchant_id)
    route = body.route
    if route not in ("original", "balance") and route not in settings["routes"]:
        raise refuse("route", N_("'{route}' is not a refund route of this merchant"), route=route, code="unknown_route")
    if route != "original" and body.consent is None:
        raise refuse("consent",
                     N_("another route than the original payment needs the customer's recorded consent (CN9)"),
                     code="consent_required")
    legs_plan = []
    methods = order.payments or [{"method": "original", "amount": order.paid_total}]
    for index, method, amount in quote.payments:
        own = OWN_FORM.get(method)
        if own:
            destination, gateway = own, None
        elif route == "balance":
            destination, gateway = "store_credit", None
        elif route == "original":
            destination, gateway = "gateway", gateway_for(settings, method)
        else:
            destination, gateway = "gateway", settings["routes"][route]
        legs_plan.append((index, method if route in ("original", "balance") or own else route, destination, gateway,
                          amount, methods[index].get("reference")))
    if quote.postage:  # CN7: the customer's postage, its own leg back the same way as the goods
        index, method, amount = quote.postage
        legs_plan.append((index, method if route == "original" else route,
                          "store_credit" if route == "balance" else "gateway",
                          None if route == "balance" else settings["routes"].get(route)
                          or gateway_for(settings, method), amount, methods[index].get("reference")))
    if any(dest != "gateway" for _, _, dest, _, _, _ in legs_plan) and case.customer_id is None:
        raise refuse("route", N_("store credit, points and coupons go to a customer, and this order has none"))

    at = utcnow()
    limit = limit_for(settings, actor.role, case.currency)
    approved = limit is None or quote.total <= limit
    consent = None
    if body.consent is not None:
        consent = {"channel": body.consent.channel, "statement": body.consent.statement,
                   "given_at": (body.consent.given_at or at).isoformat(), "recorded_by": actor.ref}
    refund = Refund(
        merchant_id=case.merchant_id, case_id=case.id, order_id=case.order_id,
        number=_number(session, "RF", at, case.merchant_id),
        currency=case.currency, route=route, state=None,
        goods_amount=quote.goods, shipping_amount=quote.shipping, deducted_amount=quote.deducted,
        capped_amount=quote.capped, amount=quote.total, consent=consent, note=body.note,
        requested_by=actor.ref, requested_role=actor.role, approved_by=actor.ref if approved else None,
        breakdown={"lines": [r.__dict__ for r in quote.lines], "reduced": quote.reduced,
                   "payments": [{"index": i, "method": m, "amount": a} for i, m, a in quote.payments]
                   + ([{"index": quote.postage[0], "method": quote.postage[1], "amount": quote.postage[2],
                        "postage": True}] if quote.postage else []),
                   "postage": quote.postage[2] if quote.postage else 0,
                   "early": None if case.state in REFUNDABLE_STATES else rules.early_refund(session, case)},
        created_at=at, updated_at=at)
    move(session, REFUND, refund, "request_within_limit" if approved else "request", by=actor.ref, role=actor.role,
         at=at)
    for r in quote.lines:
        session.add(RefundLine(refund_id=refund.id, case_line_id=r.case_line_id, order_line_id=r.order_line_id,
                               quantity=r.quantity, gross=r.gross, deducted=r.deducted, net=r.net))
    for seq, (index, method, destination, gateway, amount, ref) in enumerate(legs_plan, start=1):
        leg = RefundPayment(
            refund_id=refund.id, merchant_id=case.merchant_id, number=f"{refund.number}-{seq}", method=method,
            destination=destination, gateway=gateway, payment_ref=ref, currency=case.currency, amount=amount,
            state=None, created_at=at, updated_at=at)
        move(session, REFUND_PAYMENT, leg, "open", by=actor.ref, role=actor.role, at=at)
    if quote.postage:
        rules.open_claim(session, case.id).refund_id = refund.id
    if approved:
        on_approved(session, refund, by=actor.ref, role=actor.role, at=at)
    return refund


def get_refund(session: Session, *, actor: Actor, number: str) -> Refund:
    """The refund, locked after its case (locks.py)."""
    refund = locks.refund_by_number(session, number)
    if refund is None or not actor.can_see(refund.merchant_id):
        raise NotFound("refund", number, field="number")
    return refund


def approve(session: Session, *, actor: Actor, number: str, note: str = "") -> Refund:
    """A supervisor (or admin) approves a refund above the requester's limit, within their own."""
    if actor.role not in APPROVERS:
        raise Forbidden("forbidden_role", role=actor.role, what="approve a refund", allowed=list(APPROVERS))
    refund = get_refund(session, actor=actor, number=number)
    if refund.state != "awaiting_approval":
        raise refuse("state", N_("refund {number} is {state}; only one awaiting approval can be approved"),
                     number=refund.number, state=refund.state, code="refund_state",
                     status=409)
    limit = limit_for(money_settings(session, refund.merchant_id), actor.role, refund.currency)
    if limit is not None and refund.amount > limit:
        raise Forbidden("forbidden_role", role=actor.role,
                        what=f"approve {fmt(refund.amount, refund.currency)} {refund.currency} "
                             f"(limit {fmt(limit, refund.currency)})", allowed=["admin"])
    if actor.ref == refund.requested_by:
        raise Forbidden("forbidden_role", role=actor.role, what="approve a refund they requested",
                        allowed=["another approver"])
    at = utcnow()
    move(session, REFUND, refund, "approve", by=actor.ref, role=actor.role, at=at, data={"note": note} if note else {})
    refund.approved_by = actor.ref
    if note:
        refund.note = (refund.note + "\n" + note).strip()
    on_approved(session, refund, by=actor.ref, role=actor.role, at=at)
    return refund


def reject(session: Session, *, actor: Actor, number: str, reason: str) -> Refund:
    """A refund awaiting approval is turned down; its amounts go back to what the order can still refund."""
    if actor.role not in APPROVERS:
        raise Forbidden("forbidden_role", role=actor.role, what="reject a refund", allowed=list(APPROVERS))
    refund = get_refund(session, actor=actor, number=number)
    if refund.state != "awaiting_approval":
        raise refuse("state", N_("refund {number} is {state}; only one awaiting approval can be rejected"),
                     number=refund.number, state=refund.state, code="refund_state",
                     status=409)
    move(session, REFUND, refund, "reject", by=actor.ref, role=actor.role, at=utcnow(), data={"reason": reason})
    refund.note = (refund.note + "\nrejected: " + reason).strip()
    return refund


def on_approved(session: Session, refund: Refund, *, by: str, role: str, at: datetime) -> None:
    """The decision voucher, and the legs that need no gateway settled at once (ledger credits)."""
    from .settle import settle

    lines = [d for line in refund.breakdown["lines"] for d in line["deductions"]]
    ledger.post(session, merchant_id=refund.merchant_id, kind="refund_decision", currency=refund.currency,
                lines=ledger.decision_lines(goods=refund.goods_amount, shipping=refund.shipping_amount,
                                            deductions=lines, capped=refund.capped_amount,
                                            reduced=refund.breakdown.get("reduced", 0), total=refund.amount,
                                            postage=refund.breakdown.get("postage", 0)),
                at=at, memo=f"refund {refund.number} decided", case_id=refund.case_id, refund_id=refund.id)
    for leg in session.scalars(select(RefundPayment).where(RefundPayment.refund_id == refund.id,
                                                           RefundPayment.destination != "gateway")):
        settle(session, leg, by=by, role=role, at=at, reference="ledger")
