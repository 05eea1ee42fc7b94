"""Restocking fees that depend on the inspection grade, applied at the refund after inspection, through the API."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from returnflow.money import quantize
from tests.support.flows import run
from tests.support.money_rules import open_case, recent_order, refund_deductions
from tests.support.returns import shop_with_warehouse
from tests.support.world import make_shop

COUNTER = itertools.count()
OK = {"original_item": True, "signs_of_use": True, "accessories_complete": True, "packaging_intact": True,
      "defect_confirmed": None}
POLICY = """[policy]
id = "graded"
extends = "cn-law"

[[rules]]
id = "worn-fee"
kind = "restocking_fee"
grades = ["C", "D"]
percent = {percent}
zh = "质检等级为 C 或 D 的商品收取 {percent}% 的重新上架费 {{amount}}。"
en = "Items graded C or D at inspection carry a {percent}% restocking fee of {{amount}}."
"""


def _policy(client, shop, percent: int = 10) -> None:
    r = client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": POLICY.format(percent=percent)})
    assert r.status_code == 201, r.text


def _to_inspected(db, shop, case: dict, grade: str | None) -> None:
    number, state = case["number"], case["state"]
    if state == "pending_review":
        run(db, number, "approve", shop.actors["agent"])
        state = "awaiting_return"
    if state == "awaiting_return":
        run(db, number, "ship_return", shop.actors["agent"])
    run(db, number, "receive", shop.actors["warehouse"], {})
    run(db, number, "inspect", shop.actors["warehouse"],
        {"lines": [{"line_id": line["id"], "quantity": line["quantity"], "verdict": "ok",
                    **({"grade": grade} if grade else {})} for line in case["lines"]]})


def _fees(body: dict) -> list[tuple[str, str]]:
    return [(d["amount"], d["rule"]) for line in body["lines"] for d in line["deductions"]
            if d["kind"] == "restocking_fee"]


@pytest.mark.parametrize("grade,fee", [("A", None), ("B", None), ("C", "6.00"), ("D", "6.00"), (None, None)])
def test_the_fee_for_the_inspected_grade_is_deducted_in_the_quote_refund_and_voucher(client, db, grade, fee):
    shop = make_shop(db)
    _policy(client, shop)
    recent_order(db, shop, "G-1")
    case = open_case(client, shop, "G-1", [(1, 1)])  # 60.00
    [pending] = case["policy"]["lines"][0]["grade_fees"]
    assert (pending["rule"], pending["grades"], pending["amount"]) == ("worn-fee", ["C", "D"], "6.00")
    assert pending["en"].startswith("Items graded C or D at inspection carry a 10% restocking fee of 6.00")
    assert pending["zh-CN"].startswith("质检等级为 C 或 D 的商品收取 10% 的重新上架费 6.00")
    _to_inspected(db, shop, case, grade)
    want = [(fee, "worn-fee")] if fee else []
    net = Decimal("60.00") - (Decimal(fee) if fee else 0)
    quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(), json={})
    assert quote.status_code == 200, quote.text
    assert _fees(quote.json()) == want and Decimal(quote.json()["total"]) == net
    refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert _fees(body) == want and Decimal(body["amount"]) == net
    shown = client.get(f"/api/v1/refunds/{body['number']}", headers=shop.headers("finance")).json()
    assert _fees(shown) == want
    period = body["created_at"][:7]
    vouchers = client.get("/api/v1/money/vouchers", params={"period": period}, headers=shop.headers("finance"))
    assert vouchers.status_code == 200, vouchers.text
    [decision] = [v for v in vouchers.json()["items"] if v["refund"] == body["number"] and v["kind"] == "refund_decision"]
    income = sum(Decimal(x["credit"]) for x in decision["lines"] if x["account"] == "restocking_income")
    assert income == (Decimal(fee) if fee else 0)


def test_an_agents_explicit_deduction_comes_first_and_the_fee_takes_only_what_is_left(client, db):
    shop = make_shop(db)
    _policy(client, shop, percent=50)
    recent_order(db, shop, "G-2")
    case = open_case(client, shop, "G-2", [(1, 1)])
    _to_inspected(db, shop, case, "D")
    line = case["lines"][0]["id"]
    quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(), json={
        "deductions": [{"case_line_id": line, "kind": "damage", "amount": "45.00", "currency": "CNY", "rule": "agent"}]})
    assert quote.status_code == 200, quote.text
    [row] = quote.json()["lines"]
    assert [(d["kind"], d["amount"], d["asked"]) for d in row["deductions"]] == [
        ("damage", "45.00", "45.00"), ("restocking_fee", "15.00", "30.00")]
    assert row["net"] == "0.00"


def test_the_fee_never_exceeds_the_lines_refundable_amount(client, db):
    shop = make_shop(db)

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(price=st.integers(1, 50_000), percent=st.integers(1, 100), agent=st.integers(0, 60_000))
    def check(price, percent, agent):
        _policy(client, shop, percent)
        number = f"GP-{next(COUNTER)}"
        recent_order(db, shop, number, lines=[("S", str(Decimal(price) / 100), 1)])
        case = open_case(client, shop, number, [(1, 1)])
        _to_inspected(db, shop, case, "C")
        asked = [{"case_line_id": case["lines"][0]["id"], "kind": "damage", "amount": str(Decimal(agent) / 100),
                  "currency": "CNY", "rule": "agent"}] if agent else []
        quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(),
                            json={"deductions": asked})
        assert quote.status_code == 200, quote.text
        [row] = quote.json()["lines"]
        fee = refund_deductions(quote.json(), "restocking_fee")
        gross, left = Decimal(row["gross"]), Decimal(row["gross"]) - min(Decimal(agent) / 100, Decimal(row["gross"]))
        whole = quantize(Decimal(price) / 100 * percent / 100, "CNY")
        assert fee == min(whole, left) and 0 <= fee <= left <= gross and Decimal(row["net"]) >= 0

    check()


def test_the_warehouse_desks_grade_and_damage_deduction_both_come_off_the_line(client, db):
    shop = shop_with_warehouse(db, client)
    _policy(client, shop)
    recent_order(db, shop, "G-3")
    case = open_case(client, shop, "G-3", [(1, 1)])
    if case["state"] == "pending_review":
        run(db, case["number"], "approve", shop.actors["agent"])
    got = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": case["number"]})
    assert got.status_code == 201, got.text
    ok = client.post(f"/api/v1/cases/{case['number']}/inspections", headers=shop.headers("warehouse"), json={
        "lines": [{"line_id": case["lines"][0]["id"], "checklist": OK, "grade": "C",
                   "verdict": "accept_with_deduction", "deduction": "30.00"}]})
    assert ok.status_code == 201, ok.text
    quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(), json={}).json()
    [row] = quote["lines"]
    assert sorted((d["kind"], d["amount"], d["rule"]) for d in row["deductions"]) == [
        ("inspection_damage", "30.00", "inspection"), ("restocking_fee", "6.00", "worn-fee")]
    assert row["net"] == "24.00" and quote["total"] == "24.00"
