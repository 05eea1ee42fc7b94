"""Exchange (incl. advance exchange), reship and repair with the 三包 counters, through the API."""

from __future__ import annotations

from sqlalchemy import func, select

from returnflow.logistics.models import Shipment
from returnflow.warehouse.models import RepairOrder
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse
from tests.support.world import make_order

OK = {"original_item": True, "signs_of_use": False, "accessories_complete": True, "packaging_intact": True,
      "defect_confirmed": True}


def count(db, model):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def outbound(client, shop, case, number="SF2222222222222", sku="SKU-A-RED", **headers):
    return client.post(f"/api/v1/cases/{case['number']}/outbound-shipments",
                       headers=shop.headers(**{"Accept-Language": "en", **headers}),
                       json={"version": case["version"], "carrier": "SF", "tracking_number": number,
                             "items": [{"line_id": case["lines"][0]["id"], "sku": sku, "quantity": 1}]})


def test_an_advance_exchange_ships_first_with_a_deadline_for_the_return(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, type_="exchange", advance=True, claim=[(1, 1)])
    r = outbound(client, shop, case)
    assert r.status_code == 201, r.text
    ship = r.json()["shipment"]
    assert ship["direction"] == "outbound" and ship["purpose"] == "exchange" and ship["return_due_at"]
    assert ship["items"][0]["sku"] == "SKU-A-RED" and ship["items"][0]["returned_sku"] == "SKU-A"
    assert client.get("/api/v1/logistics/overdue-advance-returns", headers=shop.headers()).json() == []
    late = client.get("/api/v1/logistics/overdue-advance-returns", params={"as_of": "2099-01-01T00:00:00Z"},
                      headers=shop.headers()).json()
    assert [x["case"] for x in late] == [case["number"]]
    # on its way back it still has not arrived; once received at the desk it is no longer overdue
    ship_back(client, shop, r.json()["case"])
    assert len(client.get("/api/v1/logistics/overdue-advance-returns", params={"as_of": "2099-01-01T00:00:00Z"},
                          headers=shop.headers()).json()) == 1
    assert client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"),
                       json={"code": "SF1234567890123"}).status_code == 201
    assert client.get("/api/v1/logistics/overdue-advance-returns", params={"as_of": "2099-01-01T00:00:00Z"},
                      headers=shop.headers()).json() == []
    twice = outbound(client, shop, client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json(),
                     number="SF3333333333333")
    assert twice.status_code == 422 and count(db, Shipment) == 2


def test_a_plain_exchange_ships_only_after_inspection_and_nothing_is_recorded_before(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, type_="exchange", claim=[(1, 1)])
    early = outbound(client, shop, case)
    assert early.status_code == 422 and "after inspection" in early.json()["error"]["message"]
    assert count(db, Shipment) == 0
    bad = outbound(client, shop, case, number="SF12")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "malformed_tracking_number"


def test_a_reship_goes_out_with_its_own_tracking(client, db):
    shop = shop_with_warehouse(db, client)
    make_order(db, shop, "O-9")
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-9", "type": "reship", "lines": [{"line_no": 2, "quantity": 1}]}).json()
    case = client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                       json={"version": case["version"], "payload": {"override_reason": "past the window"}}).json()
    assert case["state"] == "resolving"
    wrong = outbound(client, shop, case, number="YT1234567890123", sku="SKU-B")  # a YTO number given as SF
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "malformed_tracking_number"
    r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers(),
                    json={"version": case["version"], "carrier": "YTO", "tracking_number": "YT1234567890123",
                          "items": [{"line_id": case["lines"][0]["id"], "sku": "SKU-B", "quantity": 1}]})
    assert r.status_code == 201 and r.json()["shipment"]["purpose"] == "reship"
    ships = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert [(s["direction"], s["carrier"], s["tracking_number"]) for s in ships] == [
        ("outbound", "YTO", "YT1234567890123")]
    done = client.post(f"/api/v1/cases/{case['number']}/actions/resolve", headers=shop.headers(),
                       json={"version": r.json()["case"]["version"], "payload": {}})
    assert done.status_code == 200 and done.json()["state"] == "resolved"


def inspected_repair(client, shop, db):
    case = case_awaiting_return(client, shop, db, type_="repair", category="electronics", claim=[(1, 1)])
    case = ship_back(client, shop, case)
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": case["number"]})
    assert r.status_code == 201
    r = client.post(f"/api/v1/cases/{case['number']}/inspections", headers=shop.headers("warehouse"), json={
        "lines": [{"line_id": case["lines"][0]["id"], "grade": "B", "verdict": "accept",
                   "checklist": {**OK, "serial_number": True, "ccc_mark": True}}]})
    assert r.status_code == 201 and r.json()["case"]["state"] == "inspected"
    return r.json()["case"]


