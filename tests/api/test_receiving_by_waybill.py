"""Receiving by waybill through the pages, on SQLite and PostgreSQL: the tracking number of a return parcel finds
its case whoever entered it (the shopper in the portal, staff on the case page, the API's plain action), however
it is typed or printed on the barcode, and also once a tracking webhook said it was delivered; a parcel received
from its scan is not an exception, one matched from the exceptions queue is listed as matched."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from returnflow.logistics.models import Shipment
from returnflow.warehouse.models import Receipt
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def browser(app, role, headers=EN):
    web = TestClient(app, headers=headers)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


def scan(web, code):
    page = web.get("/staff/receiving", params={"code": code})
    assert page.status_code == 200
    return page.text


def found(page: str, number: str) -> bool:
    return f'<input type="hidden" name="case" value="{number}">' in page


def test_a_waybill_entered_by_staff_on_the_case_page_finds_its_case_however_it_is_scanned(app, db, client):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    agent = browser(app, "agent")
    done = agent.post(f"/staff/cases/{case['number']}/actions/ship_return", data={
        "csrf": csrf_of(agent), "version": str(case["version"]), "carrier": "SF",
        "tracking_number": "sf 1234 5678 9012 3"}, follow_redirects=False)
    assert done.status_code == 303
    desk = browser(app, "warehouse")
    # Typed with spaces or dashes, in lower case, or read off the barcode: each finds the case by its waybill.
    for code in ("SF1234567890123", "sf-1234-5678-9012-3", " SF 1234 5678 9012 3 "):
        page = scan(desk, code)
        assert found(page, case["number"]) and "Found by its tracking number" in page, code
    zh = scan(browser(app, "warehouse", ZH), "SF1234567890123")
    assert found(zh, case["number"])
    # The scan field is empty again: the next scan cannot be glued onto this one; the code is shown beside it.
    page = scan(desk, "SF1234567890123")
    assert re.search(r'<input id="code" name="code" value=""[^>]* autofocus', page)
    assert 'id="last-scan"' in page and "SF1234567890123</strong>" in page
    # Recorded from the scan, the parcel receives the case and is no exception.
    got = desk.post("/staff/receiving/parcels", data={"csrf": csrf_of(desk), "case": case["number"],
                                                      "code": "SF1234567890123", "condition": "intact",
                                                      **{f"qty_{line['id']}": str(line["quantity"])
                                                         for line in case["lines"]}}, follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == f"/staff/receiving?done={case['number']}"
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["state"] == "received"
    queue = desk.get("/staff/receiving/exceptions").text
    assert case["number"] not in queue and "SF1234567890123" not in queue
    assert "上次扫描：" in zh  # the last code beside the empty field, in zh-CN too


def test_a_waybill_the_shopper_entered_in_the_portal_finds_its_case(app, db, client):
    shop = shop_with_warehouse(db, client)
    recent_order(db, shop.id, "O-100")
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-100", "type": "return_refund", "channel": "portal", "lines": [{"line_no": 2, "quantity": 1}]})
    case = case.json()
    client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                json={"version": case["version"], "payload": {"override_reason": "goodwill"}})
    shopper = TestClient(app, headers=ZH)
    sign_in_customer(shopper, db, "shop", "O-100", "buyer@example.com")
    sent = shopper.post(f"/p/shop/cases/{case['number']}/ship", data={
        "csrf": csrf_of(shopper), "carrier": "ZTO", "tracking_number": "7312 3456 7891"}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    desk = browser(app, "warehouse")
    assert found(scan(desk, "731234567891"), case["number"])
    assert not found(scan(desk, "731234567890"), case["number"])  # one digit off: nothing


def test_a_waybill_known_from_a_tracking_webhook_finds_its_case_and_the_parcel_is_received(app, db, client):
    shop = shop_with_warehouse(db, client, auto_receive=True)
    early = case_awaiting_return(client, shop, db, "O-1")
    late = case_awaiting_return(client, shop, db, "O-2")
    hook = {"carrier": "YTO", "tracking_number": "yt 1234567890123",
            "events": [{"status": "in_transit", "occurred_at": "2026-11-02T08:00:00+08:00"}]}
    # The carrier's events for a parcel arrive before anyone recorded it; staff then record it as a plain action.
    assert client.post("/api/v1/tracking/webhooks/generic", headers=shop.headers("warehouse"),
                       json=hook).json()["unmatched"] == 1
    r = client.post(f"/api/v1/cases/{late['number']}/actions/ship_return", headers=shop.headers(), json={
        "version": late["version"], "payload": {"carrier": "YTO", "tracking_number": "YT-1234-5678-90123"}})
    assert r.status_code == 200, r.text
    shipments = client.get(f"/api/v1/cases/{late['number']}/shipments", headers=shop.headers()).json()
    assert [(s["tracking_number"], s["status"]) for s in shipments] == [("YT1234567890123", "in_transit")]
    desk = browser(app, "warehouse")
    assert found(scan(desk, "YT1234567890123"), late["number"])
    # A parcel the carrier reports delivered to this warehouse is received by the carrier; the desk still
    # finds it by its waybill and records what was in it.
    ship_back(client, shop, early)
    delivered = {"carrier": "SF", "tracking_number": "SF1234567890123",
                 "events": [{"status": "delivered", "occurred_at": "2026-11-03T10:00:00+08:00"}]}
    moved = client.post("/api/v1/tracking/webhooks/generic", headers=shop.headers("warehouse"), json=delivered)
    assert moved.json()["cases_moved"] == [early["number"]]
    page = scan(desk, "SF1234567890123")
    assert found(page, early["number"])
    line = early["lines"][0]
    got = desk.post("/staff/receiving/parcels", data={"csrf": csrf_of(desk), "case": early["number"],
                                                      "code": "SF1234567890123", "condition": "intact",
                                                      f"qty_{line['id']}": str(line["quantity"])},
                    follow_redirects=False)
    assert got.status_code == 303 and got.headers["location"] == f"/staff/receiving?done={early['number']}"
    after = client.get(f"/api/v1/cases/{early['number']}", headers=shop.headers()).json()
    assert after["state"] == "received" and after["lines"][0]["received_quantity"] == line["quantity"]


def test_only_parcels_that_waited_in_the_exceptions_queue_are_listed_as_matched(app, db, client):
    shop = shop_with_warehouse(db, client)
    direct = ship_back(client, shop, case_awaiting_return(client, shop, db, "O-1"))
    queued = case_awaiting_return(client, shop, db, "O-2")
    desk = browser(app, "warehouse")
    line = direct["lines"][0]
    desk.post("/staff/receiving/parcels", data={"csrf": csrf_of(desk), "case": direct["number"],
                                                "code": "SF1234567890123", "condition": "intact",
                                                f"qty_{line['id']}": "1"})
    desk.post("/staff/receiving/parcels", data={"csrf": csrf_of(desk), "code": "NO-LABEL-1", "condition": "wet"})
    queue = desk.get("/staff/receiving/exceptions").text
    assert "NO-LABEL-1" in queue and direct["number"] not in queue
    receipt_id = int(re.search(r"/staff/receiving/exceptions/(\d+)/match", queue).group(1))
    matched = desk.post(f"/staff/receiving/exceptions/{receipt_id}/match",
                        data={"csrf": csrf_of(desk), "case": queued["number"]}, follow_redirects=False)
    assert matched.status_code == 303
    queue = desk.get("/staff/receiving/exceptions").text
    assert f">{queued['number']}</a>" in queue and direct["number"] not in queue
    listed = client.get("/api/v1/receiving/exceptions", params={"status": "matched"},
                        headers=shop.headers("warehouse")).json()
    assert [r["scanned_code"] for r in listed] == ["NO-LABEL-1"]
    with db.read() as s:
        assert sorted(s.scalars(select(Receipt.status))) == ["matched", "received"]


@pytest.mark.parametrize("typed", ["JDVA12345678901-1-1-", "jdva12345678901"])
def test_a_barcode_with_the_carriers_parcel_suffix_finds_its_case(app, db, client, typed):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db), carrier="JD", number="JDVA12345678901")
    assert found(scan(browser(app, "warehouse"), typed), case["number"])
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
