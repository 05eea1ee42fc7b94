"""Return instructions, labels, parcels and tracking through the API, with the real carrier samples."""

from __future__ import annotations

import pypdfium2
import zxingcpp
from sqlalchemy import func, select

from returnflow.cases.models import OutboxMessage
from returnflow.logistics.models import Shipment, TrackingEvent
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse
from tests.support.tracking_samples import aftership_bodies, correios_body


def count(db, model, *where):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def get_case(client, shop, number):
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()


def test_instructions_route_by_category_and_region_and_are_sent_by_notification(client, db):
    shop = shop_with_warehouse(db, client)
    r = client.put("/api/v1/return-addresses/ELEC", headers=shop.headers("admin"), json={
        "name": "深圳数码退货仓", "address": "深圳市南山区科技园 1 号", "categories": ["electronics"],
        "carriers": ["SF"]})
    assert r.status_code == 200
    plain = case_awaiting_return(client, shop, db, "O-1")
    phone = case_awaiting_return(client, shop, db, "O-2", category="electronics")
    body = client.get(f"/api/v1/cases/{plain['number']}/return-instructions", headers=shop.headers()).json()
    assert body["address"]["warehouse"] == "SH" and body["write_on_parcel"] == plain["number"]
    assert [c["code"] for c in body["carriers"]] == ["SF", "YTO"] and body["carriers"][0]["name"] == "顺丰速运"
    assert body["deadline"] > plain["updated_at"] and len(body["packing_advice"]) >= 3
    en = client.get(f"/api/v1/cases/{phone['number']}/return-instructions",
                    headers=shop.headers(**{"Accept-Language": "en"})).json()
    assert en["address"]["warehouse"] == "ELEC" and en["carriers"][0]["name"] == "SF Express"

    with db.read() as s:
        sent = [m.payload for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
                if m.payload.get("template") == "return_instructions"]  # beside the step notices of the SLA
    # approval already sent each customer the instructions (the warehouse routed per case)
    assert sorted((p["template"], p["data"]["address"]["warehouse"]) for p in sent) == [
        ("return_instructions", "ELEC"), ("return_instructions", "SH")]
    before = len(sent)
    r = client.post(f"/api/v1/cases/{plain['number']}/return-instructions/send", headers=shop.headers())
    assert r.status_code == 202
    with db.read() as s:
        rows = [m for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify")
                                     .order_by(OutboxMessage.id)) if m.payload.get("template") == "return_instructions"]
    assert len(rows) == before + 1
    payload = rows[-1].payload
    assert payload["template"] == "return_instructions" and payload["channel"] == "email"
    assert payload["to"] == "C-1@example.com" and payload["data"]["write_on_parcel"] == plain["number"]


def test_a_merchant_without_a_return_address_gets_a_clear_refusal(client, db):
    from tests.support.world import make_order, make_shop

    shop = make_shop(db, return_address=False)
    make_order(db, shop)
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]}).json()
    r = client.get(f"/api/v1/cases/{case['number']}/return-instructions",
                   headers=shop.headers(**{"Accept-Language": "zh-CN"}))
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_return_address"
    assert "退货地址" in r.json()["error"]["message"]


