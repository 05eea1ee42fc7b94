"""The policy applied to a real request: the order's facts in, one decision per requested line out, and the
verdict for the whole case (approve automatically, leave to an agent, or send up for approval).

Opening a case and the dry run both call `assess`, with the same rows, so what a customer is shown before
submitting is exactly what the case is then decided under.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..cases import reasons as reason_taxonomy
from ..cases.models import Case as CaseRow, CaseLine as CaseLineRow
from ..i18n import N_, SUPPORTED, every
from ..money import from_minor, quantize
from ..orders.models import Category as CategoryRow, OrderLine as OrderLineRow
from ..cases.ports import Requested
from ..policy.engine import decide
from ..policy.compiled import Policy
from ..policy.model import Category, Citation, Customer, Decision, Gift, LineRequest, Outcome, Route
from ..policy.models import PolicyVersion
from ..policy.texts import BUILTIN, MERCHANT
from ..prepared import prepared, run as prepared_run
from ..warehouse.models import RepairOrder
from ..sla import settings as sla_settings

# Category.attributes keys read as the engine's legal attributes (anything else is ignored).
BOOL_ATTRIBUTES = ("custom_made", "perishable", "digital", "periodical", "hygiene_sealed", "one_time_seal",
                   "needs_confirmation", "sanbao", "virtual", "inseparable")
REFUND_TYPES = ("refund_only", "return_refund")
# The outcome each case type asks for; inquiries and complaints are not decided by the policy.
CASE_OUTCOME = {"refund_only": Outcome.REFUND, "return_refund": Outcome.REFUND, "exchange": Outcome.EXCHANGE,
                "repair": Outcome.REPAIR, "reship": Outcome.RESHIP}


@dataclass(slots=True)
class Assessment:
    """The policy's answer for a whole request."""

    verdict: str  # approve | require_approval | review
    policy_version: int | None
    record: dict  # what the case stores (cases.policy_decision) and the dry run returns
    decisions: list[Decision]
    summary_en: str
    summary_zh: str
    keep_items: bool  # every line may be kept (no return needed)


