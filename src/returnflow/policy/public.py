"""The merchant's public return policy, written out of the compiled policy itself.

Every number a customer reads here (window, who pays shipping, fees, limits, clocks, exclusions, holiday windows)
is taken from the same `Policy` object the engine decides with, so the page can never promise something the
engine does not do. Each paragraph names the rule it states and that rule's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from .loader import Policy
from .texts import BUILTIN, MERCHANT

LANGS = ("zh-CN", "en")


@dataclass(slots=True)
class Item:
    rule: str
    source: str
    text: dict[str, str]  # language -> sentence


@dataclass(slots=True)
class Section:
    key: str
    title: dict[str, str]
    items: list[Item] = field(default_factory=list)


def _span(period: timedelta) -> tuple[str, str]:
    """A clock in words: (zh, en)."""
    hours = int(period.total_seconds() // 3600)
    if hours and hours % 24 == 0:
        days = hours // 24
        return f"{days} 天", f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} 小时", f"{hours} hour{'s' if hours != 1 else ''}"


def _amount(value: Decimal, currency: str) -> str:
    return f"{value.normalize():f} {currency}" if value == value.to_integral() else f"{value:f} {currency}"


COUNTED = {  # counted_from -> (zh, en)
    "signing": ("自签收次日起", "from the day after you sign for the parcel"),
    "delivery": ("自收到商品（实际占有）起", "from the day you (or someone you name) receive the goods"),
    "shipment": ("自发货之日起", "from the day the order is shipped"),
    "order": ("自下单之日起", "from the day you place the order"),
}
ANCHORS = {  # clock anchor -> (zh, en)
    "request": ("自您提交申请起", "from your request"),
    "agreement": ("自我们同意退货起", "from our agreement to the return"),
    "return_dispatched": ("自您寄出退货起", "from when you send the return"),
    "return_received": ("自我们收到退货起", "from when we receive the returned goods"),
    "rejection": ("自申请被驳回起", "from a rejection"),
    "repair_start": ("自开始维修起", "from the start of the repair"),
    "order": ("自下单起", "from the order"),
}
CLOCK_ANCHOR = {"unshipped_refund": "request", "in_transit_refund": "request", "shipped_response": "request",
                "virtual_response": "request", "customer_ship": "agreement",
                "receipt_confirmation": "return_dispatched", "refund": "return_received", "appeal": "rejection",
                "price_protection": "order", "repair": "repair_start"}
CLOCK_TEXT = {  # clock -> (zh, en) with {span} and {anchor}
    "unshipped_refund": ("订单未发货时申请退款，我们在 {span}内处理，逾期系统自动退款。",
                         "If you ask for a refund before we ship, we answer within {span}; if we do not, the "
                         "refund is approved automatically."),
    "in_transit_refund": ("已发货未收到时申请退款，我们在 {span}内处理，逾期自动同意。",
                          "If you ask for a refund while the parcel is on its way, we answer within {span}; "
                          "if we do not, it is approved automatically."),
    "shipped_response": ("收货后的退换货申请，我们在 {span}内答复，逾期自动同意。",
                         "We answer a return or exchange request within {span}; if we do not, it is approved "
                         "automatically."),
    "virtual_response": ("虚拟商品的申请，我们在 {span}内答复。", "For virtual goods we answer within {span}."),
    "customer_ship": ("{anchor} {span}内，请寄出退货；逾期申请关闭。",
                      "Please send the return within {span} {anchor}; after that the request closes."),
    "receipt_confirmation": ("{anchor} {span}内，我们确认收货；逾期自动退款。",
                             "We confirm the parcel's arrival within {span} {anchor}; if we do not, the refund "
                             "is made automatically."),
    "refund": ("{anchor} {span}内完成退款。", "The refund is made within {span} {anchor}."),
    "appeal": ("申请被驳回后，您可在 {span}内修改申请或申请平台介入。",
               "After a rejection you have {span} to revise the request or ask the platform to step in."),
    "price_protection": ("价格保护：下单后 {span}内降价，可申请退还差价。",
                         "Price protection: if the price drops within {span} of your order, we refund the "
                         "difference."),
    "repair": ("维修在 {span}内完成。", "A repair is completed within {span}."),
}
STATUTORY_EXCLUSIONS = {
    "cn": ("CN2", "定制商品、鲜活易腐商品、已拆封的音像制品/计算机软件等数字化商品、已交付的报纸期刊，不适用七日无理由退货。",
           "Custom-made goods, fresh or perishable goods, audio-visual products and software you have unsealed, and "
           "delivered newspapers and periodicals cannot be returned without a reason."),
    "eu": ("EU8", "按客户要求定制的商品、易腐商品、拆封后不宜退回的卫生密封商品、已拆封的音像制品或软件、报刊等不适用撤回权。",
           "The right of withdrawal does not cover goods made to your specification, perishable goods, "
           "hygiene-sealed goods you have unsealed, unsealed audio-video recordings or software, and newspapers "
           "or periodicals."),
}


def _source(policy: Policy, rule: str) -> str:
    found = policy.citations.get(rule) or BUILTIN.get(rule)
    source = found[0] if found else MERCHANT
    return f"{source} {policy.id}" if source == MERCHANT else source


def _selectors(rule) -> tuple[str, str]:
    parts_zh, parts_en = [], []
    if rule.skus:
        parts_zh.append("商品 " + "、".join(sorted(rule.skus)))
        parts_en.append("items " + ", ".join(sorted(rule.skus)))
    if rule.categories:
        parts_zh.append("品类 " + "、".join(sorted(rule.categories)))
        parts_en.append("categories " + ", ".join(sorted(rule.categories)))
    if rule.tags:
        parts_zh.append("标签 " + "、".join(sorted(rule.tags)))
        parts_en.append("items tagged " + ", ".join(sorted(rule.tags)))
    if not parts_zh:
        return "全部商品", "all items"
    return "；".join(parts_zh), "; ".join(parts_en)


CONDITION_WORDS = {"unopened": ("未拆封", "unopened"), "opened": ("已拆封", "opened"),
                   "used": ("已使用", "used")}


def _fee_when(rule) -> tuple[str, str]:
    """A fee rule's conditions and grades in words ("" when it names none)."""
    zh, en = [], []
    if rule.conditions:
        names = [CONDITION_WORDS[c] for c in sorted(rule.conditions)]
        zh.append("、".join(n[0] for n in names))
        en.append(" or ".join(n[1] for n in names))
    if rule.grades:
        zh.append("质检等级 " + "、".join(sorted(rule.grades)))
        en.append("inspection grade " + " or ".join(sorted(rule.grades)))
    return ("（" + "，".join(zh) + "）" if zh else "", " (" + ", ".join(en) + ")" if en else "")