def test_the_label_pdf_reads_back_its_text_and_both_barcodes_with_an_embedded_cjk_font(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    r = client.get(f"/api/v1/cases/{case['number']}/return-label.pdf", headers=shop.headers())
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = pypdfium2.PdfDocument(r.content)
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    for expected in (case["number"], "退货标签", "RETURN LABEL", "上海市浦东新区张江路 100 号", "SKU-A", "Item SKU-A",
                     "装箱单", "PACKING SLIP", "Customer C-1", "O-1"):
        assert expected in text, expected
    found = {(str(b.format), b.text) for b in zxingcpp.read_barcodes(page.render(scale=3).to_pil())}
    formats = {fmt for fmt, value in found if value == case["number"]}
    assert any("128" in f for f in formats) and any("QR" in f for f in formats), found
    # the CJK font travels inside the file (a subset TrueType font program), so it prints the same elsewhere
    assert b"/FontFile2" in r.content and b"WenQuanYiMicroHei" in r.content
    pdf.close()


def test_a_return_parcel_needs_a_tracking_number_of_the_carriers_format(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    url = f"/api/v1/cases/{case['number']}/return-shipment"
    for carrier, number, code, field in (("CORREIOS", "BE058714267BR", "malformed_tracking_number", "tracking_number"),
                                         ("SF", "12345", "malformed_tracking_number", "tracking_number"),
                                         ("PIGEON", "SF1234567890123", "unknown_carrier", "carrier")):
        r = client.post(url, headers=shop.headers(**{"Accept-Language": "en"}),
                        json={"version": case["version"], "carrier": carrier, "tracking_number": number})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == field
    zh = client.post(url, headers=shop.headers(**{"Accept-Language": "zh-CN"}),
                     json={"version": case["version"], "carrier": "SF", "tracking_number": "12345"})
    assert "顺丰" in zh.json()["error"]["message"]
    assert count(db, Shipment) == 0 and get_case(client, shop, case["number"])["state"] == "awaiting_return"

    pickup = {"window_start": "2026-11-25T09:00:00+08:00", "window_end": "2026-11-25T12:00:00+08:00",
              "address": "北京市朝阳区建国路 1 号", "phone": "13800000000"}
    r = client.post(url, headers=shop.headers(),
                    json={"version": case["version"], "carrier": "sf", "tracking_number": "sf 1234567890123",
                          "pickup": pickup})
    assert r.status_code == 201, r.text
    assert r.json()["case"]["state"] == "return_in_transit"
    assert r.json()["shipment"]["tracking_number"] == "SF1234567890123" and r.json()["shipment"]["pickup"]
    other = case_awaiting_return(client, shop, db, "O-2")
    dup = client.post(f"/api/v1/cases/{other['number']}/return-shipment", headers=shop.headers(),
                      json={"version": other["version"], "carrier": "SF", "tracking_number": "SF1234567890123"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_tracking_number"


def webhook(client, shop, fmt, body, **headers):
    return client.post(f"/api/v1/tracking/webhooks/{fmt}", headers=shop.headers("admin", **headers), json=body)


def test_generic_events_are_stored_once_and_an_older_event_never_sets_the_status_back(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))
    events = [{"status": "delivered", "occurred_at": "2026-11-26T15:00:00+08:00", "description": "已签收"},
              {"status": "in_transit", "occurred_at": "2026-11-25T09:00:00+08:00", "description": "运输中"}]
    r = webhook(client, shop, "generic", {"carrier": "SF", "tracking_number": "SF1234567890123", "events": events})
    assert r.status_code == 200 and r.json()["accepted"] == 2 and r.json()["shipments"][0]["status"] == "delivered"
    again = webhook(client, shop, "generic", {"carrier": "SF", "tracking_number": "SF1234567890123",
                                              "events": events[1:]})
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 1
    ships = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert ships[0]["status"] == "delivered"
    assert [e["status"] for e in ships[0]["events"]] == ["delivered", "in_transit"]
    assert count(db, TrackingEvent) == 2
    # no auto-receive at this warehouse: the case waits for the desk
    assert get_case(client, shop, case["number"])["state"] == "return_in_transit"


def test_bad_webhook_bodies_are_refused_and_store_nothing(client, db):
    shop = shop_with_warehouse(db, client)
    for fmt, body, field in (("generic", {"carrier": "SF", "tracking_number": "SF1", "events": [{"status": "?"}]},
                              "events[0].status"),
                             ("aftership", {"msg": {"slug": "pigeon", "tracking_number": "1", "checkpoints": []}},
                              "msg.slug"),
                             ("correios", {"objeto": [{"numero": "BE058714266BR", "evento": [
                                 {"tipo": "BDE", "status": "23", "data": "2018-07-23", "hora": "09:48"}]}]},
                              "objeto[0].evento[0].data"),
                             ("fedex", {}, "format")):
        r = webhook(client, shop, fmt, body, **{"Accept-Language": "en"})
        assert r.status_code == 422, (fmt, r.text)
        assert r.json()["error"]["field"] == field
    assert count(db, TrackingEvent) == 0


def test_events_for_an_unregistered_parcel_wait_and_join_it_when_registered(client, db):
    shop = shop_with_warehouse(db, client)
    r = webhook(client, shop, "correios", correios_body())
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 12 and body["unmatched"] == 12 and len(body["not_found"]) == 2
    waiting = client.get("/api/v1/tracking/unmatched", headers=shop.headers()).json()
    assert {w["tracking_number"] for w in waiting} == {"BE058714266BR", "JT365572014BR"}
    case = case_awaiting_return(client, shop, db)
    ship_back(client, shop, case, "CORREIOS", "BE058714266BR")
    ships = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert ships[0]["status"] == "returned_to_sender" and len(ships[0]["events"]) == 11
    assert ships[0]["events"][0]["code"] == "BDE/23"
    assert {w["tracking_number"] for w in client.get("/api/v1/tracking/unmatched",
                                                     headers=shop.headers()).json()} == {"JT365572014BR"}
    # the same answer posted again is recognised event by event
    assert webhook(client, shop, "correios", correios_body()).json()["duplicates"] == 12


def test_events_waiting_for_a_number_join_the_parcel_recorded_as_a_plain_case_action(client, db):
    # The shipment of a plain ship_return is written by the core from what logistics.hooks returns (the row and
    # the adoption of the carrier events that came before it).
    shop = shop_with_warehouse(db, client)
    assert webhook(client, shop, "correios", correios_body()).json()["unmatched"] == 12
    case = case_awaiting_return(client, shop, db)
    r = client.post(f"/api/v1/cases/{case['number']}/actions/ship_return", headers=shop.headers(),
                    json={"version": case["version"], "payload": {"carrier": "correios",
                                                                  "tracking_number": "BE058714266BR"}})
    assert r.status_code == 200, r.text
    ships = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert [(s["carrier"], s["tracking_number"], s["status"]) for s in ships] == [
        ("CORREIOS", "BE058714266BR", "returned_to_sender")]
    assert len(ships[0]["events"]) == 11
    assert count(db, TrackingEvent, TrackingEvent.shipment_id.is_(None)) == 1  # the other number still waits


def test_a_parcel_returned_to_the_customer_notifies_them(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db), "CORREIOS", "BE058714266BR")
    webhook(client, shop, "correios", correios_body())
    with db.read() as s:
        templates = [m.payload.get("template") for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "notify"))]
    assert "parcel_returned_to_sender" in templates
    assert get_case(client, shop, case["number"])["state"] == "return_in_transit"


