"""Quoting a refund: what the policy deducts (contract 3), what the order has given back so far, what the case
asks for, and what the customer agreed to in the portal; the request itself is refunds/service.py."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from decimal import Decimal

from ..cases.conversation import CasePlan
from ..cases.models import CaseState, CaseType
from ..cases.store import CaseRecord
from ..money import MoneyError, fmt, from_minor, to_minor
from ..orders.models import Order, OrderLine
from . import calc, rules
from .models import Refund, RefundLine
from .schemas import ConsentIn, RefundCreate
from ..i18n import N_, every
from .refusal import refuse

REFUNDABLE_TYPES = frozenset({CaseType.REFUND_ONLY.value, CaseType.RETURN_REFUND.value})
REFUNDABLE_STATES = frozenset({CaseState.INSPECTED.value, CaseState.RESOLVING.value})
# Payment methods that are not cash come back in their own form (CN9, CN10), on the customer's ledger.
OWN_FORM = {"balance": "store_credit", "store_credit": "store_credit", "points": "points", "coupon": "coupon"}
LIVE = ("awaiting_approval", "approved", "completed")  # refunds that hold their amounts against the order


# ---- the policy's deductions (contract 3) --------------------------------------------------------------------

def deductions_for(case: CaseRecord) -> list[dict]:
    """The policy's deductions for the case's lines: [{case_line_id, kind, amount_minor, currency, rule}].

    Read from `case.policy_decision` (assessment/apply.py stores it when the case opens: per requested line, its
    `order_line_id` and the decision's `deductions` as decimal strings in the case currency), and the line's first
    `grade_fees` entry whose grades include the grade its inspection recorded. A case without a decision (imported
    history) has no policy deductions.
    """
    decision = getattr(case, "policy_decision", None) or {}
    by_order_line = {line.order_line_id: line.id for line in case.lines}
    grades = {line.id: (line.inspection or {}).get("grade") for line in case.lines}
    found = []
    for line in decision.get("lines", []):
        case_line_id = by_order_line.get(line.get("order_line_id"))
        for d in (line.get("decision") or {}).get("deductions", []):
            found.append({"case_line_id": case_line_id, "kind": d.get("kind", "policy"),
                          "amount_minor": to_minor(Decimal(str(d.get("amount", "0"))), case.currency),
                          "currency": case.currency, "rule": d.get("rule") or ""})
        fee = rules.grade_fee(line.get("grade_fees") or (), grades.get(case_line_id))
        if fee is not None:
            found.append({"case_line_id": case_line_id, "kind": "restocking_fee",
                          "amount_minor": to_minor(Decimal(str(fee["amount"])), case.currency),
                          "currency": case.currency, "rule": fee["rule"]})
    return found



def _inspection_deduction(line, currency: str, index: int) -> tuple[str, int, str] | None:
    """The inspector's damage deduction on a case line (`inspection["deduction"]`, an amount in the case currency)."""
    raw = (line.inspection or {}).get("deduction")
    if raw in (None, "", 0, "0"):
        return None
    if isinstance(raw, dict):
        if raw.get("currency", currency) != currency:
            raise refuse(f"lines[{index}].inspection.deduction",
                         N_("the inspection deduction is in {currency} but the case is in {case_currency}"),
                         currency=raw.get('currency'), case_currency=currency, code="wrong_currency")
        raw = raw.get("amount")
    try:
        amount = to_minor(raw if not isinstance(raw, float) else str(raw), currency)
    except MoneyError as exc:
        raise refuse(f"lines[{index}].inspection.deduction", exc.text, **exc.values) from None
    if amount < 0:
        raise refuse(f"lines[{index}].inspection.deduction", N_("must not be negative"))
    return ("inspection_damage", amount, "inspection")


# ---- what an order has given back so far ---------------------------------------------------------------------

def order_facts(session: Session, order_id: int) -> tuple[calc.OrderFacts, Order]:
    order = session.get(Order, order_id)
    lines = session.execute(select(OrderLine.id, OrderLine.quantity, OrderLine.paid_amount)
                            .where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)).all()
    facts = calc.OrderFacts(
        currency=order.currency, lines=tuple(calc.LineFacts(i, q, paid) for i, q, paid in lines),
        discount=order.discount, shipping_fee=order.shipping_fee, paid_total=order.paid_total,
        payments=tuple((p["method"], int(p["amount"])) for p in order.payments or ()),
        shipping_cost=order.shipping_cost, standard_shipping=order.standard_shipping_fee)
    return facts, order


