"""A no-reason request at intake: statutory exclusions and final sale, the condition the customer states (left
to inspection), and the window with its business-day extension."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .clock import days_window_end, end_of_day, months_window_end
from .compiled import MerchantRule

if TYPE_CHECKING:
    from .engine import _Draft as Draft

NO_REASON_EXCLUSIONS = {"cn": "CN2", "eu": "EU8"}


def admissible(d: Draft) -> bool:
    """Statutory exclusions (CN2/CN3/EU8) and merchant final-sale rules refuse at intake; the goods' condition
    (CN4/CN5, EU7) is only stated by the customer here and is established by inspection when the goods arrive."""
    policy, req, cat = d.policy, d.req, d.req.category
    law = policy.law
    # Digital content is "activated" when unsealed (on a medium) or started / downloaded (not on a medium).
    activated = (cat.digital or cat.virtual) and (req.opened or req.used)
    excluded = cat.custom_made or cat.perishable or cat.periodical
    if law == "cn":
        excluded = excluded or activated  # CN2: digital goods downloaded or unsealed by the consumer
    elif law == "eu":
        excluded = excluded or (cat.digital and activated) or (cat.hygiene_sealed and req.opened) \
            or (cat.inseparable and req.used)
        if cat.virtual and activated and not cat.digital:
            # EU8: digital content whose supply began is excluded only with the consumer's prior express consent
            # and acknowledgement (two separate ticks), which the order records as the purchase confirmation.
            if req.confirmed_at_purchase:
                excluded = True
            else:
                d.cite("EU8.unconfirmed")
    else:
        excluded = excluded or activated
    if excluded and law in NO_REASON_EXCLUSIONS:
        d.cite(NO_REASON_EXCLUSIONS[law])
        return False
    confirmed = req.confirmed_at_purchase
    if law == "cn" and cat.needs_confirmation:
        d.cite("CN3" if confirmed else "CN3.unconfirmed")
        if confirmed:
            return False
    for rule in policy.index["final_sale"].matching(req.sku, req.tags, cat.code):
        if law == "cn" and rule.basis == "CN3" and not confirmed:
            d.cite("CN3.unconfirmed")
            continue
        d.cite(rule.id, rule)
        if rule.basis:
            d.cite(rule.basis)
        return False
    if law == "cn":
        # Intake never refuses on a condition only inspection can establish: the customer's own flags say what
        # inspection will check on arrival (CN5: the one-time seal; CN4: use beyond testing).
        if cat.one_time_seal and req.opened:
            d.cite("CN5.on_arrival")
        if req.used:
            d.cite("CN4.on_arrival")
    elif law == "eu" and req.used:
        d.cite("EU7")
        d.agent = True
    return True


def window(d: Draft) -> tuple[datetime, str, MerchantRule | None]:
    """The latest of the statutory, the merchant's and any matching window or holiday rule."""
    policy, req, tz = d.policy, d.req, d.policy.timezone
    received = req.received_at
    if policy.law == "eu" and req.last_received_at is not None:
        received = max(received, req.last_received_at)  # EU1: split deliveries count from the last item
    candidates: list[tuple[datetime, str, MerchantRule | None]] = []
    if policy.statutory_days:
        statutory = days_window_end(received, policy.statutory_days, tz)
        candidates.append((statutory, policy.window_rule if policy.law != "none" else "M.window", None))
        if policy.law == "eu" and not req.withdrawal_info_given and policy.missing_info_months:
            candidates.append((months_window_end(statutory, policy.missing_info_months, tz), "EU2", None))
    anchor = {"order": req.ordered_at, "shipment": req.shipped_at, "delivery": req.delivered_at,
              "signing": req.signed_at}[policy.counted_from] or received
    if policy.law == "eu" and policy.counted_from in ("delivery", "signing"):
        anchor = received
    own_rule = policy.window_rule if policy.window_days == policy.statutory_days else "M.window"
    candidates.append((days_window_end(anchor, policy.window_days, tz), own_rule, None))
    for rule in policy.index["window"].matching(req.sku, req.tags, req.category.code):
        candidates.append((days_window_end(anchor, rule.days, tz), rule.id, rule))
    ordered = req.ordered_at.astimezone(tz).date()
    for rule in policy.index["holiday_window"].matching(req.sku, req.tags, req.category.code):
        if rule.ordered_from <= ordered <= rule.ordered_to:
            candidates.append((end_of_day(rule.return_until, tz), rule.id, rule))
    # latest end wins; on a tie the statutory rule is cited (it comes first)
    return max(candidates, key=lambda c: c[0])


def to_business_day(d: Draft, end: datetime) -> datetime:
    """`[window] extend_to_business_day`: a window ending on a weekend or public holiday of the merchant's
    calendar runs to the end of the next working day (cited, with both dates)."""
    if not d.policy.extend_to_business_day or d.working_day is None:
        return end
    tz = d.policy.timezone
    day = end.astimezone(tz).date()
    moved = day
    for _ in range(366):
        if d.working_day(moved):
            break
        moved += timedelta(days=1)
    if moved == day:
        return end
    extended = end_of_day(moved, tz)
    d.cite("M.business_day", was=day.isoformat(), end=extended)
    return extended
