"""CN8/EU4 refund deadlines as timers (on the case, in finance's queue, escalated when missed, kept on overrides) and
EU5 refunds on receipt or proof of dispatch without inspection, the diminished value settled later (EU7)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from returnflow.sla.timers import fire_due
from tests.support.asgi import TestClient
from tests.support.flows import run
from tests.support.money_rules import open_case, recent_order, to_inspected
from tests.support.portal import sign_in_staff
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

EU_POLICY = '[policy]\nid = "shop-eu"\nextends = "eu-crd"\n'


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _detail(client, shop, number: str) -> dict:
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()


def _refund_escalations(detail: dict) -> list[dict]:
    return [e for e in detail["timeline"] if e["action"] == "escalate"
            and (e["payload"] or {}).get("timer") == "refund_deadline"]


def _event_at(detail: dict, action: str) -> datetime:
    return _at(next(e["at"] for e in detail["timeline"] if e["action"] == action))


def test_cn8_runs_7_days_from_receipt_shows_on_the_case_and_in_finance_and_escalates_when_missed(client, db, app):
    shop = make_shop(db)
    recent_order(db, shop, "D-1")
    case = open_case(client, shop, "D-1", [(1, 1)], reason="quality_issue")
    assert _detail(client, shop, case["number"])["refund_deadline"] is None  # not before the goods are back
    if case["state"] == "pending_review":
        run(db, case["number"], "approve", shop.actors["agent"])
    run(db, case["number"], "ship_return", shop.actors["agent"])
    run(db, case["number"], "receive", shop.actors["warehouse"], {})
    detail = _detail(client, shop, case["number"])
    due = _at(detail["refund_deadline"]["due_at"])
    assert due == _event_at(detail, "receive") + timedelta(days=7)
    assert detail["refund_deadline"]["rule"] == "CN8" and detail["refund_deadline"]["overdue"] is False

    finance = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(finance, "finance@shop.test", "pw-finance")
    queue = finance.get("/staff/finance?view=due")
    assert queue.status_code == 200 and case["number"] in queue.text and "Running" in queue.text
    assert "Refund due by" in finance.get(f"/staff/finance/cases/{case['number']}").text

    fire_due(db, now=due - timedelta(minutes=1))  # other steps' clocks may fire; the refund's has not
    assert _refund_escalations(_detail(client, shop, case["number"])) == []
    fire_due(db, now=due + timedelta(minutes=1))
    after = _detail(client, shop, case["number"])
    assert len(_refund_escalations(after)) == 1 and after["refund_deadline"]["overdue"] is True
    assert _refund_escalations(after)[0]["payload"]["rule"] == "CN8"
    assert "Overdue: escalated" in finance.get("/staff/finance?view=due").text
    assert "Overdue: escalated" in finance.get(f"/staff/cases/{case['number']}").text


def test_eu4_runs_14_days_from_the_withdrawal_and_ends_when_the_refund_resolves_the_case(client, db):
    shop = make_shop(db)
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": EU_POLICY}).status_code == 201
    recent_order(db, shop, "D-2")
    case = open_case(client, shop, "D-2", [(1, 1)])
    detail = _detail(client, shop, case["number"])
    assert detail["refund_deadline"]["rule"] == "EU4"
    assert _at(detail["refund_deadline"]["due_at"]) == _at(detail["created_at"]) + timedelta(days=14)
    to_inspected(db, shop, case)
    refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={}).json()
    leg = next(p for p in refund["payments"] if p["state"] == "pending")
    paid = client.post(f"/api/v1/refund-payments/{leg['number']}/mark-paid", headers=shop.headers("finance"),
                       json={"reference": "B-1"})
    assert paid.status_code == 200, paid.text
    done = _detail(client, shop, case["number"])
    assert done["state"] == "resolved" and done["refund_deadline"]["status"] == "cancelled"


def test_an_overridden_case_keeps_the_laws_refund_deadline(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))  # approved against the policy
    assert _detail(client, shop, case["number"])["policy"]["within_policy"] is False
    run(db, case["number"], "receive", shop.actors["warehouse"], {})
    detail = _detail(client, shop, case["number"])
    assert detail["refund_deadline"]["rule"] == "CN8"
    assert _at(detail["refund_deadline"]["due_at"]) == _event_at(detail, "receive") + timedelta(days=7)


def _scan(client, shop, status: str = "in_transit") -> None:
    r = client.post("/api/v1/tracking/webhooks/generic", headers=shop.headers("admin"), json={
        "carrier": "SF", "tracking_number": "SF1234567890123",
        "events": [{"status": status, "occurred_at": "2026-11-25T09:00:00+08:00", "description": "揽收"}]})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_eu5_refunds_on_the_carriers_first_scan_without_inspection_and_settles_diminished_value_later(client, db):
    shop = shop_with_warehouse(db, client)
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": EU_POLICY}).status_code == 201
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))  # 2 units of 100.00
    early = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
    assert early.status_code == 409 and early.json()["error"]["code"] == "refund_not_allowed"  # no proof yet
    _scan(client, shop)
    refund = client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"), json={})
    assert refund.status_code == 201, refund.text
    assert refund.json()["goods"] == "200.00"
    assert _detail(client, shop, case["number"])["state"] == "return_in_transit"  # inspection still to come

    too_soon = client.post(f"/api/v1/cases/{case['number']}/diminished-value", headers=shop.headers("agent"),
                           json={"amount": "20.00", "currency": "CNY", "reason": "worn outdoors"})
    assert too_soon.status_code == 409 and too_soon.json()["error"]["code"] == "goods_not_received"
    run(db, case["number"], "receive", shop.actors["warehouse"], {})
    over = client.post(f"/api/v1/cases/{case['number']}/diminished-value",
                       headers=shop.headers("agent", **{"Accept-Language": "en"}),
                       json={"amount": "200.01", "currency": "CNY", "reason": "worn outdoors"})
    assert over.status_code == 422 and over.json()["error"]["field"] == "amount" and "EU7" in over.text
    charge = client.post(f"/api/v1/cases/{case['number']}/diminished-value", headers=shop.headers("agent"),
                         json={"amount": "20.00", "currency": "CNY", "reason": "worn outdoors"})
    assert charge.status_code == 201, charge.text
    assert charge.json()["purpose"] == "diminished_value" and charge.json()["amount"] == "20.00"
    again = client.post(f"/api/v1/cases/{case['number']}/diminished-value", headers=shop.headers("agent"),
                        json={"amount": "5.00", "currency": "CNY", "reason": "again"})
    assert again.status_code == 409


def test_under_chinese_law_a_scan_is_not_enough_and_a_normal_refund_has_no_later_charge(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))
    _scan(client, shop)
    refused = client.post(f"/api/v1/cases/{case['number']}/refunds",
                          headers=shop.headers("admin", **{"Accept-Language": "en"}), json={})
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "case"
    detail = _detail(client, shop, case["number"])
    to_inspected(db, shop, detail)
    assert client.post(f"/api/v1/cases/{case['number']}/refunds", headers=shop.headers("admin"),
                       json={}).status_code == 201
    later = client.post(f"/api/v1/cases/{case['number']}/diminished-value", headers=shop.headers("agent"),
                        json={"amount": "5.00", "currency": "CNY", "reason": "scratch"})
    assert later.status_code == 409 and later.json()["error"]["code"] == "not_refunded_early"
