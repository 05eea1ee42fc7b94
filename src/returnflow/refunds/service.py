"""Refund decisions: quote a case, request a refund, approve or reject it by authority level (one transaction each)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.conversation import CasePlan
from ..cases.models import CaseState, CaseType
from ..cases.service import next_value_statement, get_case
from ..cases.store import CaseRecord
from ..db import utcnow
from ..errors import Explained, Forbidden, NotFound
from ..merchants.models import Merchant
from ..money import MoneyError, fmt, from_minor, to_minor
from ..orders.models import Order, OrderLine
from ..flows import move
from . import calc, ledger, locks, rules
from .models import Refund, RefundLine, RefundPayment
# The roles are declared with the tables; EXECUTORS is read from here by settle, charges and the pages.
from .money_flows import APPROVERS, EXECUTORS, REFUND, REFUND_PAYMENT, REQUESTERS  # noqa: F401
from .schemas import ConsentIn, RefundCreate
from ..i18n import ENGLISH, N_, every
from ..merchants.clock import zone_of

log = logging.getLogger("returnflow.refunds")

REFUNDABLE_TYPES = frozenset({CaseType.REFUND_ONLY.value, CaseType.RETURN_REFUND.value})
REFUNDABLE_STATES = frozenset({CaseState.INSPECTED.value, CaseState.RESOLVING.value})
# Payment methods that are not cash come back in their own form (CN9, CN10), on the customer's ledger.
OWN_FORM = {"balance": "store_credit", "store_credit": "store_credit", "points": "points", "coupon": "coupon"}
LIVE = ("awaiting_approval", "approved", "completed")  # refunds that hold their amounts against the order
DEFAULT_AGENT_LIMIT = Decimal(500)


def refuse(field: str | None, text: str, /, *, code: str = "validation", status: int = 422, **params) -> Explained:
    """A refusal naming the field (`text` an English msgid with {placeholders} from params), logged (bad money input
    is worth a trace)."""
    refusal = Explained(field, text, code=code, status=status, **params)
    log.warning("refund refused: %s: %s", field, refusal.problem(ENGLISH))
    return refusal


# ---- settings ------------------------------------------------------------------------------------------------

def money_settings(session: Session, merchant_id: int) -> dict:
    """The merchant's money settings with defaults filled in."""
    raw = (session.scalar(select(Merchant.settings).where(Merchant.id == merchant_id)) or {}).get("money") or {}
    return {"agent_limit": raw.get("agent_limit", {}), "supervisor_limit": raw.get("supervisor_limit", {}),
            "gateways": raw.get("gateways", {}), "default_gateway": raw.get("default_gateway", "manual"),
            "routes": raw.get("routes", {}), "postage_cap": raw.get("postage_cap", {}),
            "providers": raw.get("providers", {})}  # holds secrets: shown only through providers.config.shown


def gateway_for(settings: dict, method: str) -> str:
    """The gateway a payment method's refunds go through: the merchant's choice for the method, else the provider
    that method belongs to when the merchant has configured it (wechat -> WeChat Pay, alipay -> Alipay), else the
    default gateway."""
    from .providers import METHOD_PROVIDER
    from .providers.config import missing

    if method in settings["gateways"]:
        return settings["gateways"][method]
    provider = METHOD_PROVIDER.get(method)
    if provider and provider in settings["providers"] and not missing(provider, settings["providers"][provider]):
        return provider
    return settings["default_gateway"]


def limit_for(settings: dict, role: str, currency: str) -> int | None:
    """How much `role` may refund at once in `currency` without approval (None: no limit)."""
    if role == "admin":
        return None
    if role == "supervisor":
        value = settings["supervisor_limit"].get(currency)
        return None if value is None else to_minor(value, currency)
    if role == "agent":
        return to_minor(settings["agent_limit"].get(currency, DEFAULT_AGENT_LIMIT), currency)
    return 0


# ---- the policy's deductions (contract 3) --------------------------------------------------------------------

def deductions_for(case: CaseRecord) -> list[dict]:
    """The policy's deductions for the case's lines: [{case_line_id, kind, amount_minor, currency, rule}].

    Read from `case.policy_decision` (assessment/apply.py stores it when the case opens: per requested line, its
    `order_line_id` and the decision's `deductions` as decimal strings in the case currency), and the line's first
    `grade_fees` entry whose grades include the grade its inspection recorded. A case without a decision (imported
    history) has no policy deductions.
    """
    from decimal import Decimal

    from ..money import to_minor

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


def _number(session: Session, prefix: str, at: datetime, merchant_id: int | None = None) -> str:
    """A refund (RF) or charge (CH) number: prefix, the date on the merchant's clock, daily sequence."""
    day = at.astimezone(zone_of(session, merchant_id)).strftime("%y%m%d")
    value = store.run(session, next_value_statement(session.get_bind().dialect.name), {"name": f"{prefix}{day}"}).scalar_one()
    return f"{prefix}{day}{value:04d}"


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
