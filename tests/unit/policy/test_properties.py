"""Properties of every decision: monotone in the window, deterministic, deductions within the line amount."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from returnflow.policy import Category, Customer, Gift, Policy, decide, load_policy

from .factory import line, policy, sh

PRESET_NAMES = ["cn-law", "taobao-current", "taobao-legacy", "jd-pop", "eu-crd", "rules", "longer", "green"]
REASONS = [("no_reason_7day", "customer"), ("changed_mind", "customer"), ("quality_issue", "merchant"),
           ("wrong_item", "merchant"), ("damaged_in_transit", "carrier"), ("missing_item", "merchant"),
           ("price_protection", "customer"), ("not_received", "carrier")]
CATEGORIES = [Category("apparel"), Category("custom", custom_made=True), Category("fresh", perishable=True),
              Category("software", digital=True), Category("tryable", needs_confirmation=True),
              Category("cosmetics", one_time_seal=True), Category("earrings", hygiene_sealed=True),
              Category("phone", sanbao=True, warranty_months=12), Category("electronics", warranty_months=24),
              Category("jewellery"), Category("e-card", virtual=True)]
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(20000), places=2)


@cache
def window_policy(days: int, counted_from: str) -> Policy:
    text = f'[policy]\nid = "w{days}"\nextends = "cn-law"\n[window]\ndays = {days}\ncounted_from = "{counted_from}"\n'
    return load_policy(text)


@st.composite
def requests(draw):
    reason, fault = draw(st.sampled_from(REASONS))
    signed = sh(1, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    received = draw(st.booleans())
    gifts = tuple(Gift(f"G{i}", draw(money), draw(st.booleans())) for i in range(draw(st.integers(0, 3))))
    quantity = draw(st.integers(1, 5))
    price = draw(money)
    total = price * quantity + draw(money)
    return line(
        case_type=draw(st.sampled_from(["return_refund", "refund_only", "exchange", "repair", "reship"])),
        reason_code=reason, fault=fault, category=draw(st.sampled_from(CATEGORIES)),
        unit_price=price, quantity=quantity, tags=frozenset(draw(st.sets(st.sampled_from(
            ["clearance", "vip", "socks", "sale"]), max_size=2))),
        customer=Customer(draw(st.sampled_from(["c1", "vip-1", "bad-1"])), draw(st.sampled_from(["normal", "high"]))),
        signed_at=signed if received else None, delivered_at=signed if received else None,
        shipped_at=sh(1, 0) if received or draw(st.booleans()) else None,
        opened=draw(st.booleans()), used=draw(st.booleans()), confirmed_at_purchase=draw(st.booleans()),
        shipping_insurance=draw(st.booleans()), gifts=gifts, order_goods_total=total,
        free_shipping_threshold=draw(st.one_of(st.none(), money)), shipping_paid_by_merchant=draw(money),
        repairs_done=draw(st.integers(0, 3)), withdrawal_info_given=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(short=st.integers(7, 60), extra=st.integers(0, 60), counted_from=st.sampled_from(
    ["order", "shipment", "delivery", "signing"]), hours_later=st.integers(0, 24 * 130), request=requests())
def test_a_longer_window_never_turns_an_eligible_line_ineligible(short, extra, counted_from, hours_later, request):
    now = sh(1, 0) + timedelta(hours=hours_later)
    before = decide(window_policy(short, counted_from), request, now)
    after = decide(window_policy(short + extra, counted_from), request, now)
    if before.eligible:
        assert after.eligible
        assert set(before.outcomes) <= set(after.outcomes)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(PRESET_NAMES), request=requests(), hours_later=st.integers(0, 24 * 400))
def test_decisions_are_deterministic(name, request, hours_later):
    now = sh(1, 0) + timedelta(hours=hours_later)
    first = decide(policy(name), request, now)
    assert decide(policy(name), request, now) == first
    assert decide(policy(name), line(**{f: getattr(request, f) for f in request.__slots__}), now) == first


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(PRESET_NAMES), request=requests(), hours_later=st.integers(0, 24 * 30))
def test_deductions_stay_between_zero_and_the_line_amount(name, request, hours_later):
    decision = decide(policy(name), request, sh(1, 0) + timedelta(hours=hours_later))
    assert all(d.amount > 0 for d in decision.deductions)
    assert decision.total_deductions <= request.amount
    assert Decimal(0) <= decision.refundable <= request.amount
    assert all(isinstance(d.amount, Decimal) for d in decision.deductions)
    if decision.eligible:
        assert decision.outcomes
    else:
        assert not decision.outcomes and not decision.deductions


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(PRESET_NAMES), request=requests(), hours_later=st.integers(0, 24 * 60))
def test_every_deadline_is_timezone_aware_and_every_reason_is_readable(name, request, hours_later):
    decision = decide(policy(name), request, sh(1, 0) + timedelta(hours=hours_later))
    for deadline in decision.deadlines:
        assert deadline.at is not None or deadline.period is not None
        if deadline.at is not None:
            assert deadline.at.tzinfo is not None and deadline.at.utcoffset() is not None
    assert decision.reasons
    for reason in decision.reasons:
        assert reason.source and reason.zh and reason.en and "{" not in reason.zh + reason.en
    assert len(set(decision.rule_ids)) == len(decision.rule_ids)


# Rules whose citation refuses a no-reason return, and the pairs that say opposite things about one line.
REFUSING = {"CN2", "CN3", "CN4", "CN5", "EU8"}
OPPOSITES = [("CN3", "CN3.unconfirmed"), ("EU8", "EU8.unconfirmed"), ("CN5", "CN5.on_arrival"),
             ("CN4", "CN4.on_arrival")]


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(PRESET_NAMES), request=requests(), hours_later=st.integers(0, 24 * 30))
def test_sentences_never_contradict_each_other(name, request, hours_later):
    decision = decide(policy(name), request, sh(1, 0) + timedelta(hours=hours_later))
    ids = set(decision.rule_ids)
    for one, other in OPPOSITES:
        assert not (one in ids and other in ids)
    if decision.eligible:
        assert not ids & REFUSING


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["cn-law", "taobao-current", "jd-pop"]), request=requests(),
       hours_later=st.integers(0, 24 * 30))
def test_what_only_inspection_can_establish_never_refuses_at_intake(name, request, hours_later):
    """CN4/CN5: the customer's own 'opened' / 'used' flags on physical goods never turn a line ineligible."""
    if request.category.digital or request.category.virtual:
        return  # CN2: activated digital content is excluded by the statement itself
    now = sh(1, 0) + timedelta(hours=hours_later)
    plain = decide(policy(name), line(**{**{f: getattr(request, f) for f in request.__slots__},
                                         "opened": False, "used": False}), now)
    flagged = decide(policy(name), request, now)
    assert flagged.eligible == plain.eligible


