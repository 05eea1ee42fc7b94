"""CN7 (the customer's return postage on a quality return, capped and refunded on its own leg and voucher line) and
EU4 (a full withdrawal refunds the standard delivery, never the premium surcharge) through the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from returnflow.refunds.models import Refund, VoucherLine, Voucher
from tests.api.test_evidence import png_1x1
from tests.support.money_rules import open_case, recent_order, to_inspected
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

EU_POLICY = '[policy]\nid = "shop-eu"\nextends = "eu-crd"\n'


def _receipt(client, shop, number: str) -> int:
    up = client.post(f"/api/v1/cases/{number}/attachments", headers=shop.headers(),
                     files={"file": ("receipt.png", png_1x1(), "image/png")})
    assert up.status_code == 201, up.text
    return up.json()["id"]


def _cap(client, shop, cap: str | None) -> None:
    body = {"postage_cap": {"CNY": cap}} if cap is not None else {}
    r = client.put("/api/v1/money/settings", headers=shop.headers("admin"), json=body)
    assert r.status_code == 200, r.text


POSTAGE = [  # (merchant's cap, what the customer paid, what is reimbursed)
    ("15.00", "12.00", "12.00"),
    ("15.00", "25.00", "15.00"),
    (None, "25.00", "25.00"),
]


@pytest.mark.parametrize("cap,asked,paid", POSTAGE)
def test_a_quality_returns_postage_is_refunded_capped_on_its_own_leg_and_voucher_line(client, db, cap, asked, paid):
    shop = make_shop(db)
    _cap(client, shop, cap)
    recent_order(db, shop, "P-1")
    case = open_case(client, shop, "P-1", [(1, 1)], reason="quality_issue")
    r = client.post(f"/api/v1/cases/{case['number']}/postage", headers=shop.headers("agent"),
                    json={"amount": asked, "currency": "CNY", "receipt_id": _receipt(client, shop, case["number"])})
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == paid and r.json()["capped"] is (Decimal(asked) > Decimal(paid))
    detail = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    assert detail["postage_claim"]["amount"] == paid and detail["postage_claim"]["refund"] is None
    to_inspected(db, shop, case)
    quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(), json={}).json()
    assert quote["postage"] == paid and Decimal(quote["total"]) == Decimal("60.00") + Decimal(paid)
    refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["postage"] == paid and Decimal(body["amount"]) == Decimal("60.00") + Decimal(paid)
    assert sorted(Decimal(p["amount"]) for p in body["payments"]) == sorted([Decimal("60.00"), Decimal(paid)])
    with db.read() as s:
        refund_id = s.scalar(select(Refund.id).where(Refund.number == body["number"]))
        lines = s.execute(select(VoucherLine.account, VoucherLine.debit).join(Voucher, Voucher.id == VoucherLine.voucher_id)
                          .where(Voucher.refund_id == refund_id, Voucher.kind == "refund_decision")).all()
    assert ("return_postage_expense", int(Decimal(paid) * 100)) in lines
    # paid once: the claim cannot be changed now and the next quote has no postage
    again = client.post(f"/api/v1/cases/{case['number']}/postage", headers=shop.headers("agent"),
                        json={"amount": "1.00", "currency": "CNY", "receipt_id": detail["attachments"][0]["id"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "postage_refunded"
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()[
        "postage_claim"]["refund"] == body["number"]


REFUSED = [  # (reason, body change, status, field, English words, Chinese words)
    ("no_reason_7day", {}, 409, "case", "shop's fault", "商家原因"),
    ("quality_issue", {"receipt_id": None}, 422, "receipt_id", "receipt", "运费凭证"),
    ("quality_issue", {"amount": "0"}, 422, "amount", "more than 0", "大于 0"),
    ("quality_issue", {"currency": "EUR"}, 422, "currency", "case currency", "币种"),
]


@pytest.mark.parametrize("reason,change,status,field,en,zh", REFUSED)
def test_a_postage_claim_outside_the_rule_is_refused_in_the_callers_language_and_changes_nothing(
        client, db, reason, change, status, field, en, zh):
    shop = make_shop(db)
    recent_order(db, shop, "P-2")
    case = open_case(client, shop, "P-2", [(1, 1)], reason=reason)
    body = {"amount": "8.00", "currency": "CNY", "receipt_id": _receipt(client, shop, case["number"])} | change
    for language, words in (("zh-CN", zh), ("en", en)):
        r = client.post(f"/api/v1/cases/{case['number']}/postage",
                        headers=shop.headers("agent", **{"Accept-Language": language}), json=body)
        assert r.status_code == status and r.json()["error"]["field"] == field, r.text
        assert words in r.json()["error"]["message"]
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["postage_claim"] is None


# EU4: order delivery 12.00 with a premium option; standard delivery 5.00. (picks, refund_shipping asked, shipping)
DELIVERY = [
    ("full withdrawal, default", [(1, 1), (2, 1), (3, 1)], None, "5.00"),
    ("partial withdrawal, default", [(1, 1)], None, "0.00"),
    ("partial, delivery asked", [(1, 1)], True, "5.00"),
    ("full, delivery declined", [(1, 1), (2, 1), (3, 1)], False, "0.00"),
]


@pytest.mark.parametrize("name,picks,asked,shipping", DELIVERY, ids=[d[0] for d in DELIVERY])
def test_a_full_withdrawal_refunds_the_standard_delivery_never_the_premium(client, db, name, picks, asked, shipping):
    shop = make_shop(db, currency="EUR")
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": EU_POLICY}).status_code == 201
    recent_order(db, shop, "E-1", currency="EUR", shipping_fee=1200, paid_total=15200, standard_shipping_fee=500)
    case = open_case(client, shop, "E-1", picks)
    to_inspected(db, shop, case)
    body = {} if asked is None else {"refund_shipping": asked}
    refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json=body)
    assert refund.status_code == 201, refund.text
    assert refund.json()["shipping"] == shipping


def test_the_default_under_chinese_law_leaves_delivery_out_and_a_standard_price_above_the_paid_one_is_refused(
        client, db):
    shop = make_shop(db)
    recent_order(db, shop, "E-2", shipping_fee=1200, paid_total=15200, standard_shipping_fee=500)
    case = open_case(client, shop, "E-2", [(1, 1), (2, 1), (3, 1)])
    to_inspected(db, shop, case)
    refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
    assert refund.status_code == 201 and refund.json()["shipping"] == "0.00", refund.text
    order = {"number": "E-3", "currency": "CNY", "shipping_fee": "6.00", "standard_shipping_fee": "8.00",
             "lines": [{"sku": "A", "unit_price": "10.00", "quantity": 1}]}
    bad = client.post("/api/v1/orders", headers=shop.headers("admin", **{"Accept-Language": "en"}), json=order)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "standard_shipping_fee", bad.text
    assert client.get("/api/v1/orders/E-3", headers=shop.headers()).status_code == 404
    pushed = client.post("/api/v1/orders", headers=shop.headers("admin"), json=order | {"standard_shipping_fee": "4"})
    assert pushed.status_code in (200, 201), pushed.text
    assert client.get("/api/v1/orders/E-3", headers=shop.headers()).json()["standard_shipping_fee"] == "4.00"