def sections(policy: Policy) -> list[Section]:
    """The policy in plain words, section by section, in zh-CN and en."""
    cur = policy.currency
    out: list[Section] = []

    # 1. The no-reason window.
    s = Section("window", {"zh-CN": "无理由退货", "en": "Returns for any reason"})
    zh_from, en_from = COUNTED.get(policy.counted_from, COUNTED["signing"])
    if policy.window_days > 0:
        exch_zh = "，也可换货" if policy.no_reason_exchange else ""
        exch_en = " or exchange" if policy.no_reason_exchange else ""
        s.items.append(Item(policy.window_rule, _source(policy, policy.window_rule), {
            "zh-CN": f"{zh_from} {policy.window_days} 天内，可无理由申请退货{exch_zh}。",
            "en": f"You may return{exch_en} without giving a reason within {policy.window_days} days {en_from}."}))
    else:
        s.items.append(Item(policy.window_rule, _source(policy, policy.window_rule), {
            "zh-CN": "本店不提供无理由退货。", "en": "This shop does not offer returns without a reason."}))
    if policy.extend_to_business_day:
        s.items.append(Item("M.business_day", _source(policy, "M.business_day"), {
            "zh-CN": "退货期限的最后一天如为休息日或法定节假日，顺延至下一个工作日。",
            "en": "If the last day of the window is a weekend or public holiday, it runs to the next business "
                  "day."}))
    if policy.missing_info_months:
        s.items.append(Item("EU2", _source(policy, "EU2"), {
            "zh-CN": f"如我们未告知您撤回权，期限延长 {policy.missing_info_months} 个月。",
            "en": f"If we did not tell you about this right, the period is extended by {policy.missing_info_months} "
                  "months."}))
    for rule in policy.rules:
        if rule.kind == "window":
            zh_sel, en_sel = _selectors(rule)
            s.items.append(Item(rule.id, _source(policy, rule.id), {
                "zh-CN": rule.zh or f"{zh_sel}：可在 {rule.days} 天内退货。",
                "en": rule.en or f"{en_sel[0].upper() + en_sel[1:]}: returns within {rule.days} days."}))
        elif rule.kind == "holiday_window":
            zh_sel, en_sel = _selectors(rule)
            s.items.append(Item(rule.id, _source(policy, rule.id), {
                "zh-CN": rule.zh or f"{rule.ordered_from} 至 {rule.ordered_to} 期间下单的{zh_sel}，可退货至 "
                                    f"{rule.return_until}。",
                "en": rule.en or f"{en_sel[0].upper() + en_sel[1:]} ordered from {rule.ordered_from} to "
                                 f"{rule.ordered_to} can be returned until {rule.return_until}."}))
    out.append(s)

    # 2. What cannot be returned without a reason, and the condition the goods must be in.
    s = Section("exclusions", {"zh-CN": "不适用无理由退货的商品", "en": "What cannot be returned without a reason"})
    statutory = STATUTORY_EXCLUSIONS.get(policy.law)
    if statutory:
        rule, zh, en = statutory
        s.items.append(Item(rule, _source(policy, rule), {"zh-CN": zh, "en": en}))
    if policy.law == "cn":
        s.items.append(Item("CN3", _source(policy, "CN3"), {
            "zh-CN": "拆封后影响安全健康或价值明显贬损的商品，仅当您下单时已确认不退货时才不适用。",
            "en": "Goods whose unsealing affects safety or health, or whose value drops sharply once tried, are "
                  "excluded only if you confirmed this when ordering."}))
        s.items.append(Item("CN4", _source(policy, "CN4"), {
            "zh-CN": "退回的商品应保持完好：可以为查验而拆开包装或合理试用，但商品、配件、标签须齐全。",
            "en": "Returned goods must be in good condition: opening to inspect and reasonable testing are fine, but "
                  "the item, its accessories and labels must be complete."}))
    elif policy.law == "eu":
        s.items.append(Item("EU7", _source(policy, "EU7"), {
            "zh-CN": "您只需对超出查验商品性质、特性和功能所必需的使用造成的贬值负责。",
            "en": "You are only liable for loss of value caused by handling beyond what is needed to check the "
                  "goods' nature, characteristics and functioning."}))
    for rule in policy.rules:
        if rule.kind == "final_sale":
            zh_sel, en_sel = _selectors(rule)
            s.items.append(Item(rule.id, _source(policy, rule.basis or rule.id), {
                "zh-CN": rule.zh or f"{zh_sel}：下单时已确认不支持无理由退货（质量问题除外）。",
                "en": rule.en or f"{en_sel[0].upper() + en_sel[1:]}: final sale, confirmed at checkout "
                                 "(faulty goods excepted)."}))
    if policy.block_skus:
        s.items.append(Item("M.block_sku", _source(policy, "M.block_sku"), {
            "zh-CN": "以下商品的售后申请由人工审核：" + "、".join(sorted(policy.block_skus)) + "。",
            "en": "Requests for these items are reviewed by a person: " + ", ".join(sorted(policy.block_skus))
                  + "."}))
    out.append(s)

    # 3. Faulty goods.
    s = Section("defects", {"zh-CN": "质量问题", "en": "Faulty goods"})
    rule = policy.defect_rule
    later = policy.defect_exchange_days > policy.defect_refund_days
    s.items.append(Item(rule, _source(policy, rule), {
        "zh-CN": f"收货后 {policy.defect_refund_days} 天内出现质量问题，可选择退货、换货或维修；"
                 + (f"{policy.defect_exchange_days} 天内可换货或维修；" if later else "")
                 + "此后在商品保修期内可维修。质量问题的运费由我们承担。",
        "en": f"If an item is faulty within {policy.defect_refund_days} days of delivery you may choose a refund, "
              "an exchange or a repair; "
              + (f"within {policy.defect_exchange_days} days an exchange or a repair; " if later else "")
              + "after that, a repair within the item's warranty. We pay the shipping for faulty goods."}))
    if policy.law == "cn":
        s.items.append(Item("CN12", _source(policy, "CN12"), {
            "zh-CN": "保修期内维修两次仍不能正常使用的，可换同型号商品或退货。",
            "en": "If an item still fails after two repairs within the warranty, you may have it exchanged for the "
                  "same model or return it."}))
    out.append(s)

    # 4. Shipping and what may be deducted.
    s = Section("shipping", {"zh-CN": "退货运费与扣减", "en": "Return shipping and deductions"})
    customer_pays = policy.no_reason_payer == "customer"
    rule = {"cn": "CN6", "eu": "EU6"}.get(policy.law, "M.shipping") if customer_pays else "M.shipping"
    s.items.append(Item(rule, _source(policy, rule), {
        "zh-CN": "无理由退货的寄回运费由" + ("您" if customer_pays else "我们") + "承担。",
        "en": "For a return without a reason, " + ("you pay" if customer_pays else "we pay") + " the return "
              "shipping."}))
    if customer_pays and policy.insurance_covers:
        s.items.append(Item("P2.insurance", _source(policy, "P2.insurance"), {
            "zh-CN": "订单含运费险的，由运费险赔付您的退货运费。",
            "en": "If your order has return-shipping insurance, it pays your return shipping."}))
    if policy.deduct_free_shipping:
        s.items.append(Item("CN6", _source(policy, "CN6"), {
            "zh-CN": "如部分退货使订单不再满足包邮条件，将从退款中扣除原订单我们承担的运费。",
            "en": "If a partial return takes the order below the free-shipping threshold, the shipping we paid for "
                  "the order is deducted from the refund."}))
    if policy.restocking_percent > 0:
        s.items.append(Item("M.restocking_fee", _source(policy, "M.restocking_fee"), {
            "zh-CN": f"无理由退货收取商品金额 {policy.restocking_percent.normalize():f}% 的重新上架费。",
            "en": f"A restocking fee of {policy.restocking_percent.normalize():f}% of the item's price applies to "
                  "returns without a reason."}))
    for r in policy.rules:
        if r.kind == "restocking_fee":
            zh_sel, en_sel = _selectors(r)
            when_zh, when_en = _fee_when(r)
            s.items.append(Item(r.id, _source(policy, r.id), {
                "zh-CN": r.zh or f"{zh_sel}{when_zh}：重新上架费 {r.percent.normalize():f}%。",
                "en": r.en or f"{en_sel[0].upper() + en_sel[1:]}{when_en}: restocking fee "
                              f"{r.percent.normalize():f}%."}))
    if policy.law == "cn":
        s.items.append(Item("CN10", _source(policy, "CN10"), {
            "zh-CN": "赠品应随商品一并退回；未退回的按标示价格从退款中扣除。",
            "en": "Gifts come back with the item; a gift that is not returned is deducted at its marked price."}))
    if policy.keep_item_max is not None and policy.keep_item_max > 0:
        s.items.append(Item("M.keep_item", _source(policy, "M.keep_item"), {
            "zh-CN": f"金额不超过 {_amount(policy.keep_item_max, cur)} 的商品无需寄回，直接退款。",
            "en": f"Items worth up to {_amount(policy.keep_item_max, cur)} need not be sent back: you keep them and "
                  "get the refund."}))
    for r in policy.rules:
        if r.kind == "keep_item":
            zh_sel, en_sel = _selectors(r)
            s.items.append(Item(r.id, _source(policy, r.id), {
                "zh-CN": r.zh or f"{zh_sel}：金额不超过 {_amount(r.max_amount, cur)} 的无需寄回。",
                "en": r.en or f"{en_sel[0].upper() + en_sel[1:]}: no need to send back up to "
                              f"{_amount(r.max_amount, cur)}."}))
    out.append(s)

    # 5. Refunds.
    s = Section("refunds", {"zh-CN": "退款", "en": "Refunds"})
    if policy.law == "cn":
        s.items.append(Item("CN9", _source(policy, "CN9"), {
            "zh-CN": "退款原路退回；组合支付按各支付方式分别退回；积分、优惠券按原形式退回。其他方式须经您同意。",
            "en": "Refunds go back the way you paid; split payments go back to each method; points and coupons come "
                  "back as points and coupons. Any other way needs your consent."}))
    elif policy.law == "eu":
        s.items.append(Item("EU4", _source(policy, "EU4"), {
            "zh-CN": "退款包括标准运费，使用您原来的付款方式，不收取任何费用。",
            "en": "The refund includes standard delivery, goes back by the means you paid with, and costs you "
                  "nothing."}))
        s.items.append(Item("EU5", _source(policy, "EU5"), {
            "zh-CN": "我们可在收到退货或您提供寄出凭证之前暂缓退款。",
            "en": "We may withhold the refund until we have the goods back or you have shown proof of sending "
                  "them."}))
    if policy.instant_refund_max is not None:
        s.items.append(Item(policy.instant_refund_rule, _source(policy, policy.instant_refund_rule), {
            "zh-CN": f"金额不超过 {_amount(policy.instant_refund_max, cur)} 的无理由退货，寄出后即退款。",
            "en": f"Returns without a reason worth up to {_amount(policy.instant_refund_max, cur)} are refunded as "
                  "soon as you hand the parcel to the carrier."}))
    out.append(s)

    # 6. Every clock.
    s = Section("clocks", {"zh-CN": "处理时限", "en": "How long each step takes"})
    for name, clock in policy.clocks.items():
        texts = CLOCK_TEXT.get(name)
        if texts is None:
            continue
        span_zh, span_en = _span(clock.period)
        anchor_zh, anchor_en = ANCHORS[clock.anchor or CLOCK_ANCHOR[name]]
        s.items.append(Item(clock.rule, _source(policy, clock.rule), {
            "zh-CN": texts[0].format(span=span_zh, anchor=anchor_zh),
            "en": texts[1].format(span=span_en, anchor=anchor_en)}))
    out.append(s)

    # 7. Who decides.
    s = Section("approval", {"zh-CN": "审核方式", "en": "How requests are decided"})
    if policy.auto_max > 0:
        s.items.append(Item("M.approval.auto", _source(policy, "M.approval.auto"), {
            "zh-CN": f"符合以上政策且金额不超过 {_amount(policy.auto_max, cur)} 的申请，系统即时自动同意；其余由客服审核。",
            "en": f"Requests within this policy worth up to {_amount(policy.auto_max, cur)} are approved at once, "
                  "automatically; others are reviewed by our staff."}))
    else:
        s.items.append(Item("M.approval.agent", _source(policy, "M.approval.agent"), {
            "zh-CN": "每一项申请都由客服审核。", "en": "Every request is reviewed by our staff."}))
    if policy.supervisor_above is not None:
        s.items.append(Item("M.approval.amount", _source(policy, "M.approval.amount"), {
            "zh-CN": f"金额超过 {_amount(policy.supervisor_above, cur)} 的申请由主管审批。",
            "en": f"Requests above {_amount(policy.supervisor_above, cur)} are approved by a supervisor."}))
    out.append(s)
    return [sec for sec in out if sec.items]


def public_dict(policy: Policy, *, merchant: str, merchant_name: str, version: int | None,
                published_at) -> dict:
    """The public policy as JSON, both languages side by side."""
    return {
        "merchant": merchant, "merchant_name": merchant_name, "policy_id": policy.id, "policy_name": policy.name,
        "version": version, "published_at": published_at, "currency": policy.currency,
        "timezone": str(policy.timezone),
        "sections": [{"key": sec.key, "title": sec.title,
                      "items": [{"rule": it.rule, "source": it.source, "text": it.text} for it in sec.items]}
                     for sec in sections(policy)],
    }