def assess(session: Session, *, merchant_id: int, policy_row: PolicyVersion | None, policy: Policy, preset: str | None,
           order, order_lines, requested: list[Requested], case_type: str, case_reason: str | None,
           now: datetime) -> Assessment:
    """Decides every requested line and the case's verdict. `order` is a row of cases.service.ORDER_TO_OPEN and
    `order_lines` all its lines (rows of _LINES_WITH_CLAIMS), which carry its gifts."""
    codes = {r.line.category for r in requested if r.line.category}
    categories = _categories(session, merchant_id, order.id) if codes else {}
    customer = Customer(id=order.external_id or "", risk=order.risk or "normal")
    currency = order.currency
    methods = frozenset(str(p.get("method")) for p in (order.payments or ()) if isinstance(p, dict))
    recent = 0
    if policy.instant_refund_max is not None and policy.instant_max_recent_refunds is not None \
            and order.customer_id is not None:
        # TB9: the buyer's refund requests of the last 90 days (only asked when refund on dispatch is offered).
        recent = session.connection().execute(_RECENT_REFUNDS, {"customer_id": order.customer_id,
                                                                "since": now - timedelta(days=90)}).scalar_one()
    in_request = {r.line.id for r in requested}
    # EU1: split deliveries count from the last item; while an item is still on its way the period has not begun.
    last_received = max((t for t in (_received(order, g) for g in order_lines if g.delivered_quantity) if t),
                        default=None)
    if last_received is not None and any(g.delivered_quantity < g.quantity for g in order_lines if not g.gift):
        last_received = max(last_received, now)
    # CN12 only reads repairs of 三包 goods under PRC law: other requests cost no query.
    sanbao = {r.line.id for r in requested
              if ((getattr(categories.get(r.line.category or ""), "attributes", None) or {}).get("sanbao") is True)}
    repairs = _repairs(session, sanbao) if policy.law == "cn" else []
    working_day = _working_day(session, merchant_id) if policy.extend_to_business_day else None
    gifts = tuple(Gift(sku=g.sku, marked_price=from_minor(g.unit_price * g.quantity, currency),
                       returned=g.id in in_request or g.claimed >= g.quantity)
                  for g in order_lines if g.gift)
    gifts_given = False
    # CN6: the goods the buyer keeps shrink with every earlier case and every earlier line of this request, so
    # exactly one line of one request breaks the free-shipping threshold (the deduction is taken once per order).
    kept = None
    if order.free_shipping_threshold is not None and policy.deduct_free_shipping:
        # Only refund cases take goods back for good (an exchange leaves the buyer with the goods' value).
        returned = dict(session.connection().execute(_REFUND_CLAIMS, {"order_id": order.id}).all())
        kept = _goods_kept(order_lines, currency, returned)
    lines, decisions = [], []
    for r in requested:
        code = r.reason or case_reason
        fault = reason_taxonomy.fault_of(session, merchant_id, code)
        category, tags = category_of(r.line.category, categories.get(r.line.category or ""))
        # CN10: the order's gifts are weighed once per request, with its first paid line.
        line_gifts = () if gifts_given or r.line.gift else gifts
        gifts_given = gifts_given or bool(line_gifts)
        request = line_request(order, r, case_type, code or "", fault, category, tags, customer, line_gifts,
                               methods, recent, goods_kept=kept)
        if not r.line.gift and kept is not None:
            kept -= request.amount
        done = r.repairs_done if r.repairs_done is not None else _repairs_of(repairs, r)
        request = replace(request, repairs_done=done, grade=r.grade, last_received_at=last_received)
        decision = decide(policy, request, now, working_day)
        decisions.append(decision)
        entry = {"line_no": r.line.line_no, "order_line_id": r.line.id, "sku": r.line.sku,
                 "quantity": r.quantity, "reason": code, "fault": fault, "category": category.code,
                 "decision": decision_dict(decision)}
        pending = grade_fees(policy, request, decision)
        if pending:
            entry["grade_fees"] = pending  # fees that apply once inspection records one of their grades
        lines.append(entry)
    verdict, summary = _verdict(case_type, decisions)
    record = {
        "policy": {"version": policy_row.version if policy_row else None, "default": policy_row is None,
                   "extends": (policy_row.extends or None) if policy_row else preset, "policy_id": policy.id},
        "decided_at": now, "verdict": verdict, "summary": summary,  # {language: sentence}, every language
        "eligible": bool(decisions) and all(d.eligible for d in decisions),
        # Every line eligible for the outcome the case asks for: approving anything else is an override.
        "within_policy": bool(decisions) and all(d.eligible and CASE_OUTCOME.get(case_type) in d.outcomes
                                                 for d in decisions),
        "rule_ids": sorted({rule for d in decisions for rule in d.rule_ids}),
        "lines": lines,
    }
    keep = bool(decisions) and all(d.eligible and not d.return_required for d in decisions)
    return Assessment(verdict, policy_row.version if policy_row else None, record, decisions, summary["en"],
                      summary.get("zh-CN", summary["en"]), keep)


def _verdict(case_type: str, decisions: list[Decision]) -> tuple[str, dict[str, str]]:
    """approve: every line eligible for the requested outcome and within the automatic limits;
    require_approval: some line needs a higher authority level; review: an agent looks. The summary is said in
    every language of the desk ({language: sentence})."""
    wanted = CASE_OUTCOME.get(case_type)
    if wanted is None or not decisions:
        return "review", every(N_("Not decided by the policy: an agent answers."))
    if any(d.route is Route.SUPERVISOR for d in decisions):
        return "require_approval", every(N_("Needs approval at a higher authority level."))
    if not all(d.eligible for d in decisions):
        return "review", every(N_("Outside the return policy for at least one line: an agent reviews it."))
    if not all(wanted in d.outcomes for d in decisions):
        allowed = sorted({o.value for d in decisions for o in d.outcomes})
        return "review", every(N_("The policy allows {outcomes} here, not {wanted}: an agent reviews it."),
                               outcomes=", ".join(allowed) if allowed else every(N_("no outcome")),
                               wanted=wanted.value)
    if all(d.route is Route.AUTO for d in decisions):
        return "approve", every(N_("Approved automatically under the return policy."))
    return "review", every(N_("Eligible; an agent confirms it."))