def test_two_repairs_that_did_not_hold_entitle_an_exchange_or_return(client, db):
    shop = shop_with_warehouse(db, client)
    case = inspected_repair(client, shop, db)
    line = case["lines"][0]["id"]
    url = f"/api/v1/cases/{case['number']}/repairs"
    versions = {"v": case["version"]}

    def start():
        r = client.post(url, headers=shop.headers("warehouse"), json={
            "version": versions["v"], "line_id": line, "mode": "mail_in", "fault": "no sound on the left"})
        assert r.status_code == 201, r.text
        versions["v"] = r.json()["case"]["version"]
        assert r.json()["case"]["state"] == "in_repair" and r.json()["repair"]["in_warranty"] is True
        return r.json()["repair"]["id"]

    def finish(repair_id, outcome, cost="0"):
        r = client.post(f"{url}/{repair_id}/finish", headers=shop.headers("warehouse"), json={
            "version": versions["v"], "outcome": outcome, "cost": cost})
        assert r.status_code == 200, r.text
        versions["v"] = r.json()["case"]["version"]
        return r.json()

    first = start()
    dup = client.post(url, headers=shop.headers("warehouse"), json={
        "version": versions["v"], "line_id": line, "fault": "again"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "repair_open"
    body = finish(first, "failed")
    assert body["case"]["state"] == "in_repair" and body["counters"]["did_not_hold"] == 1
    assert body["counters"]["entitled"] == []
    body = finish(start(), "failed")
    assert body["counters"]["failed_repairs"] == 2 and body["counters"]["entitled"] == ["exchange", "return"]
    assert body["counters"]["rules"] == ["CN12"]
    again = client.post(f"{url}/{first}/finish", headers=shop.headers("warehouse"), json={
        "version": versions["v"], "outcome": "repaired"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "repair_closed"
    body = finish(start(), "repaired", cost="88.00")
    assert body["case"]["state"] == "resolving" and body["repair"]["cost"] == "88.00"
    listing = client.get(url, headers=shop.headers()).json()
    assert [r["status"] for r in listing["repairs"]] == ["failed", "failed", "repaired"]
    counters = listing["lines"][str(line)]
    assert counters["warranty"]["months"] == 12 and counters["warranty"]["running"] is True
    # delivered 2026-11-04: inside 7 days everything, inside 15 exchange or repair, later repair only (CN11)
    days = counters["warranty"]["days_since_start"]
    assert counters["sanbao_window"] == (["return", "exchange", "repair"] if days <= 7 else
                                         ["exchange", "repair"] if days <= 15 else ["repair"])
    assert count(db, RepairOrder) == 3


def test_a_repair_needs_a_repair_case_and_a_stale_version_changes_nothing(client, db):
    shop = shop_with_warehouse(db, client)
    case = inspected_repair(client, shop, db)
    stale = client.post(f"/api/v1/cases/{case['number']}/repairs", headers=shop.headers("warehouse"), json={
        "version": case["version"] - 1, "line_id": case["lines"][0]["id"], "fault": "x"})
    assert stale.status_code == 409 and count(db, RepairOrder) == 0
    ret = case_awaiting_return(client, shop, db, "O-2")
    wrong = client.post(f"/api/v1/cases/{ret['number']}/repairs", headers=shop.headers("warehouse"), json={
        "version": ret["version"], "line_id": ret["lines"][0]["id"], "fault": "x"})
    assert wrong.status_code == 422 and count(db, RepairOrder) == 0


def test_a_dearer_replacement_carries_the_price_difference_for_the_money_side(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, type_="exchange", advance=True, claim=[(1, 1)])
    url = f"/api/v1/cases/{case['number']}/outbound-shipments"
    item = {"line_id": case["lines"][0]["id"], "sku": "SKU-A-PRO", "quantity": 1}
    for bad, field in (({**item, "unit_price": "12.345"}, "items[0].unit_price"),
                       ({**item, "quantity": 5}, "items[0].quantity"),
                       ({**item, "line_id": 999}, "items[0].line_id")):
        r = client.post(url, headers=shop.headers(), json={"version": case["version"], "carrier": "SF",
                                                           "tracking_number": "SF2222222222222", "items": [bad]})
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert count(db, Shipment) == 0
    r = client.post(url, headers=shop.headers(), json={"version": case["version"], "carrier": "SF",
                                                       "tracking_number": "SF2222222222222",
                                                       "items": [{**item, "unit_price": "120.00"}]})
    assert r.status_code == 201
    timeline = client.get(f"/api/v1/cases/{case['number']}/timeline", headers=shop.headers()).json()
    sent = timeline[-1]["payload"]["items"][0]
    assert timeline[-1]["action"] == "ship_replacement"
    assert sent["price_difference"] == "20.00" and sent["price_difference_minor"] == 2000