def test_delivered_to_a_receiving_warehouse_moves_the_case_to_received(client, db):
    shop = shop_with_warehouse(db, client, auto_receive=True)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db), "DPDUK", "15502370264989N")
    dpd = next(b for b in aftership_bodies() if b["msg"]["tracking_number"] == "15502370264989N")
    r = webhook(client, shop, "aftership", dpd)
    assert r.status_code == 200 and r.json()["cases_moved"] == [case["number"]]
    after = get_case(client, shop, case["number"])
    assert after["state"] == "received"
    timeline = client.get(f"/api/v1/cases/{case['number']}/timeline", headers=shop.headers()).json()
    assert timeline[-1]["action"] == "receive" and timeline[-1]["payload"]["source"] == "carrier_delivered"
    assert timeline[-1]["actor"]["role"] == "system"


def test_webhooks_need_a_merchant_staff_token(client, db):
    shop = shop_with_warehouse(db, client)
    body = {"carrier": "SF", "tracking_number": "SF1234567890123",
            "events": [{"status": "delivered", "occurred_at": "2026-11-26T15:00:00+08:00"}]}
    assert client.post("/api/v1/tracking/webhooks/generic", json=body).status_code == 401
    finance = client.post("/api/v1/tracking/webhooks/generic", headers=shop.headers("finance"), json=body)
    assert finance.status_code == 403
    assert count(db, TrackingEvent) == 0


def test_an_event_for_a_malformed_number_is_kept_for_matching_and_the_sender_is_told(client, db):
    shop = shop_with_warehouse(db, client)
    body = {"carrier": "SF", "tracking_number": "12",
            "events": [{"status": "in_transit", "occurred_at": "2026-11-26T09:00:00+08:00"},
                       {"status": "out_for_delivery", "occurred_at": "2026-11-27T09:00:00+08:00"}]}
    r = webhook(client, shop, "generic", body, **{"Accept-Language": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2 and r.json()["unmatched"] == 2
    [warning] = r.json()["warnings"]
    assert warning["code"] == "malformed_tracking_number" and warning["field"] == "tracking_number"
    assert warning["tracking_number"] == "12" and warning["kept_as"] == "unmatched"
    assert "not a SF Express tracking number" in warning["message"] or "tracking number" in warning["message"]
    zh = webhook(client, shop, "generic", {**body, "tracking_number": "34"}, **{"Accept-Language": "zh-CN"})
    assert "运单号" in zh.json()["warnings"][0]["message"]
    # Nothing lost: both numbers wait in the unmatched list; a well-formed unknown number carries no warning.
    waiting = client.get("/api/v1/tracking/unmatched", headers=shop.headers("warehouse")).json()
    assert sorted({w["tracking_number"] for w in waiting}) == ["12", "34"]
    fine = webhook(client, shop, "generic", {**body, "tracking_number": "SF1234567890123"})
    assert fine.json()["unmatched"] == 2 and fine.json()["warnings"] == []
    # The same again: duplicates, no new warning, nothing stored twice.
    again = webhook(client, shop, "generic", body)
    assert again.json()["duplicates"] == 2 and again.json()["warnings"] == []
    assert count(db, TrackingEvent) == 6