def prior_of(session: Session, order_id: int) -> tuple[calc.Prior, dict[int, int]]:
    """What live refunds of the order already hold: units per order line, shipping, total, per payment; and
    units per case line."""
    live = select(Refund.id).where(Refund.order_id == order_id, Refund.state.in_(LIVE))
    units = dict(session.execute(select(RefundLine.order_line_id, func.sum(RefundLine.quantity))
                                 .where(RefundLine.refund_id.in_(live)).group_by(RefundLine.order_line_id)).all())
    by_case_line = dict(session.execute(select(RefundLine.case_line_id, func.sum(RefundLine.quantity))
                                        .where(RefundLine.refund_id.in_(live))
                                        .group_by(RefundLine.case_line_id)).all())
    shipping, total = session.execute(select(func.coalesce(func.sum(Refund.shipping_amount), 0),
                                             func.coalesce(func.sum(Refund.amount), 0))
                                      .where(Refund.id.in_(live))).one()
    by_payment: dict[int, int] = {}
    free_shipping = 0
    for breakdown, in session.execute(select(Refund.breakdown).where(Refund.id.in_(live))):
        total -= breakdown.get("postage", 0)  # CN7 postage is not part of what the order paid
        for leg in breakdown.get("payments", []):
            if leg.get("postage"):
                continue
            by_payment[leg["index"]] = by_payment.get(leg["index"], 0) + leg["amount"]
        free_shipping += sum(d["amount"] for line in breakdown.get("lines", []) for d in line.get("deductions", [])
                             if d.get("kind") == "free_shipping")
    prior = calc.Prior(units={k: int(v) for k, v in units.items()}, shipping=int(shipping), total=int(total),
                       by_payment=by_payment, free_shipping=free_shipping)
    return prior, {k: int(v) for k, v in by_case_line.items()}


# ---- quote and request ---------------------------------------------------------------------------------------

def _check_case(session: Session, case: CaseRecord) -> None:
    if case.type not in REFUNDABLE_TYPES:
        raise refuse("case", N_("a {type} case is not refunded; only {types}"), type=case.type,
                     types=', '.join(sorted(REFUNDABLE_TYPES)),
                     code="refund_not_allowed")
    if case.state not in REFUNDABLE_STATES and not rules.early_refund(session, case):
        raise refuse("case", N_("a case in state '{state}' cannot be refunded; it must be {states}"),
                     state=case.state, states=every(N_("{first} or {second}"), first=sorted(REFUNDABLE_STATES)[0],
                                                    second=sorted(REFUNDABLE_STATES)[1]),
                     code="refund_not_allowed", status=409)


def _asks(case: CaseRecord, body: RefundCreate, done_by_case_line: dict[int, int],
          deductions: list[dict]) -> list[calc.LineAsk]:
    by_id = {line.id: line for line in case.lines}

    inspected = case.state in REFUNDABLE_STATES  # else an EU5 refund on receipt or proof of dispatch: as claimed

    def limit(line) -> int:
        base = line.accepted_quantity if case.needs_return and inspected else line.quantity
        return max(base - done_by_case_line.get(line.id, 0), 0)

    if body.lines is None:
        picks = {line.id: limit(line) for line in case.lines}
    else:
        picks = {}
        for i, pick in enumerate(body.lines):
            line = by_id.get(pick.case_line_id)
            if line is None:
                raise refuse(f"lines[{i}].case_line_id", N_("not a line of this case; lines: {lines}"),
                             lines=sorted(by_id))
            if pick.case_line_id in picks:
                raise refuse(f"lines[{i}]", N_("this line appears twice"))
            if pick.quantity > limit(line):
                what = every(N_("accepted at inspection") if case.needs_return else N_("claimed"))
                raise refuse(f"lines[{i}].quantity",
                             N_("{quantity} asked, but only {most} can still be refunded ({what}, minus earlier "
                                "refunds)"),
                             quantity=pick.quantity, most=limit(line), what=what,
                             code="over_refund")
            picks[line.id] = pick.quantity
    per_line: dict[int, list[tuple[str, int, str]]] = {}
    for d in deductions:
        per_line.setdefault(d["case_line_id"], []).append((d["kind"], d["amount_minor"], d["rule"]))
    asks = []
    for index, line in enumerate(case.lines):
        qty = picks.get(line.id, 0)
        if qty <= 0:
            continue
        own = list(per_line.get(line.id, []))
        damage = _inspection_deduction(line, case.currency, index)
        if damage:
            own.append(damage)
        asks.append(calc.LineAsk(line.order_line_id, line.id, qty, tuple(own)))
    return asks


