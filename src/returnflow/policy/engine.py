"""The decision for one requested case line: eligibility, outcomes, shipping, deductions, route, deadlines, reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from ..money import quantize
from .clock import day_index, days_window_end, months_window_end
from .compiled import MerchantRule, Policy
from .model import (
    Anchor,
    Citation,
    Deadline,
    Decision,
    Deduction,
    LineRequest,
    Outcome,
    Payer,
    Route,
)
from .intake import admissible, to_business_day, window
from .texts import BUILTIN, MERCHANT

ZERO = Decimal(0)
HUNDRED = Decimal(100)
ROUTE_LEVEL = {Route.AUTO: 0, Route.AGENT: 1, Route.SUPERVISOR: 2}
CLOCK_ANCHOR = {"unshipped_refund": Anchor.REQUEST, "in_transit_refund": Anchor.REQUEST,
                "shipped_response": Anchor.REQUEST, "virtual_response": Anchor.REQUEST,
                "customer_ship": Anchor.AGREEMENT, "receipt_confirmation": Anchor.RETURN_DISPATCHED,
                "refund": Anchor.RETURN_RECEIVED, "appeal": Anchor.REJECTION, "price_protection": Anchor.ORDER,
                "repair": Anchor.REPAIR_START}


class _Draft:
    """What a decision collects while the rules run."""

    __slots__ = ("agent", "cited", "deadlines", "deductions", "now", "policy", "reasons", "req", "working_day")

    def __init__(self, policy: Policy, req: LineRequest, now: datetime,
                 working_day: Callable[[date], bool] | None = None) -> None:
        self.policy, self.req, self.now, self.working_day = policy, req, now, working_day
        self.reasons: list[Citation] = []
        self.cited: set[str] = set()
        self.deadlines: list[Deadline] = []
        self.deductions: list[Deduction] = []
        self.agent = False  # a person must look even if everything is in order

    def cite(self, rule: str, merchant: MerchantRule | None = None, **params: object) -> None:
        """Records that `rule` fired, with its source and a zh/en sentence; a rule is cited once per decision."""
        if rule in self.cited:
            return
        self.cited.add(rule)
        found = self.policy.citations.get(rule) or BUILTIN.get(rule)
        if merchant is not None:
            base = BUILTIN.get(f"M.{merchant.kind}", (MERCHANT, merchant.id, merchant.id))
            own = merchant.wording()
            source, zh, en = f"{MERCHANT} {self.policy.id}", own.get("zh-CN") or base[1], own.get("en") or base[2]
            wording = merchant.text
        elif found is not None:
            source, zh, en = found
        else:
            source, zh, en = f"{MERCHANT} {self.policy.id}", f"适用规则 {rule}。", f"Rule {rule} applies."
        self.reasons.append(Citation(rule, source, zh, en, tuple(params.items()),
                                     wording if merchant is not None else ()))

    def clock(self, name: str, kind: str, known: datetime | None = None) -> None:
        """Adds the deadline a policy clock sets; `known` is its anchor time when it already happened."""
        spec = self.policy.clocks.get(name)
        if spec is None:
            return
        anchor = Anchor(spec.anchor) if spec.anchor else CLOCK_ANCHOR[name]
        if anchor is Anchor.REQUEST:
            known = self.now
        elif anchor is Anchor.ORDER:
            known = self.req.ordered_at
        at = known + spec.period if known is not None else None
        self.deadlines.append(Deadline(kind, spec.rule, anchor, spec.period, at))
        self.cite(spec.rule, period=spec.period, at=at.astimezone(self.policy.timezone) if at else "")


def decide(policy: Policy, request: LineRequest, now: datetime,
           working_day: Callable[[date], bool] | None = None) -> Decision:
    """Decides one requested case line under `policy` as of `now` (timezone-aware); `working_day` tells the
    merchant's working days (its business calendar) for `[window] extend_to_business_day`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    d = _Draft(policy, request, now, working_day)
    if request.case_type in ("inquiry", "complaint"):
        d.cite("M.case_type")
        return _finish(d, False, (), False, Payer.NONE)
    if request.received_at is None and request.reason_code != "price_protection":
        return _before_receipt(d)
    if request.fault in ("merchant", "carrier"):
        return _merchant_fault(d)
    return _no_reason(d)


