"""CN6 through the API: the free-shipping deduction is taken at most once per order, by the request that breaks the
threshold, in the dry run, in the case's decision and in the refunds; and gifts never count as paid."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.money_rules import open_case, policy_deductions, recent_order, refund_deductions, to_inspected
from tests.support.world import make_shop

COUNTER = itertools.count()
FREE = {"free_shipping_threshold": 9900, "shipping_cost": 1000}  # threshold 99.00, delivery cost 10.00

# Goods 60 + 50 + 30 = 140 against a threshold of 99: each split is the cases in the order they are opened, and the
# deduction each case's decision (and then its refund) takes.
SPLITS = [
    ("whole order in one request", [[(1, 1), (2, 1), (3, 1)]], ["10.00"]),
    ("line that breaks it alone", [[(1, 1)], [(2, 1), (3, 1)]], ["10.00", "0.00"]),
    ("second case breaks it", [[(3, 1)], [(1, 1)], [(2, 1)]], ["0.00", "10.00", "0.00"]),
    ("two small cases then the rest", [[(3, 1)], [(2, 1), (1, 1)]], ["0.00", "10.00"]),
    ("never below the threshold", [[(3, 1)]], ["0.00"]),
]


@pytest.mark.parametrize("name,cases,expected", SPLITS, ids=[s[0] for s in SPLITS])
def test_the_free_shipping_deduction_is_taken_once_by_the_request_that_breaks_the_threshold(client, db, name, cases,
                                                                                            expected):
    shop = make_shop(db)
    recent_order(db, shop, "F-1", **FREE)
    for picks, want in zip(cases, expected):
        dry = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
            "order": "F-1", "type": "return_refund", "reason": "no_reason_7day",
            "lines": [{"line_no": n, "quantity": q} for n, q in picks]})
        assert dry.status_code == 200, dry.text
        assert policy_deductions(dry.json(), "free_shipping") == Decimal(want)
        case = open_case(client, shop, "F-1", picks)
        assert policy_deductions(case, "free_shipping") == Decimal(want)
        to_inspected(db, shop, case)
        quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(), json={})
        assert quote.status_code == 200, quote.text
        assert refund_deductions(quote.json(), "free_shipping") == Decimal(want)
        refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
        assert refund.status_code == 201, refund.text
        assert refund_deductions(refund.json(), "free_shipping") == Decimal(want)


def test_an_exchange_on_the_same_order_leaves_the_goods_kept_and_does_not_move_the_threshold(client, db):
    shop = make_shop(db)
    recent_order(db, shop, "F-3", **FREE)
    open_case(client, shop, "F-3", [(1, 1)], reason="quality_issue", type_="exchange")  # 60.00 swapped, kept
    dry = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        "order": "F-3", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 2, "quantity": 1}]})
    assert policy_deductions(dry.json(), "free_shipping") == Decimal("10.00")  # 140 - 50 = 90 < 99
    case = open_case(client, shop, "F-3", [(2, 1)])
    assert policy_deductions(case, "free_shipping") == Decimal("10.00")


def test_an_agents_free_shipping_deductions_on_several_lines_and_cases_never_exceed_the_delivery_cost(client, db):
    shop = make_shop(db)
    recent_order(db, shop, "F-2", **FREE)
    taken = Decimal(0)
    for picks in ([(1, 1), (2, 1)], [(3, 1)]):
        case = open_case(client, shop, "F-2", picks, reason="quality_issue")
        to_inspected(db, shop, case)
        body = {"deductions": [{"case_line_id": line["id"], "kind": "free_shipping", "amount": "10.00",
                                "currency": "CNY", "rule": "CN6"} for line in case["lines"]]}
        refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json=body)
        assert refund.status_code == 201, refund.text
        taken += refund_deductions(refund.json(), "free_shipping")
    assert taken == Decimal("10.00")


def test_a_gifts_marked_price_never_counts_as_paid(client, db):
    shop = make_shop(db)
    pushed = client.post("/api/v1/orders", headers=shop.headers("admin"), json={
        "number": "G-1", "currency": "CNY", "lines": [
            {"sku": "A", "unit_price": "80.00", "quantity": 1},
            {"sku": "GIFT", "unit_price": "25.00", "quantity": 1, "gift": True}]})
    assert pushed.status_code in (200, 201), pushed.text
    order = client.get("/api/v1/orders/G-1", headers=shop.headers()).json()
    assert order["goods_total"] == "80.00" and order["paid_total"] == "80.00"
    assert [line["paid_amount"] for line in order["lines"]] == ["80.00", "0.00"]


def test_across_any_split_into_cases_the_shipping_deduction_never_exceeds_the_delivery_cost(client, db):
    shop = make_shop(db)

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(prices=st.lists(st.integers(100, 9_000), min_size=1, max_size=4), threshold=st.integers(0, 20_000),
           cost=st.integers(1, 2_000), data=st.data())
    def run(prices, threshold, cost, data):
        number = f"FS-{next(COUNTER)}"
        recent_order(db, shop, number, lines=[(f"S{i}", str(Decimal(p) / 100), 1) for i, p in enumerate(prices)],
                     free_shipping_threshold=threshold, shipping_cost=cost)
        left = list(range(1, len(prices) + 1))
        taken = decided = Decimal(0)
        while left:
            picks = data.draw(st.lists(st.sampled_from(left), min_size=1, unique=True))
            left = [n for n in left if n not in picks]
            case = open_case(client, shop, number, [(n, 1) for n in picks])
            decided += policy_deductions(case, "free_shipping")
            to_inspected(db, shop, case)
            refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
            if refund.status_code == 422:  # the deduction took everything the case had
                assert refund.json()["error"]["code"] == "nothing_to_refund"
                continue
            assert refund.status_code == 201, refund.text
            taken += refund_deductions(refund.json(), "free_shipping")
        limit = Decimal(cost) / 100
        assert decided <= limit and taken <= limit
        # the whole order went back: the threshold (if it was ever met) was broken, by one line, which gave up the
        # delivery cost or, when worth less, all it had
        if 0 < threshold <= sum(prices):
            assert decided == limit or (0 < decided < limit and Decimal(min(prices)) / 100 <= decided)

    run()
