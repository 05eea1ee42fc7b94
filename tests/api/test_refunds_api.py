"""Refunds through the API: exact amounts, approval by authority, manual payment, store credit, vouchers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from sqlalchemy import func, select, text

from returnflow.cases.models import OutboxMessage
from returnflow.refunds.models import LedgerEntry, Refund, Voucher, VoucherLine
from tests.support.money import inspected_case, paid_order, refund_only_case
from tests.support.world import make_shop

def _period():
    from returnflow.db import utcnow
    from returnflow.refunds.ledger import period_of

    return period_of(utcnow())


def _balanced(db) -> None:
    with db.read() as s:
        rows = s.execute(select(VoucherLine.voucher_id, func.sum(VoucherLine.debit), func.sum(VoucherLine.credit))
                         .group_by(VoucherLine.voucher_id)).all()
    assert rows and all(d == c for _, d, c in rows)


def test_a_refund_is_exact_split_per_payment_approved_paid_and_resolves_the_case(client, db):
    shop = make_shop(db)
    # goods 235.50, order discount 10.00, shipping 8.00 -> paid 233.50 = alipay 213.50 + points 20.00
    paid_order(db, shop)
    number = inspected_case(db, shop, "M-1", line_no=1, quantity=1, deduction="5.00")
    body = {"refund_shipping": False, "deductions": [
        {"case_line_id": client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["lines"][0]["id"],
         "kind": "restocking_fee", "amount": "3.00", "currency": "CNY", "rule": "M.restock"}]}
    q = client.post(f"/api/v1/cases/{number}/refunds/quote", headers=shop.headers(), json=body)
    assert q.status_code == 200, q.text
    quote = q.json()
    # line 1 pays 200.00 of 235.50; its discount share is 10.00*200/235.50 = 8.49 (largest remainder), so one
    # of two units is worth (200.00-8.49)/2 = 95.75 (floored), minus 3.00 restocking and 5.00 inspection damage.
    assert quote["lines"][0]["gross"] == "95.75"
    assert [d["kind"] for d in quote["lines"][0]["deductions"]] == ["restocking_fee", "inspection_damage"]
    assert quote["total"] == "87.75"
    assert [(p["method"], p["amount"]) for p in quote["payments"]] == [("alipay", "80.23"), ("points", "7.52")]

    r = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json=body)
    assert r.status_code == 201, r.text
    refund = r.json()
    assert refund["state"] == "approved"  # 87.75 is within the default agent limit of 500
    legs = {p["method"]: p for p in refund["payments"]}
    assert legs["points"]["state"] == "succeeded" and legs["points"]["destination"] == "points"
    assert legs["alipay"]["state"] == "pending" and legs["alipay"]["gateway"] == "manual"

    # the agent cannot pay it; finance marks the manual payment paid with a reference
    assert client.post(f"/api/v1/refund-payments/{legs['alipay']['number']}/mark-paid", headers=shop.headers("agent"),
                       json={"reference": "BANK-1"}).status_code == 403
    paid = client.post(f"/api/v1/refund-payments/{legs['alipay']['number']}/mark-paid",
                       headers=shop.headers("finance"), json={"reference": "BANK-1"})
    assert paid.status_code == 200, paid.text
    assert paid.json()["state"] == "completed"
    again = client.post(f"/api/v1/refund-payments/{legs['alipay']['number']}/mark-paid",
                        headers=shop.headers("finance"), json={"reference": "BANK-2"})
    assert again.status_code == 409

    case = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
    assert case["state"] == "resolved"  # moved on by the workflow's resolve, as the system
    assert case["timeline"][-1]["action"] == "resolve" and case["timeline"][-1]["actor"]["role"] == "system"
    assert case["refunds"][0]["number"] == refund["number"]
    assert [h["to"] for h in case["refunds"][0]["payments"][0]["history"]] == ["pending", "sent", "succeeded"]

    balance = client.get("/api/v1/customers/C-1/balance", headers=shop.headers()).json()["balances"]
    assert balance == [{"asset": "points", "currency": "CNY", "amount": "7.52"}]
    with db.read() as s:
        notes = [m.payload for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
                 if m.payload.get("template") == "refund_completed"]
    assert len(notes) == 1 and notes[0]["data"]["amount"] == "87.75" and notes[0]["to"].startswith("customer:")
    _balanced(db)
    vouchers = client.get("/api/v1/money/vouchers", params={"period": _period()}, headers=shop.headers("finance"))
    kinds = [v["kind"] for v in vouchers.json()["items"]]
    assert kinds == ["refund_decision", "refund_settlement", "refund_settlement"]
    decision = vouchers.json()["items"][0]["lines"]
    assert {(x["account"], x["debit"], x["credit"]) for x in decision} == {
        ("sales_returns", "95.75", "0.00"), ("restocking_income", "0.00", "8.00"), ("refund_payable", "0.00", "87.75")}
    exported = client.get("/api/v1/money/vouchers.csv", params={"period": _period()}, headers=shop.headers("finance"))
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 7
    assert sum(Decimal(r["debit"]) for r in rows) == sum(Decimal(r["credit"]) for r in rows) == Decimal("183.50")  # 95.75 decided + 87.75 settled
    assert {r["account_zh"] for r in rows} >= {"销售退回", "应付退款", "积分负债", "支付渠道存款"}


def test_above_the_agent_limit_a_supervisor_approves_and_agents_cannot(client, db):
    shop = make_shop(db)
    paid_order(db, shop, lines=(("SKU-A", "800.00", 1),), discount="0.00", shipping="0.00", payments=(("card", None),))
    number = refund_only_case(db, shop, "M-1")
    r = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={})
    assert r.status_code == 201 and r.json()["state"] == "awaiting_approval" and r.json()["amount"] == "800.00"
    refund = r.json()["number"]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Voucher)) == 0  # nothing decided yet
    assert client.post(f"/api/v1/refunds/{refund}/approve", headers=shop.headers("agent"), json={}).status_code == 403
    assert client.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance")).status_code == 409
    ok = client.post(f"/api/v1/refunds/{refund}/approve", headers=shop.headers("supervisor"), json={})
    assert ok.status_code == 200 and ok.json()["approved_by"] == f"user:{shop.user_ids['supervisor']}"
    # a merchant limit for supervisors sends bigger refunds to an admin
    s = client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                   json={"agent_limit": {"CNY": "100.00"}, "supervisor_limit": {"CNY": "300.00"}})
    assert s.status_code == 200, s.text
    assert client.get("/api/v1/money/settings", headers=shop.headers()).json()["agent_limit"] == {"CNY": "100.00"}


def test_refund_to_store_credit_needs_consent_and_lands_on_the_ledger(client, db):
    shop = make_shop(db)
    paid_order(db, shop, payments=(("wechat_pay", None),))
    number = refund_only_case(db, shop, "M-1", line_no=2)
    refused = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={"route": "balance"},
                          )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "consent"
    zh = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent", **{"Accept-Language": "zh-CN"}),
                     json={"route": "balance"})
    assert "同意" in zh.json()["error"]["message"]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
    r = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={
        "route": "balance", "consent": {"channel": "phone", "statement": "store credit is fine"}})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "completed" and r.json()["consent"]["channel"] == "phone"
    # SKU-B 35.50 less its share of the 10.00 discount (1.51) = 33.99, all to store credit
    assert r.json()["amount"] == "33.99"
    balance = client.get("/api/v1/customers/C-1/balance", headers=shop.headers()).json()["balances"]
    assert balance == [{"asset": "store_credit", "currency": "CNY", "amount": "33.99"}]
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["state"] == "resolved"
    with db.read() as s:
        assert s.scalar(select(func.sum(LedgerEntry.amount))) == 3399
    _balanced(db)


def test_bad_refund_input_is_refused_and_changes_nothing(client, db):
    shop = make_shop(db)
    paid_order(db, shop)
    rejected = open_rejected(db, shop)
    number = inspected_case(db, shop, "M-1", line_no=1, quantity=2, accepted=1)
    line_id = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["lines"][0]["id"]
    cases = [
        (rejected, {}, 409, "case"),
        (number, {"amount": "-1.00"}, 422, "amount"),
        (number, {"amount": "1000.00"}, 422, "amount"),
        (number, {"amount": "1.001"}, 422, "amount"),
        (number, {"lines": [{"case_line_id": line_id, "quantity": 2}]}, 422, "lines[0].quantity"),
        (number, {"deductions": [{"case_line_id": line_id, "kind": "x", "amount": "1.00", "currency": "USD"}]},
         422, "deductions[0].currency"),
        (number, {"deductions": [{"case_line_id": line_id, "kind": "x", "amount": "-1.00", "currency": "CNY"}]},
         422, "deductions[0].amount"),
        (number, {"route": "cheque"}, 422, "route"),
    ]
    for case_number, body, status, field in cases:
        r = client.post(f"/api/v1/cases/{case_number}/refunds", headers=shop.headers("agent"), json=body)
        assert (r.status_code, r.json()["error"].get("field")) == (status, field), (body, r.text)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
        assert s.scalar(select(func.count()).select_from(Voucher)) == 0
    # the accepted unit is refundable, once
    assert client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={}).status_code == 201
    again = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={})
    assert (again.status_code, again.json()["error"]["code"]) == (422, "nothing_to_refund")


def open_rejected(db, shop) -> str:
    from tests.support.flows import open_for, run

    number = open_for(db, shop.actors["agent"], "M-1", "return_refund", line_no=2, quantity=1)
    run(db, number, "reject", shop.actors["agent"])
    return number


def test_vouchers_and_ledger_rows_cannot_be_changed(client, db):
    shop = make_shop(db)
    paid_order(db, shop, payments=(("wechat_pay", None),))
    number = refund_only_case(db, shop, "M-1", line_no=2)
    client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={
        "route": "balance", "consent": {"channel": "chat", "statement": "ok"}})
    from sqlalchemy.exc import DatabaseError

    import pytest

    for statement in ("UPDATE voucher_lines SET debit = debit + 1", "UPDATE vouchers SET memo = 'x'",
                      "UPDATE customer_ledger SET amount = 1"):
        with pytest.raises(DatabaseError, match="immutable"):
            with db.transaction() as tx:
                tx.connection().execute(text(statement))
    _balanced(db)


def test_compensation_gives_a_coupon_or_credit_with_its_voucher(client, db):
    shop = make_shop(db)
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    coupon = client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("agent"),
                         json={"kind": "coupon", "amount": "10.00", "currency": "CNY", "reason": "late delivery"})
    assert coupon.status_code == 201, coupon.text
    assert coupon.json()["code"].startswith("CP")
    credit = client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("agent"),
                         json={"kind": "credit", "amount": "5.50", "currency": "CNY", "reason": "sorry"})
    assert credit.status_code == 201
    for bad, field in [({"kind": "cash"}, "kind"), ({"currency": "USD"}, "currency"), ({"amount": "0"}, "amount")]:
        body = {"kind": "credit", "amount": "1.00", "currency": "CNY", "reason": "x"} | bad
        r = client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("agent"), json=body)
        assert (r.status_code, r.json()["error"]["field"]) == (422, field)
    balance = client.get("/api/v1/customers/C-1/balance", headers=shop.headers()).json()["balances"]
    assert balance == [{"asset": "coupon", "currency": "CNY", "amount": "10.00"},
                       {"asset": "store_credit", "currency": "CNY", "amount": "5.50"}]
    items = client.get("/api/v1/money/vouchers", params={"period": _period()}, headers=shop.headers("finance")).json()
    assert [v["kind"] for v in items["items"]] == ["compensation", "compensation"]
    assert client.get("/api/v1/money/vouchers", params={"period": "2026-13"},
                      headers=shop.headers("finance")).status_code == 422
    _balanced(db)


def test_store_credit_is_spent_never_below_zero(client, db):
    shop = make_shop(db)
    paid_order(db, shop, payments=(("wechat_pay", None),))
    number = refund_only_case(db, shop, "M-1", line_no=2)
    client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={
        "route": "balance", "consent": {"channel": "chat", "statement": "ok"}})
    url = "/api/v1/customers/C-1/balance/spend"
    over = client.post(url, headers=shop.headers(), json={"asset": "store_credit", "currency": "CNY",
                                                          "amount": "34.00", "reference": "O-2"})
    assert over.status_code == 422 and over.json()["error"]["code"] == "insufficient_balance"
    assert "33.99" in over.json()["error"]["message"]
    for bad, field in [({"asset": "gold"}, "asset"), ({"amount": "-1"}, "amount"), ({"amount": "0.001"}, "amount")]:
        body = {"asset": "store_credit", "currency": "CNY", "amount": "1.00", "reference": "O-2"} | bad
        r = client.post(url, headers=shop.headers(), json=body)
        assert (r.status_code, r.json()["error"]["field"]) == (422, field)
    ok = client.post(url, headers=shop.headers(), json={"asset": "store_credit", "currency": "CNY",
                                                        "amount": "30.00", "reference": "O-2"})
    assert ok.status_code == 200 and ok.json()["balance"] == "3.99"
    assert client.get("/api/v1/customers/C-1/balance", headers=shop.headers()).json()["balances"][0]["amount"] == "3.99"
    _balanced(db)


def test_a_zero_decimal_currency_refunds_in_whole_units(client, db):
    shop = make_shop(db, currency="JPY")
    paid_order(db, shop, lines=(("SKU-J", "1000", 3),), discount="100", shipping="0", currency="JPY",
               payments=(("card", None),))
    number = refund_only_case(db, shop, "M-1", quantity=2)
    r = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers(), json={})
    assert r.status_code == 201 and (r.json()["amount"], r.json()["currency"]) == ("1933", "JPY")
    bad = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers(), json={"amount": "10.5"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "amount"