def _before_receipt(d: _Draft) -> Decision:
    """TB1/TB2/JD1: refund asked before the goods arrived; nothing to send back."""
    req = d.req
    if req.shipped_at is None:
        d.clock("unshipped_refund", "merchant_response")
        outcomes: tuple[Outcome, ...] = (Outcome.REFUND,)
    else:
        d.clock("in_transit_refund", "merchant_response")
        outcomes = (Outcome.REFUND, Outcome.RESHIP) if req.fault == "carrier" else (Outcome.REFUND,)
        if req.fault == "carrier":
            d.cite("M.not_received")
    _refund_rules(d, return_required=False)
    return _finish(d, True, outcomes, False, Payer.NONE)


def _merchant_fault(d: _Draft) -> Decision:
    """CN7/CN11/CN12 (or the merchant's defect setting): the merchant's or carrier's problem."""
    policy, req, tz = d.policy, d.req, d.policy.timezone
    if req.reason_code == "missing_item":
        d.cite("P2.missing")
        _refund_rules(d, return_required=False)
        return _finish(d, True, (Outcome.RESHIP, Outcome.REFUND), False, Payer.NONE)
    received = req.received_at
    day = day_index(received, d.now, tz)
    refund_end = days_window_end(received, policy.defect_refund_days, tz)
    exchange_end = days_window_end(received, policy.defect_exchange_days, tz)
    warranty = req.category.warranty_months
    warranty_end = months_window_end(received, warranty, tz) if warranty else None
    eligible = True
    if policy.law == "cn" and req.category.sanbao:
        if d.now <= refund_end:
            outcomes = (Outcome.REFUND, Outcome.EXCHANGE, Outcome.REPAIR)
        elif d.now <= exchange_end:
            outcomes = (Outcome.EXCHANGE, Outcome.REPAIR)
        elif warranty_end is not None and d.now <= warranty_end:
            outcomes = (Outcome.REPAIR,)
        else:
            outcomes, eligible = (), False
        if req.repairs_done >= 2 and eligible:
            outcomes = (Outcome.EXCHANGE, Outcome.REFUND)
            d.cite("CN12", repairs=req.repairs_done)
        d.cite("CN11", day=day, end=warranty_end or exchange_end)
        if not eligible and warranty_end is not None:
            d.cite("M.warranty_over", end=warranty_end)
        d.deadlines.append(Deadline("customer_window", "CN11", Anchor.SIGNING,
                                    at=warranty_end if warranty_end and warranty_end > exchange_end else exchange_end))
    else:
        rule = policy.defect_rule
        if d.now <= refund_end:
            outcomes = (Outcome.REFUND, Outcome.EXCHANGE, Outcome.REPAIR)
        elif warranty_end is None or d.now <= warranty_end:
            # CN7: after 7 days a return only "where the contract may be ended" - a person judges that
            outcomes = (Outcome.EXCHANGE, Outcome.REPAIR)
            d.agent = True
        else:
            outcomes, eligible = (), False
            d.cite("M.warranty_over", end=warranty_end)
        d.cite(rule, day=day, refund_days=policy.defect_refund_days, end=refund_end)
        d.deadlines.append(Deadline("customer_window", rule, Anchor.SIGNING, at=warranty_end or refund_end))
    if not eligible:
        d.clock("appeal", "customer_appeal")
        return _finish(d, False, (), False, Payer.NONE)
    if req.case_type == "refund_only":
        d.agent = True  # a refund without the goods back (partial refund) is negotiated by a person
        _refund_rules(d, return_required=False)
        return _finish(d, True, (Outcome.REFUND,), False, Payer.NONE)
    d.cite(policy.defect_rule if policy.law == "cn" and policy.defect_rule not in _ids(d) else "P2.fault")
    if Outcome.REPAIR in outcomes:
        d.clock("repair", "repair_completion")
    keep = _keep_item(d)
    if Outcome.REFUND in outcomes:
        _refund_rules(d, return_required=not keep)
        if policy.law == "cn":
            _gifts(d)
    _customer_clocks(d, not keep)
    return _finish(d, True, outcomes, not keep, Payer.NONE if keep else Payer.MERCHANT)