def grade_fees(policy: Policy, request: LineRequest, decision: Decision) -> list[dict]:
    """Restocking fees of the merchant's rules that depend on an inspection grade not known yet: for the refund
    after inspection, in rule order (the first whose grades include the recorded grade applies)."""
    if request.grade is not None or not decision.eligible or Outcome.REFUND not in decision.outcomes \
            or request.fault in ("merchant", "carrier") or any(x.kind == "restocking_fee" for x in decision.deductions):
        return []
    rules = [r for r in policy.index["restocking_fee"].matching(request.sku, request.tags, request.category.code)
             if r.grades and (not r.conditions or request.condition in r.conditions)]
    found = []
    for r in rules:
        amount = quantize(request.amount * r.percent / 100, request.currency)
        base = BUILTIN["M.restocking_fee"]
        own = r.wording()
        said = Citation(r.id, f"{MERCHANT} {policy.id}", own.get("zh-CN") or base[1], own.get("en") or base[2],
                        (("percent", r.percent), ("amount", amount)), r.text)
        found.append({"rule": r.id, "grades": sorted(r.grades), "percent": str(r.percent), "amount": str(amount),
                      **{tag: said.text(tag) for tag in SUPPORTED}})
    return found


def _received(order, line) -> datetime | None:
    """When a line reached the customer: its own parcel's signing or delivery, else the order's."""
    own = getattr(line, "signed_at", None) or getattr(line, "delivered_at", None)
    return own or order.signed_at or order.delivered_at


def _repairs(session: Session, line_ids: set[int]) -> list[tuple[int, str | None]]:
    """CN12: the completed repairs within the warranty of these order lines, as (order line, serial number).
    A repair that was carried out counts whether or not it held: the request itself says the fault is back."""
    if not line_ids:
        return []
    return list(session.execute(select(RepairOrder.order_line_id, RepairOrder.serial_number).where(
        RepairOrder.order_line_id.in_(line_ids), RepairOrder.in_warranty.is_(True),
        RepairOrder.status.in_(("repaired", "failed")))).all())


def _repairs_of(repairs: list[tuple[int, str | None]], r: Requested) -> int:
    """The unit's repairs: by serial number when the request names one, else the line's (one unit per line
    is the common case; a line of several units without serial numbers counts them together)."""
    mine = [serial for line_id, serial in repairs if line_id == r.line.id]
    if r.serial_number:
        return sum(1 for serial in mine if serial == r.serial_number)
    return len(mine)


def _working_day(session: Session, merchant_id: int):
    """The merchant's business calendar (SLA settings) as a day predicate."""
    return sla_settings.calendar_of(sla_settings.for_merchant(session, merchant_id)).is_working_day


def _goods_kept(order_lines, currency: str, returned: dict[int, int]) -> Decimal | None:
    """What the order's paid goods (gifts excluded) are worth without the units refund cases already claim."""
    if not order_lines:
        return None
    kept = Decimal(0)
    for line in order_lines:
        if line.gift or not line.quantity:
            continue
        left = max(line.quantity - int(returned.get(line.id, 0)), 0)
        kept += from_minor(line.paid_amount, currency) * left / line.quantity
    return kept


def _categories(session: Session, merchant_id: int, order_id: int) -> dict[str, CategoryRow]:
    """The merchant's categories of the order's lines (by the order: an IN list of codes would be compiled anew
    for every request)."""
    rows = prepared_run(session.connection(), _CATEGORIES, {"merchant_id": merchant_id, "order_id": order_id})
    return {row.code: row for row in rows}


_REFUND_CLAIMS = (select(CaseLineRow.order_line_id, func.sum(CaseLineRow.quantity))
                  .join(CaseRow, CaseRow.id == CaseLineRow.case_id)
                  .where(CaseRow.order_id == bindparam("order_id"), CaseRow.holds_quantity.is_(True),
                         CaseRow.type.in_(REFUND_TYPES))
                  .group_by(CaseLineRow.order_line_id))
_RECENT_REFUNDS = select(func.count()).select_from(CaseRow).where(
    CaseRow.customer_id == bindparam("customer_id"), CaseRow.type.in_(REFUND_TYPES),
    CaseRow.created_at >= bindparam("since"))
_CATEGORIES = prepared(select(CategoryRow.code, CategoryRow.attributes).where(
    CategoryRow.merchant_id == bindparam("merchant_id"),
    CategoryRow.code.in_(select(OrderLineRow.category).where(OrderLineRow.order_id == bindparam("order_id")))))


