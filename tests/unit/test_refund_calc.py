"""Refund arithmetic: allocations add up exactly, partial refunds in any order never exceed what was paid."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from returnflow.refunds.calc import LineAsk, LineFacts, OrderFacts, OverRefund, Prior, allocate, quote


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_allocation_adds_up_exactly_and_stays_proportional(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    whole = sum(weights)
    if whole:
        for part, weight in zip(parts, weights):
            # each part is its exact quota rounded down or up, never further off
            assert abs(part * whole - total * weight) < whole


def test_allocation_of_a_discount_example():
    assert allocate(1000, [20000, 3550]) == [849, 151]
    assert allocate(1, [1, 1, 1]) == [1, 0, 0]
    assert allocate(0, []) == []


@st.composite
def orders(draw):
    n = draw(st.integers(1, 5))
    lines = []
    for i in range(n):
        qty = draw(st.integers(1, 6))
        unit = draw(st.integers(0, 100_000))
        line_discount = draw(st.integers(0, unit * qty))
        lines.append(LineFacts(i + 1, qty, unit * qty - line_discount))
    goods = sum(line.paid for line in lines)
    discount = draw(st.integers(0, goods))
    shipping = draw(st.integers(0, 2000))
    paid = goods - discount + shipping
    k = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, paid), min_size=k - 1, max_size=k - 1)))
    bounds = [0, *cuts, paid]
    methods = ["alipay", "points", "coupon"][:k]
    payments = tuple((m, bounds[i + 1] - bounds[i]) for i, m in enumerate(methods))
    return OrderFacts("CNY", tuple(lines), discount, shipping, paid, payments)


@settings(max_examples=300, deadline=None)
@given(orders(), st.data())
def test_partial_refunds_in_random_order_never_exceed_paid_and_a_full_return_refunds_exactly(order, data):
    nets = order.line_nets()
    assert sum(nets.values()) == sum(line.paid for line in order.lines) - min(order.discount,
                                                                              sum(line.paid for line in order.lines))
    units = {line.id: line.quantity for line in order.lines}
    prior_units: dict[int, int] = {}
    by_payment: dict[int, int] = {}
    shipping = total = 0
    refunded_per_line: dict[int, int] = {}
    # return every unit, a few at a time, across several "cases", in a random order, shipping on a random step
    while any(units.values()):
        line_id = data.draw(st.sampled_from([i for i, left in units.items() if left]))
        qty = data.draw(st.integers(1, units[line_id]))
        deduction = data.draw(st.integers(0, 3000))
        q = quote(order, Prior(dict(prior_units), shipping, total, dict(by_payment)),
                  [LineAsk(line_id, line_id, qty, (("restocking_fee", deduction, "r"),))],
                  refund_shipping=data.draw(st.booleans()))
        assert q.total == sum(a for _, _, a in q.payments) and q.total >= 0
        assert q.total == q.goods - q.deducted + q.shipping - q.capped - q.reduced
        units[line_id] -= qty
        prior_units[line_id] = prior_units.get(line_id, 0) + qty
        refunded_per_line[line_id] = refunded_per_line.get(line_id, 0) + q.lines[0].gross
        shipping += q.shipping
        total += q.total
        for i, _, amount in q.payments:
            by_payment[i] = by_payment.get(i, 0) + amount
        assert total <= order.paid_total
        assert all(by_payment.get(i, 0) <= paid for i, (_, paid) in enumerate(order.payments))
        assert all(refunded_per_line[i] <= nets[i] for i in refunded_per_line)
    # every unit back: each line's gross is exactly its net, no cent lost or invented
    assert refunded_per_line == {i: nets[i] for i in refunded_per_line}
    assert shipping <= order.shipping_fee


def test_more_units_than_left_is_refused():
    order = OrderFacts("CNY", (LineFacts(1, 2, 1000),), 0, 0, 1000, ())
    with pytest.raises(OverRefund):
        quote(order, Prior(units={1: 2}), [LineAsk(1, 1, 1)], refund_shipping=False)


def test_three_units_split_a_cent_so_the_whole_is_exact():
    order = OrderFacts("CNY", (LineFacts(1, 3, 1000),), 0, 0, 1000, ())
    first = quote(order, Prior(), [LineAsk(1, 1, 1)], refund_shipping=False).total
    second = quote(order, Prior(units={1: 1}, total=first), [LineAsk(1, 1, 1)], refund_shipping=False).total
    third = quote(order, Prior(units={1: 2}, total=first + second), [LineAsk(1, 1, 1)], refund_shipping=False).total
    assert (first, second, third) == (333, 333, 334)


def test_zero_decimal_and_three_decimal_currencies_stay_in_their_units():
    jpy = OrderFacts("JPY", (LineFacts(1, 3, 1000),), 100, 0, 900, ())
    assert quote(jpy, Prior(), [LineAsk(1, 1, 2)], refund_shipping=False).total == 600
    kwd = OrderFacts("KWD", (LineFacts(1, 7, 10_000),), 1, 0, 9_999, (("card", 9_000), ("points", 999)))
    q = quote(kwd, Prior(), [LineAsk(1, 1, 7)], refund_shipping=False)
    assert q.total == 9_999 and [a for _, _, a in q.payments] == [9_000, 999]


def test_policy_deductions_are_read_from_the_stored_decision_when_the_case_has_one():
    from types import SimpleNamespace

    from returnflow.refunds.quote import deductions_for

    # The shape assessment/apply.py stores: per requested line its order line and the decision's deductions.
    decision = {"policy": {"version": 2}, "lines": [{"order_line_id": 41, "decision": {"deductions": [
        {"kind": "restocking_fee", "amount": "15.00", "rule": "M.restocking_fee"}]}}]}
    case = SimpleNamespace(policy_decision=decision, currency="CNY", lines=[SimpleNamespace(id=7, order_line_id=41, inspection=None)])
    assert deductions_for(case) == [
        {"case_line_id": 7, "kind": "restocking_fee", "amount_minor": 1500, "currency": "CNY", "rule": "M.restocking_fee"}]
    assert deductions_for(SimpleNamespace(policy_decision=None, currency="CNY", lines=[])) == []
