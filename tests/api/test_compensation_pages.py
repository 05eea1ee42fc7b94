"""Compensation awaiting approval on finance's "to approve" page (HTTP, as a browser without JavaScript): who may
decide it, approval applies it once, rejection needs the reason; zh-CN and en."""

from __future__ import annotations

from decimal import Decimal

from tests.support.asgi import TestClient

from tests.support.money import paid_order, refund_only_case
from tests.support.portal import csrf_of, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}


def browser(app, role, headers=EN):
    web = TestClient(app, headers=headers)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


def _credit(client, shop) -> Decimal:
    found = client.get("/api/v1/customers/C-1/balance", headers=shop.headers("admin")).json()["balances"]
    return sum((Decimal(b["amount"]) for b in found if b["asset"] == "store_credit"), Decimal(0))


def _waiting(client, shop, number, amount):
    r = client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("agent"),
                    json={"kind": "credit", "amount": amount, "currency": "CNY", "reason": "parcel lost twice"})
    assert r.status_code == 201 and r.json()["state"] == "awaiting_approval", r.text
    return r.json()["id"]


def test_compensation_waits_on_the_finance_page_and_is_approved_once_or_rejected_with_reason(app, db, client):
    shop = make_shop(db)
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    client.put("/api/v1/money/settings", headers=shop.headers("admin"),
               json={"agent_limit": {"CNY": "10.00"}, "supervisor_limit": {"CNY": "100.00"}})
    small, big = _waiting(client, shop, number, "60.00"), _waiting(client, shop, number, "5000.00")
    approve = f"/staff/finance/compensations/{small}/approve"

    finance = browser(app, "finance")
    queue = finance.get("/staff/finance")
    assert queue.status_code == 200 and "Compensation awaiting approval" in queue.text and "(2)" in queue.text
    assert "Only a supervisor or an administrator approves compensation." in queue.text and approve not in queue.text
    assert finance.post(approve, data={"csrf": csrf_of(finance)}).status_code == 403

    boss = browser(app, "supervisor")
    queue = boss.get("/staff/finance")
    assert approve in queue.text and f"/staff/finance/compensations/{big}/approve" not in queue.text
    assert "Above your approval limit: an administrator decides it." in queue.text
    stale = boss.post(approve, data={"csrf": csrf_of(boss), "version": "5"})
    assert stale.status_code == 409 and _credit(client, shop) == 0
    done = boss.post(approve, data={"csrf": csrf_of(boss), "version": "1"}, follow_redirects=False)
    assert done.status_code == 303
    assert _credit(client, shop) == Decimal("60.00")
    twice = boss.post(approve, data={"csrf": csrf_of(boss)})
    assert twice.status_code == 409 and _credit(client, shop) == Decimal("60.00")

    admin = browser(app, "admin", {"Accept-Language": "zh-CN"})
    page = admin.get("/staff/finance")
    assert "待审批的补偿" in page.text and f"/staff/finance/compensations/{big}/reject" in page.text
    empty = admin.post(f"/staff/finance/compensations/{big}/reject", data={"csrf": csrf_of(admin), "reason": ""})
    assert empty.status_code == 422 and "请说明驳回补偿的理由。" in empty.text
    admin.post(f"/staff/finance/compensations/{big}/reject",
               data={"csrf": csrf_of(admin), "reason": "金额远超实际损失"}, follow_redirects=False)
    got = client.get(f"/api/v1/compensations/{big}", headers=shop.headers("finance")).json()
    assert (got["state"], got["decision_note"]) == ("rejected", "金额远超实际损失")
    assert _credit(client, shop) == Decimal("60.00")
    assert "待审批的补偿" not in admin.get("/staff/finance").text


def test_a_charge_priced_above_the_shippers_limit_is_decided_on_the_finance_page(app, db, client):
    from tests.support.returns import case_awaiting_return, shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"), json={"hold": True})
    numbers = []
    for n, price in enumerate(("150.00", "99999999.00")):
        case = case_awaiting_return(client, shop, db, f"AX-{n}", type_="exchange", advance=True, claim=[(1, 1)])
        item = {"line_id": case["lines"][0]["id"], "sku": "SKU-A-GOLD", "quantity": 1, "unit_price": price}
        r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers("warehouse"),
                        json={"version": case["version"], "carrier": "SF", "tracking_number": f"SF400000000000{n}",
                              "items": [item]})
        assert r.status_code == 201, r.text
        numbers.append(case["number"])
    charges = [c["number"] for c in client.get("/api/v1/money/charges", headers=shop.headers("admin")).json()["items"]]
    assert len(charges) == 2  # the warehouse has no authority to price a replacement above the order

    warehouse = browser(app, "warehouse")
    assert warehouse.get("/staff/finance").status_code == 403
    finance = browser(app, "finance")
    queue = finance.get("/staff/finance")
    assert "Charges to customers awaiting approval" in queue.text and "approves charges." in queue.text
    assert f"/staff/finance/charges/{charges[0]}/approve" not in queue.text
    admin = browser(app, "admin", {"Accept-Language": "zh-CN"})
    page = admin.get("/staff/finance")
    assert "待审批的顾客扣款" in page.text and f"/staff/finance/charges/{charges[0]}/approve" in page.text
    done = admin.post(f"/staff/finance/charges/{charges[0]}/approve", data={"csrf": csrf_of(admin)},
                      follow_redirects=False)
    assert done.status_code == 303
    empty = admin.post(f"/staff/finance/charges/{charges[1]}/reject", data={"csrf": csrf_of(admin), "reason": " "})
    assert empty.status_code == 422 and "请说明驳回扣款的理由。" in empty.text
    admin.post(f"/staff/finance/charges/{charges[1]}/reject", data={"csrf": csrf_of(admin), "reason": "定价错误"})
    states = [client.get(f"/api/v1/cases/{n}/advance-exchange", headers=shop.headers()).json()["charge"]["state"]
              for n in numbers]
    assert states == ["holding", "rejected"]
    assert "待审批的顾客扣款" not in admin.get("/staff/finance").text


def test_a_balance_spend_above_the_agents_limit_is_decided_on_the_finance_page(app, db, client):
    shop = make_shop(db)
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    client.put("/api/v1/money/settings", headers=shop.headers("admin"), json={"agent_limit": {"CNY": "10.00"}})
    client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("admin"),
                json={"kind": "credit", "amount": "500.00", "currency": "CNY", "reason": "opening"})
    ids = []
    for reference in ("O-7", "O-8"):
        r = client.post("/api/v1/customers/C-1/balance/spend", headers=shop.headers("agent"),
                        json={"asset": "store_credit", "currency": "CNY", "amount": "200.00", "reference": reference})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    admin = browser(app, "admin")
    page = admin.get("/staff/finance")
    assert "Balance spends awaiting approval" in page.text and "O-7" in page.text and "(2)" in page.text
    admin.post(f"/staff/finance/balance-spends/{ids[0]}/approve", data={"csrf": csrf_of(admin), "version": "1"})
    admin.post(f"/staff/finance/balance-spends/{ids[1]}/reject", data={"csrf": csrf_of(admin), "reason": "dup"})
    assert _credit(client, shop) == Decimal("300.00")
    assert "Balance spends awaiting approval" not in admin.get("/staff/finance").text
    huge = client.post("/api/v1/balance-spends/99999999999999999999/approve", headers=shop.headers("admin"), json={})
    assert huge.status_code == 422
    assert admin.post("/staff/finance/compensations/99999999999999999999/approve",
                      data={"csrf": csrf_of(admin)}).status_code == 422
