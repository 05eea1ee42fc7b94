"""The merchant's public return policy, written out of the compiled policy itself.

Every number a customer reads here (window, who pays shipping, fees, limits, clocks, exclusions, holiday windows)
is taken from the same `Policy` object the engine decides with, so the page can never promise something the
engine does not do. Each paragraph names the rule it states and that rule's source.
"""

from __future__ import annotations

from ..texts.errors import N_
from .compiled import Policy
from .public_words import (ANCHORS, CLOCK_ANCHOR, CLOCK_TEXT, COUNTED, STATUTORY_EXCLUSIONS, Item, Section,
                           amount, cap, every, fee_when, item, join, own, selectors, source_of, span)


def sections(policy: Policy) -> list[Section]:
    """The policy in plain words, section by section, in every language of the desk."""
    cur = policy.currency
    out: list[Section] = []

    # 1. The no-reason window.
    s = Section("window", every(N_("Returns for any reason")))
    counted = every(COUNTED.get(policy.counted_from, COUNTED["signing"]))
    if policy.window_days > 0:
        s.items.append(item(policy, policy.window_rule, N_(
            "You may return or exchange without giving a reason within {days} days {counted_from}.")
            if policy.no_reason_exchange else N_("You may return without giving a reason within {days} days "
                                                  "{counted_from}."), days=policy.window_days, counted_from=counted))
    else:
        s.items.append(item(policy, policy.window_rule, N_("This shop does not offer returns without a reason.")))
    if policy.extend_to_business_day:
        s.items.append(item(policy, "M.business_day", N_(
            "If the last day of the window is a weekend or public holiday, it runs to the next business day.")))
    if policy.missing_info_months:
        s.items.append(item(policy, "EU2", N_("If we did not tell you about this right, the period is extended by "
                                              "{months} months."), months=policy.missing_info_months))
    for rule in policy.rules:
        if rule.kind == "window":
            s.items.append(Item(rule.id, source_of(policy, rule.id), own(rule, every(
                N_("{selection}: returns within {days} days."), selection=cap(selectors(rule)), days=rule.days))))
        elif rule.kind == "holiday_window":
            s.items.append(Item(rule.id, source_of(policy, rule.id), own(rule, every(
                N_("{selection} ordered from {start} to {end} can be returned until {until}."),
                selection=cap(selectors(rule)), start=rule.ordered_from, end=rule.ordered_to,
                until=rule.return_until))))
    out.append(s)

    # 2. What cannot be returned without a reason, and the condition the goods must be in.
    s = Section("exclusions", every(N_("What cannot be returned without a reason")))
    statutory = STATUTORY_EXCLUSIONS.get(policy.law)
    if statutory:
        s.items.append(item(policy, statutory[0], statutory[1]))
    if policy.law == "cn":
        s.items.append(item(policy, "CN3", N_(
            "Goods whose unsealing affects safety or health, or whose value drops sharply once tried, are excluded "
            "only if you confirmed this when ordering.")))
        s.items.append(item(policy, "CN4", N_(
            "Returned goods must be in good condition: opening to inspect and reasonable testing are fine, but the "
            "item, its accessories and labels must be complete.")))
    elif policy.law == "eu":
        s.items.append(item(policy, "EU7", N_(
            "You are only liable for loss of value caused by handling beyond what is needed to check the goods' "
            "nature, characteristics and functioning.")))
    for rule in policy.rules:
        if rule.kind == "final_sale":
            s.items.append(Item(rule.id, source_of(policy, rule.basis or rule.id), own(rule, every(
                N_("{selection}: final sale, confirmed at checkout (faulty goods excepted)."),
                selection=cap(selectors(rule))))))
    if policy.block_skus:
        s.items.append(item(policy, "M.block_sku", N_("Requests for these items are reviewed by a person: {items}."),
                            items=join(sorted(policy.block_skus))))
    out.append(s)

    # 3. Faulty goods.
    s = Section("defects", every(N_("Faulty goods")))
    if policy.defect_exchange_days > policy.defect_refund_days:
        s.items.append(item(policy, policy.defect_rule, N_(
            "If an item is faulty within {refund_days} days of delivery you may choose a refund, an exchange or a "
            "repair; within {exchange_days} days an exchange or a repair; after that, a repair within the item's "
            "warranty. We pay the shipping for faulty goods."),
            refund_days=policy.defect_refund_days, exchange_days=policy.defect_exchange_days))
    else:
        s.items.append(item(policy, policy.defect_rule, N_(
            "If an item is faulty within {refund_days} days of delivery you may choose a refund, an exchange or a "
            "repair; after that, a repair within the item's warranty. We pay the shipping for faulty goods."),
            refund_days=policy.defect_refund_days))
    if policy.law == "cn":
        s.items.append(item(policy, "CN12", N_(
            "If an item still fails after two repairs within the warranty, you may have it exchanged for the same "
            "model or return it.")))
    out.append(s)

    # 4. Shipping and what may be deducted.
    s = Section("shipping", every(N_("Return shipping and deductions")))
    customer_pays = policy.no_reason_payer == "customer"
    rule = {"cn": "CN6", "eu": "EU6"}.get(policy.law, "M.shipping") if customer_pays else "M.shipping"
    s.items.append(item(policy, rule, N_("For a return without a reason, you pay the return shipping.")
                        if customer_pays else N_("For a return without a reason, we pay the return shipping.")))
    if customer_pays and policy.insurance_covers:
        s.items.append(item(policy, "P2.insurance", N_(
            "If your order has return-shipping insurance, it pays your return shipping.")))
    if policy.deduct_free_shipping:
        s.items.append(item(policy, "CN6", N_(
            "If a partial return takes the order below the free-shipping threshold, the shipping we paid for the "
            "order is deducted from the refund.")))
    if policy.restocking_percent > 0:
        s.items.append(item(policy, "M.restocking_fee", N_(
            "A restocking fee of {percent}% of the item's price applies to returns without a reason."),
            percent=f"{policy.restocking_percent.normalize():f}"))
    for r in policy.rules:
        if r.kind == "restocking_fee":
            s.items.append(Item(r.id, source_of(policy, r.id), own(r, every(
                N_("{selection}{when}: restocking fee {percent}%."), selection=cap(selectors(r)),
                when=fee_when(r), percent=f"{r.percent.normalize():f}"))))
    if policy.law == "cn":
        s.items.append(item(policy, "CN10", N_(
            "Gifts come back with the item; a gift that is not returned is deducted at its marked price.")))
    if policy.keep_item_max is not None and policy.keep_item_max > 0:
        s.items.append(item(policy, "M.keep_item", N_(
            "Items worth up to {amount} need not be sent back: you keep them and get the refund."),
            amount=amount(policy.keep_item_max, cur)))
    for r in policy.rules:
        if r.kind == "keep_item":
            s.items.append(Item(r.id, source_of(policy, r.id), own(r, every(
                N_("{selection}: no need to send back up to {amount}."), selection=cap(selectors(r)),
                amount=amount(r.max_amount, cur)))))
    out.append(s)

    # 5. Refunds.
    s = Section("refunds", every(N_("Refunds")))
    if policy.law == "cn":
        s.items.append(item(policy, "CN9", N_(
            "Refunds go back the way you paid; split payments go back to each method; points and coupons come "
            "back as points and coupons. Any other way needs your consent.")))
    elif policy.law == "eu":
        s.items.append(item(policy, "EU4", N_(
            "The refund includes standard delivery, goes back by the means you paid with, and costs you nothing.")))
        s.items.append(item(policy, "EU5", N_(
            "We may withhold the refund until we have the goods back or you have shown proof of sending them.")))
    if policy.instant_refund_max is not None:
        s.items.append(item(policy, policy.instant_refund_rule, N_(
            "Returns without a reason worth up to {amount} are refunded as soon as you hand the parcel to the "
            "carrier."), amount=amount(policy.instant_refund_max, cur)))
    out.append(s)

    # 6. Every clock.
    s = Section("clocks", every(N_("How long each step takes")))
    for name, clock in policy.clocks.items():
        text = CLOCK_TEXT.get(name)
        if text is None:
            continue
        s.items.append(item(policy, clock.rule, text, span=span(clock.period),
                            anchor=every(ANCHORS[clock.anchor or CLOCK_ANCHOR[name]])))
    out.append(s)

    # 7. Who decides.
    s = Section("approval", every(N_("How requests are decided")))
    if policy.auto_max > 0:
        s.items.append(item(policy, "M.approval.auto", N_(
            "Requests within this policy worth up to {amount} are approved at once, automatically; others are "
            "reviewed by our staff."), amount=amount(policy.auto_max, cur)))
    else:
        s.items.append(item(policy, "M.approval.agent", N_("Every request is reviewed by our staff.")))
    if policy.supervisor_above is not None:
        s.items.append(item(policy, "M.approval.amount", N_(
            "Requests above {amount} are approved by a supervisor."), amount=amount(policy.supervisor_above, cur)))
    out.append(s)
    return [sec for sec in out if sec.items]


def public_dict(policy: Policy, *, merchant: str, merchant_name: str, version: int | None,
                published_at) -> dict:
    """The public policy as JSON, every language of the desk side by side."""
    return {
        "merchant": merchant, "merchant_name": merchant_name, "policy_id": policy.id, "policy_name": policy.name,
        "version": version, "published_at": published_at, "currency": policy.currency,
        "timezone": str(policy.timezone),
        "sections": [{"key": sec.key, "title": sec.title,
                      "items": [{"rule": it.rule, "source": it.source, "text": it.text} for it in sec.items]}
                     for sec in sections(policy)],
    }