def _no_reason(d: _Draft) -> Decision:
    """CN1-CN6, CN10 / EU1-EU8 / the merchant's window: the customer's own reasons."""
    policy, req = d.policy, d.req
    if req.reason_code == "price_protection":
        spec = policy.clocks.get("price_protection")
        if spec is None:
            d.cite("M.price_protection")
            return _finish(d, False, (), False, Payer.NONE)
        d.clock("price_protection", "customer_window")
        ok = d.now <= req.ordered_at + spec.period
        return _finish(d, ok, (Outcome.REFUND,) if ok else (), False, Payer.NONE)
    if not admissible(d):
        d.clock("appeal", "customer_appeal")
        return _finish(d, False, (), False, Payer.NONE)
    end, rule, merchant = window(d)
    d.cite(rule, merchant, end=end.astimezone(policy.timezone), days=policy.window_days)
    end = to_business_day(d, end)
    d.deadlines.append(Deadline("customer_window", rule, Anchor.SIGNING, at=end))
    if d.now > end:
        d.clock("appeal", "customer_appeal")
        return _finish(d, False, (), False, Payer.NONE)
    if policy.law == "eu":
        d.cite("EU3", at=d.now.astimezone(policy.timezone))  # the request itself is the withdrawal statement
    outcomes = (Outcome.REFUND, Outcome.EXCHANGE) if policy.no_reason_exchange else (Outcome.REFUND,)
    keep = _keep_item(d)
    payer = Payer.NONE if keep else (Payer.CUSTOMER if policy.no_reason_payer == "customer" else Payer.MERCHANT)
    if not keep:
        statutory = {"cn": "CN6", "eu": "EU6"}.get(policy.law)
        customer_pays = payer is Payer.CUSTOMER
        d.cite(statutory if statutory and customer_pays else "M.shipping",
               payer_zh="买家" if customer_pays else "商家", payer_en="you" if customer_pays else "us")
    _deductions(d)
    _refund_rules(d, return_required=not keep)
    if policy.law == "cn":
        _gifts(d)
    _customer_clocks(d, not keep)
    if policy.instant_refund_max is not None and not keep and req.amount <= policy.instant_refund_max \
            and req.customer.risk == "normal" and req.customer.id not in policy.block_customers \
            and _instant_allowed(d):
        d.cite(policy.instant_refund_rule, max=policy.instant_refund_max)
        d.deadlines = [x for x in d.deadlines if x.kind != "refund"]
        d.deadlines.append(Deadline("refund", policy.instant_refund_rule, Anchor.RETURN_DISPATCHED, timedelta(0)))
        return _finish(d, True, outcomes, True, payer, refund_on_dispatch=True)
    return _finish(d, True, outcomes, not keep, payer)


def _instant_allowed(d: _Draft) -> bool:
    """TB9: no refund on dispatch when the order was paid with red packets, coins or instalments, or when the
    buyer's recent refunds are too many; the ordinary refund clock applies instead."""
    policy, req = d.policy, d.req
    refused = sorted(req.payment_methods & policy.instant_refused_methods)
    if refused:
        d.cite(policy.instant_refusal_rule, why_en=f"paid with {', '.join(refused)}",
               why_zh=f"使用了 {'、'.join(refused)} 支付")
        return False
    limit = policy.instant_max_recent_refunds
    if limit is not None and req.recent_refunds > limit:
        d.cite(policy.instant_refusal_rule, why_en=f"{req.recent_refunds} refunds in the last 90 days",
               why_zh=f"近 90 天已申请退款 {req.recent_refunds} 次")
        return False
    return True


def _keep_item(d: _Draft) -> bool:
    """Green returns: under a value the customer keeps the item."""
    policy, req = d.policy, d.req
    rules = policy.index["keep_item"].matching(req.sku, req.tags, req.category.code)
    if rules:
        rule = rules[0]
        if req.amount <= rule.max_amount:
            d.cite(rule.id, rule, max=rule.max_amount)
            return True
        return False
    if policy.keep_item_max is not None and req.amount <= policy.keep_item_max:
        d.cite("M.keep_item", max=policy.keep_item_max)
        return True
    return False


def _deductions(d: _Draft) -> None:
    """Restocking fee and the free-shipping refund lost (CN6)."""
    policy, req = d.policy, d.req
    rules = [r for r in policy.index["restocking_fee"].matching(req.sku, req.tags, req.category.code)
             if r.fits(req.condition, req.grade)]
    percent, rule = (rules[0].percent, rules[0]) if rules else (policy.restocking_percent, None)
    if percent > 0:
        fee = quantize(req.amount * percent / HUNDRED, req.currency)
        d.deductions.append(Deduction("restocking_fee", fee, rule.id if rule else "M.restocking_fee"))
        d.cite(rule.id if rule else "M.restocking_fee", rule, percent=percent, amount=fee)
    total, threshold = req.order_goods_total, req.free_shipping_threshold
    if policy.deduct_free_shipping and total is not None and threshold is not None \
            and req.shipping_paid_by_merchant > 0 and total >= threshold > total - req.amount:
        d.deductions.append(Deduction("free_shipping", req.shipping_paid_by_merchant, "CN6"))
        if "CN6" not in _ids(d):
            d.cite("CN6")
        d.cite("CN6.threshold", amount=req.shipping_paid_by_merchant, threshold=threshold)