def category_of(code: str | None, row) -> tuple[Category, frozenset[str]]:
    """The engine's Category from the category row's `attributes` (see docs/policy.md); tags for rules."""
    attrs = (row.attributes or {}) if row is not None else {}
    flags = {name: attrs.get(name) is True for name in BOOL_ATTRIBUTES}
    months = attrs.get("warranty_months")
    checklist = attrs.get("checklist")
    tags = attrs.get("tags")
    return (Category(code=code or "", warranty_months=months if isinstance(months, int) and months > 0 else 0,
                     checklist=tuple(str(x) for x in checklist) if isinstance(checklist, list) else (), **flags),
            frozenset(str(x) for x in tags) if isinstance(tags, list) else frozenset())


def line_request(order, r: Requested, case_type: str, reason: str, fault: str, category: Category,
                 tags: frozenset[str], customer: Customer, gifts: tuple[Gift, ...] = (),
                 methods: frozenset[str] = frozenset(), recent_refunds: int = 0,
                 goods_kept: Decimal | None = None) -> LineRequest:
    """The engine's view of one requested line, from the order's and the line's recorded facts; `goods_kept` is
    what the buyer still keeps before this line goes back (CN6), the order's goods total if not given."""
    currency, line = order.currency, r.line
    unit = from_minor(line.unit_price, currency)
    paid = None
    if line.quantity:
        paid = from_minor(line.paid_amount, currency) * r.quantity / line.quantity
    threshold = order.free_shipping_threshold
    return LineRequest(
        case_type=case_type, reason_code=reason, fault=fault, category=category, sku=line.sku, currency=currency,
        unit_price=unit, quantity=r.quantity, customer=customer,
        ordered_at=order.ordered_at or order.imported_at, line_amount=paid, tags=tags, paid_at=order.paid_at,
        shipped_at=order.shipped_at, **_times(order, line),
        opened=r.opened, used=r.used, confirmed_at_purchase=bool(line.final_sale_confirmed),
        shipping_insurance=bool(order.shipping_insurance),
        order_goods_total=goods_kept if goods_kept is not None else (
            from_minor(order.goods_total, currency) if order.goods_total else None),
        free_shipping_threshold=from_minor(threshold, currency) if threshold is not None else None,
        shipping_paid_by_merchant=(from_minor(order.shipping_cost, currency)
                                   if threshold is not None and order.shipping_cost else Decimal(0)),
        gifts=gifts, payment_methods=methods, recent_refunds=recent_refunds)


def _times(order, line) -> dict:
    """The line's own delivery / signing when its parcel recorded one (split deliveries), else the order's."""
    own_delivered, own_signed = getattr(line, "delivered_at", None), getattr(line, "signed_at", None)
    if own_delivered or own_signed:
        return {"delivered_at": own_delivered or own_signed, "signed_at": own_signed}
    return {"delivered_at": order.delivered_at, "signed_at": order.signed_at}


def decision_dict(d: Decision) -> dict:
    """A Decision as JSON: amounts as decimal strings, times ISO 8601, reasons in zh-CN and en."""
    return {
        "eligible": d.eligible,
        "outcomes": [o.value for o in d.outcomes],
        "return_required": d.return_required,
        "shipping_payer": d.shipping_payer.value,
        "insurance_covers": d.insurance_covers,
        "deductions": [{"kind": x.kind, "amount": str(x.amount), "rule": x.rule} for x in d.deductions],
        "refundable": str(d.refundable),
        "route": d.route.value,
        "authority_level": d.authority_level,
        "deadlines": [{"kind": x.kind, "rule": x.rule, "anchor": x.anchor.value,
                       "period_seconds": int(x.period.total_seconds()) if x.period is not None else None,
                       "at": x.at} for x in d.deadlines],
        "reasons": [{"rule": c.rule, "source": c.source, **{tag: c.text(tag) for tag in SUPPORTED}}
                    for c in d.reasons],
        "rule_ids": list(d.rule_ids),
        "checklist": list(d.checklist),
        "compensation": str(d.compensation) if d.compensation else "0",
        "refund_on_dispatch": d.refund_on_dispatch,
    }