def _deductions(case: CaseRecord, body: RefundCreate) -> list[dict]:
    lines = {line.id for line in case.lines}
    found = []
    for i, d in enumerate(body.deductions):
        field = f"deductions[{i}]"
        if d.case_line_id not in lines:
            raise refuse(f"{field}.case_line_id", N_("not a line of this case; lines: {lines}"), lines=sorted(lines))
        if d.currency.upper() != case.currency:
            raise refuse(f"{field}.currency", N_("{currency} does not match the case currency {case_currency}"),
                         currency=d.currency, case_currency=case.currency, code="wrong_currency")
        try:
            amount = to_minor(d.amount, case.currency)
        except MoneyError as exc:
            raise refuse(f"{field}.amount", exc.text, **exc.values) from None
        if amount < 0:
            raise refuse(f"{field}.amount", N_("must not be negative"))
        found.append({"case_line_id": d.case_line_id, "kind": d.kind, "amount_minor": amount, "rule": d.rule})
    for d in deductions_for(case):
        if d["currency"] not in (None, case.currency):
            raise refuse("policy.deductions", N_("a policy deduction is in {currency}, the case in {case_currency}"),
                         currency=d['currency'], case_currency=case.currency, code="wrong_currency")
        found.append(d)
    return found


def plan(session: Session, case: CaseRecord, body: RefundCreate) -> tuple[calc.Quote, calc.OrderFacts, Order]:
    """The refund `body` asks for on `case`, computed against everything the order already gave back."""
    _check_case(session, case)
    facts, order = order_facts(session, case.order_id)
    prior, done = prior_of(session, case.order_id)
    deductions = _deductions(case, body)
    asks = _asks(case, body, done, deductions)
    amount = None
    if body.amount is not None:
        try:
            amount = to_minor(body.amount, case.currency)
        except MoneyError as exc:
            raise refuse("amount", exc.text, **exc.values) from None
        if amount <= 0:
            raise refuse("amount", N_("must be more than 0"))
    try:
        shipping = body.refund_shipping
        if shipping is None:
            shipping = rules.default_refund_shipping(session, case.merchant_id, facts, prior, asks)
        quote = calc.quote(facts, prior, asks, refund_shipping=shipping, amount=amount,
                           postage=rules.postage_due(session, case))
    except calc.OverAmount as exc:
        raise refuse("amount", N_("{asked} asked, at most {most} may be refunded"),
                     asked=fmt(exc.asked, case.currency), most=fmt(exc.most, case.currency), code="over_refund") from None
    return quote, facts, order


def quote_dict(quote: calc.Quote, order: Order) -> dict:
    c = quote.currency
    methods = order.payments or [{"method": "original", "amount": order.paid_total}]
    return {
        "currency": c, "goods": fmt(quote.goods, c), "shipping": fmt(quote.shipping, c),
        "deducted": fmt(quote.deducted, c), "capped": fmt(quote.capped, c), "reduced": fmt(quote.reduced, c),
        "total": fmt(quote.total, c), "postage": fmt(quote.postage[2] if quote.postage else 0, c),
        "lines": [{"case_line_id": r.case_line_id, "quantity": r.quantity, "gross": fmt(r.gross, c),
                   "deductions": [{"kind": d["kind"], "rule": d["rule"], "amount": fmt(d["amount"], c),
                                   "asked": fmt(d["asked"], c)} for d in r.deductions],
                   "net": fmt(r.net, c)} for r in quote.lines],
        "payments": [{"method": m, "amount": fmt(a, c), "reference": methods[i].get("reference")}
                     for i, m, a in quote.payments + ([quote.postage] if quote.postage else [])],
    }


def agreed(session: Session, case: CaseRecord, body: RefundCreate) -> RefundCreate:
    """What the customer agreed to in the portal governs the refund: none while a proposed plan awaits the answer;
    after an accepted partial refund or store credit (and before any refund following it), its amount is the
    default and the most, and an accepted store credit is the customer's recorded consent to that route (CN9)."""
    latest = session.scalar(select(CasePlan).where(CasePlan.case_id == case.id, CasePlan.status != "withdrawn")
                            .order_by(CasePlan.id.desc()).limit(1))
    if latest is None:
        return body
    if latest.status == "proposed":
        raise refuse("case",
                     N_("a proposed plan is waiting for the customer's answer; refund after they accept it, or "
                        "withdraw the plan first"),
                     code="plan_awaiting_customer", status=409)
    if latest.status != "accepted" or latest.amount is None or latest.answered_at is None:
        return body
    used = session.scalar(select(func.count()).select_from(Refund).where(
        Refund.case_id == case.id, Refund.state.in_(LIVE), Refund.created_at >= latest.answered_at))
    if used:
        return body
    ceiling = from_minor(latest.amount, latest.currency)
    changes: dict = {}
    if body.amount is None:
        changes["amount"] = ceiling
    elif body.amount > ceiling:
        raise refuse("amount", N_("{amount} is what the customer accepted (plan {id}); a refund may not exceed it"),
                     amount=fmt(latest.amount, latest.currency), id=latest.id, code="over_agreed")
    if latest.kind == "store_credit" and body.route == "balance" and body.consent is None:
        changes["consent"] = ConsentIn(channel="portal", statement=f"accepted plan {latest.id}: store credit of "
                                       f"{fmt(latest.amount, latest.currency)} {latest.currency}",
                                       given_at=latest.answered_at)
    return body.model_copy(update=changes) if changes else body