def _gifts(d: _Draft) -> None:
    """CN10: a gift that does not come back is charged at its marked price."""
    unreturned = sum((g.marked_price for g in d.req.gifts if not g.returned), ZERO)
    if unreturned > 0:
        d.deductions.append(Deduction("gift", unreturned, "CN10"))
        d.cite("CN10", amount=unreturned)


def _refund_rules(d: _Draft, *, return_required: bool) -> None:
    """Refund method and deadline (CN8/CN9, EU4/EU5, or the merchant's clock)."""
    spec = d.policy.clocks.get("refund")
    if spec is not None:
        anchor = Anchor(spec.anchor) if spec.anchor else Anchor.RETURN_RECEIVED
        if not return_required and anchor is Anchor.RETURN_RECEIVED:
            anchor = Anchor.AGREEMENT
        at = d.now + spec.period if anchor is Anchor.REQUEST else None
        d.deadlines.append(Deadline("refund", spec.rule, anchor, spec.period, at))
        d.cite(spec.rule, period=spec.period)
    if d.policy.law == "cn":
        d.cite("CN9")
    elif d.policy.law == "eu" and return_required:
        d.cite("EU5")


def _customer_clocks(d: _Draft, return_required: bool) -> None:
    d.clock("shipped_response" if not d.req.category.virtual or "virtual_response" not in d.policy.clocks
            else "virtual_response", "merchant_response")
    if return_required:
        d.clock("customer_ship", "customer_shipping")
        d.clock("receipt_confirmation", "receipt_confirmation")


def _ids(d: _Draft) -> set[str]:
    return d.cited


def _route(d: _Draft, eligible: bool) -> tuple[Route, int]:
    """Auto, agent or supervisor (审批权限分级), by amount, category, customer risk and lists."""
    policy, req = d.policy, d.req
    allowed = req.customer.id in policy.allow_customers or req.sku in policy.allow_skus
    route = Route.AGENT if (not eligible or d.agent or req.amount > policy.auto_max) else Route.AUTO
    if allowed and eligible and not d.agent:
        route = Route.AUTO
        d.cite("M.allow")
    level = [route]
    if policy.supervisor_above is not None and req.amount > policy.supervisor_above:
        level.append(Route.SUPERVISOR)
        d.cite("M.approval.amount", limit=policy.supervisor_above)
    if req.category.code in policy.supervisor_categories:
        level.append(Route.SUPERVISOR)
        d.cite("M.approval.category")
    if req.customer.risk == "high" and not allowed:
        level.append(Route(policy.high_risk_route))
        d.cite("M.approval.risk")
    if req.customer.id in policy.block_customers:
        level.append(Route(policy.blocked_route))
        d.cite("M.block_customer")
    if req.sku in policy.block_skus:
        level.append(Route(policy.blocked_route))
        d.cite("M.block_sku")
    if req.fraud_established:
        level.append(Route.SUPERVISOR)
    final = max(level, key=ROUTE_LEVEL.__getitem__)
    d.cite(f"M.approval.{'auto' if final is Route.AUTO else 'agent'}")
    return final, ROUTE_LEVEL[final]


def _finish(d: _Draft, eligible: bool, outcomes: tuple[Outcome, ...], return_required: bool, payer: Payer,
            *, refund_on_dispatch: bool = False) -> Decision:
    req, policy = d.req, d.policy
    amount = req.amount
    insured = False
    if payer is Payer.CUSTOMER and req.shipping_insurance and policy.insurance_covers:
        insured = True
        d.cite("P2.insurance")
    deductions = _capped(d.deductions, amount) if Outcome.REFUND in outcomes else ()
    compensation = ZERO
    if req.fraud_established and policy.law == "cn":
        compensation = max(amount * 3, Decimal(500)) if req.currency == "CNY" else amount * 3
        d.cite("CN14", amount=compensation)
    route, level = _route(d, eligible)
    refundable = amount - sum((x.amount for x in deductions), ZERO) if Outcome.REFUND in outcomes else ZERO
    return Decision(policy.id, eligible, outcomes, return_required, payer, insured, deductions, refundable,
                    route, level, tuple(d.deadlines), tuple(d.reasons), req.category.checklist, compensation,
                    refund_on_dispatch)


def _capped(deductions: list[Deduction], amount: Decimal) -> tuple[Deduction, ...]:
    """Deductions in order, never more in total than the line's amount."""
    out, left = [], amount
    for item in deductions:
        take = min(item.amount, left)
        if take > 0:
            out.append(Deduction(item.kind, take, item.rule))
            left -= take
    return tuple(out)