@cache
def business_day_policy(on: bool) -> Policy:
    return load_policy(f'[policy]\nid = "bd"\nextends = "cn-law"\n[window]\nextend_to_business_day = {str(on).lower()}\n')


@settings(max_examples=300, deadline=None)
@given(request=requests(), hours_later=st.integers(0, 24 * 30),
       closed=st.sets(st.integers(0, 60), max_size=20), weekend=st.sets(st.integers(1, 7), max_size=3))
def test_the_business_day_extension_lands_on_a_working_day_and_only_lengthens(request, hours_later, closed, weekend):
    """Whatever the calendar: the extended end is a working day, never before the plain end, and the line is
    eligible at least whenever it is without the option."""
    base = sh(1, 0).date()

    def working(day):
        return (day - base).days not in closed and day.isoweekday() not in weekend

    now = sh(1, 0) + timedelta(hours=hours_later)
    plain = decide(business_day_policy(True), request, now)  # no calendar given: nothing moves
    extended = decide(business_day_policy(True), request, now, working)
    before, after = plain.deadline("customer_window"), extended.deadline("customer_window")
    # with the option off the calendar changes nothing
    assert decide(business_day_policy(False), request, now, working).deadline("customer_window") == before
    if before is None or after is None or before.at is None:
        return
    assert after.at >= before.at
    if after.at != before.at:
        assert working(after.at.astimezone(business_day_policy(True).timezone).date())
        assert "M.business_day" in extended.rule_ids
    if plain.eligible:
        assert extended.eligible
