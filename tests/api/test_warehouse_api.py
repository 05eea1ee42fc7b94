"""The receiving desk, the exceptions queue, inspection and disposition through the API."""

from __future__ import annotations

from sqlalchemy import func, select

from returnflow.cases.models import CaseEvent, OutboxMessage
from returnflow.cases.models import WebhookEndpoint
from returnflow.warehouse.models import Disposition, Inspection, Receipt, ReceiptLine
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse

TWO_LINES = (("SKU-A", "100.00", 2), ("SKU-B", "35.50", 1))
OK = {"original_item": True, "signs_of_use": False, "accessories_complete": True, "packaging_intact": True,
      "defect_confirmed": None}


def count(db, model, *where):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def parcel(client, shop, code, role="warehouse", **body):
    return client.post("/api/v1/receiving/parcels", headers=shop.headers(role, **{"Accept-Language": "en"}),
                       json={"code": code, **body})


def test_a_scan_finds_the_case_by_case_number_tracking_number_or_order_number(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))
    for code, by in ((case["number"], "case_number"), (case["number"].lower(), "case_number"),
                     ("sf1234567890123", "tracking_number"), ("O-1", "order_number")):
        r = client.get("/api/v1/receiving/scan", params={"code": code}, headers=shop.headers("warehouse"))
        assert r.status_code == 200 and r.json()["matched"], code
        assert r.json()["by"] == by and r.json()["case"]["number"] == case["number"]
        assert r.json()["case"]["lines"][0]["expected"] == 2
    nothing = client.get("/api/v1/receiving/scan", params={"code": "NOTHING"},
                         headers=shop.headers("warehouse", **{"Accept-Language": "en"})).json()
    assert nothing["matched"] is False and nothing["candidates"] == []
    assert "matches no case" in nothing["message"] and "exceptions queue" in nothing["message"]
    zh = client.get("/api/v1/receiving/scan", params={"code": "NOTHING"},
                    headers=shop.headers("warehouse", **{"Accept-Language": "zh-CN"})).json()
    assert "异常件队列" in zh["message"]


def test_a_scan_that_matches_several_cases_is_refused_with_the_candidates_and_records_nothing(client, db):
    shop = shop_with_warehouse(db, client)
    first = case_awaiting_return(client, shop, db, "O-1", lines=TWO_LINES, claim=[(1, 2)])
    second = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 2, "quantity": 1}]}).json()
    client.post(f"/api/v1/cases/{second['number']}/actions/approve", headers=shop.headers(),
                json={"version": second["version"], "payload": {"override_reason": "past the window"}})
    r = parcel(client, shop, "O-1")
    assert r.status_code == 409 and r.json()["error"]["code"] == "ambiguous_scan"
    assert r.json()["error"]["field"] == "code" and "scan the case number" in r.json()["error"]["message"]
    assert set(r.json()["error"]["allowed"]) == {first["number"], second["number"]}
    zh = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse", **{"Accept-Language": "zh-CN"}),
                     json={"code": "O-1"})
    assert zh.status_code == 409 and "对应 2 个售后单" in zh.json()["error"]["message"]
    assert count(db, Receipt) == 0
    # The scan itself says the same before anything is recorded, with both candidates.
    seen = client.get("/api/v1/receiving/scan", params={"code": "O-1"},
                      headers=shop.headers("warehouse", **{"Accept-Language": "en"})).json()
    assert seen["matched"] is False and set(seen["candidates"]) == {first["number"], second["number"]}
    assert "matches 2 cases" in seen["message"]
    # Scanning the case number on the parcel then finds exactly one (below).
    assert parcel(client, shop, second["number"]).status_code == 201


def test_an_unmatched_parcel_waits_in_the_exceptions_queue_and_is_matched_later(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    r = parcel(client, shop, "YT9999999999999", condition="damaged_packaging", note="no case number on it")
    assert r.status_code == 202 and r.json()["status"] == "unmatched"
    queue = client.get("/api/v1/receiving/exceptions", headers=shop.headers("warehouse")).json()
    assert [q["scanned_code"] for q in queue] == ["YT9999999999999"] and queue[0]["condition"] == "damaged_packaging"
    receipt_id = queue[0]["id"]
    bad = client.post(f"/api/v1/receiving/exceptions/{receipt_id}/match", headers=shop.headers("warehouse"),
                      json={"case": case["number"], "lines": [{"line_id": 999, "quantity": 1}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "lines[0]"
    assert client.get("/api/v1/receiving/exceptions", headers=shop.headers("warehouse")).json()[0]["id"] == receipt_id
    line_id = case["lines"][0]["id"]
    ok = client.post(f"/api/v1/receiving/exceptions/{receipt_id}/match", headers=shop.headers("warehouse"),
                     json={"case": case["number"], "lines": [{"line_id": line_id, "quantity": 1}]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["case"]["state"] == "received" and ok.json()["case"]["lines"][0]["received_quantity"] == 1
    assert client.get("/api/v1/receiving/exceptions", headers=shop.headers("warehouse")).json() == []
    again = client.post(f"/api/v1/receiving/exceptions/{receipt_id}/match", headers=shop.headers("warehouse"),
                        json={"case": case["number"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_matched"


def test_partial_arrivals_add_up_per_line_and_more_than_claimed_is_refused(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, lines=TWO_LINES)
    a, b = (line["id"] for line in case["lines"])
    first = parcel(client, shop, case["number"], lines=[{"line_id": a, "quantity": 1}])
    assert first.status_code == 201, first.text
    assert [x["received_quantity"] for x in first.json()["case"]["lines"]] == [1, 0]
    too_many = parcel(client, shop, case["number"], lines=[{"line_id": a, "quantity": 2}])
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "lines[0].quantity"
    assert "only 1 more" in too_many.json()["error"]["message"]
    assert count(db, Receipt) == 1 and count(db, ReceiptLine) == 1
    second = parcel(client, shop, case["number"], condition="opened",
                    lines=[{"sku": "SKU-B", "quantity": 1, "condition": "damaged"}, {"line_id": a, "quantity": 1}])
    assert second.status_code == 201
    assert [x["received_quantity"] for x in second.json()["case"]["lines"]] == [2, 1]
    desk = client.get(f"/api/v1/cases/{case['number']}/warehouse", headers=shop.headers("warehouse")).json()
    assert [r["condition"] for r in desk["arrived"]] == ["intact", "opened"]
    assert desk["arrived"][1]["lines"][0] == {"line_id": b, "quantity": 1, "condition": "damaged"}
    assert [x["expected"] for x in desk["case"]["lines"]] == [0, 0]
    nothing_left = parcel(client, shop, case["number"])
    assert nothing_left.status_code == 409 and nothing_left.json()["error"]["code"] == "nothing_expected"


def test_bad_parcel_input_names_the_field_and_changes_nothing(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    for body, field in (({"condition": "soggy"}, "condition"),
                        ({"photos": [12345]}, "photos[0]"),
                        ({"lines": [{"line_id": case["lines"][0]["id"], "quantity": 1, "condition": "meh"}]},
                         "lines[0].condition")):
        r = parcel(client, shop, case["number"], **body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert parcel(client, shop, case["number"], role="agent").status_code == 403
    assert count(db, Receipt) == 0
    assert count(db, CaseEvent, CaseEvent.action == "receive") == 0


def received_case(client, shop, db, **kw):
    case = case_awaiting_return(client, shop, db, **kw)
    r = parcel(client, shop, case["number"])
    assert r.status_code == 201
    return r.json()["case"]


def inspect(client, shop, case, lines, **headers):
    return client.post(f"/api/v1/cases/{case['number']}/inspections",
                       headers=shop.headers("warehouse", **{"Accept-Language": "en", **headers}), json={"lines": lines})


def test_inspection_uses_the_categorys_checklist_and_records_the_decision_apart_from_the_arrival(client, db):
    shop = shop_with_warehouse(db, client)
    case = received_case(client, shop, db, category="electronics")
    line = case["lines"][0]["id"]
    checklists = client.get(f"/api/v1/cases/{case['number']}/warehouse", headers=shop.headers("warehouse")).json()
    keys = [item["key"] for item in checklists["checklists"][str(line)]]
    assert "serial_number" in keys and "ccc_mark" in keys and "original_item" in keys
    r = inspect(client, shop, case, [{"line_id": line, "checklist": OK, "grade": "B", "verdict": "accept"}])
    assert r.status_code == 422 and r.json()["error"]["code"] == "checklist_incomplete"
    assert "serial_number" in r.json()["error"]["message"]
    answers = {**OK, "serial_number": True, "ccc_mark": True}
    for extra, field in (({"verdict": "accept_with_deduction", "deduction": "999.00"}, "lines[0].deduction"),
                         ({"verdict": "accept_with_deduction", "deduction": "1.234"}, "lines[0].deduction"),
                         ({"verdict": "accept", "deduction": "5.00"}, "lines[0].deduction"),
                         ({"verdict": "reject"}, "lines[0].reason")):
        bad = inspect(client, shop, case, [{"line_id": line, "checklist": answers, "grade": "C", **extra}])
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, (extra, bad.text)
    assert count(db, Inspection) == 0
    ok = inspect(client, shop, case, [{"line_id": line, "checklist": {**answers, "signs_of_use": True}, "grade": "C",
                                       "verdict": "accept_with_deduction", "deduction": "30.00",
                                       "note": "scratched screen"}])
    assert ok.status_code == 201, ok.text
    after = ok.json()["case"]
    assert after["state"] == "inspected"
    assert after["lines"][0]["received_quantity"] == 2 and after["lines"][0]["accepted_quantity"] == 2
    desk = client.get(f"/api/v1/cases/{case['number']}/warehouse", headers=shop.headers("warehouse")).json()
    assert desk["decided"][0]["verdict"] == "accept_with_deduction" and desk["decided"][0]["deduction"] == "30.00"
    assert desk["arrived"][0]["lines"][0]["quantity"] == 2  # what arrived is untouched by the decision
    timeline = client.get(f"/api/v1/cases/{case['number']}/timeline", headers=shop.headers()).json()
    assert timeline[-1]["payload"]["lines"][0]["deduction"]["amount_minor"] == 3000
    twice = inspect(client, shop, case, [{"line_id": line, "checklist": answers, "grade": "A", "verdict": "accept"}])
    assert twice.status_code == 409


def test_a_line_that_never_arrived_cannot_be_inspected_and_the_case_waits_for_the_lines_that_did(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, lines=TWO_LINES)
    a, b = (line["id"] for line in case["lines"])
    parcel(client, shop, case["number"], lines=[{"line_id": a, "quantity": 2}])
    r = inspect(client, shop, case, [{"line_id": b, "checklist": OK, "grade": "A", "verdict": "accept"}],
                **{"Accept-Language": "zh-CN"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "line_not_arrived"
    assert "尚未到货" in r.json()["error"]["message"]
    ok = inspect(client, shop, case, [{"line_id": a, "checklist": OK, "grade": "D", "verdict": "reject",
                                       "reason": "not the item we sold"}])
    assert ok.status_code == 201
    lines = ok.json()["case"]["lines"]
    assert ok.json()["case"]["state"] == "inspected"
    assert [(x["received_quantity"], x["accepted_quantity"]) for x in lines] == [(2, 0), (0, 0)]


def test_each_unit_is_disposed_of_once_and_emits_an_inventory_movement_and_a_webhook(client, db):
    shop = shop_with_warehouse(db, client)
    case = received_case(client, shop, db)
    line = case["lines"][0]["id"]
    url = f"/api/v1/cases/{case['number']}/dispositions"
    early = client.post(url, headers=shop.headers("warehouse"), json={"line_id": line, "kind": "restock"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_inspected"
    inspect(client, shop, case, [{"line_id": line, "checklist": OK, "grade": "A", "verdict": "accept"}])
    with db.transaction() as s:  # a receiver for the webhook (without one, none is queued)
        s.add(WebhookEndpoint(merchant_id=shop.id, url="http://127.0.0.1:9/hook", secret="whsec_x", events=[]))
    before = count(db, OutboxMessage)
    r = client.post(url, headers=shop.headers("warehouse"), json={"line_id": line, "kind": "restock", "units": [1]})
    assert r.status_code == 201 and r.json()["dispositions"][0]["unit"] == 1
    with db.read() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()[before:]
    assert [m.topic for m in rows] == ["inventory_movement", "webhook"]
    assert rows[0].payload["sku"] == "SKU-A" and rows[0].payload["to_sellable_stock"] is True
    assert rows[1].payload["event"]["type"] == "inventory.movement" and rows[1].payload["endpoint_id"]
    twice = client.post(url, headers=shop.headers("warehouse"), json={"line_id": line, "kind": "scrap", "units": [1]})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_disposed"
    rtv = client.post(url, headers=shop.headers("warehouse", **{"Accept-Language": "en"}),
                      json={"line_id": line, "kind": "return_to_vendor"})
    assert rtv.status_code == 422 and rtv.json()["error"]["field"] == "supplier"
    ok = client.post(url, headers=shop.headers("warehouse"),
                     json={"line_id": line, "kind": "return_to_vendor", "supplier": "Shenzhen Audio Co."})
    assert ok.status_code == 201 and ok.json()["dispositions"][0] == {**ok.json()["dispositions"][0], "unit": 2,
                                                                       "supplier": "Shenzhen Audio Co."}
    more = client.post(url, headers=shop.headers("warehouse"), json={"line_id": line, "kind": "donate"})
    assert more.status_code == 409 and more.json()["error"]["code"] == "already_disposed"
    assert count(db, Disposition) == 2
    assert count(db, OutboxMessage) == before + 4


def test_a_parcel_for_a_case_that_waits_for_no_goods_is_held_as_an_exception_not_lost(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    cancelled = client.post(f"/api/v1/cases/{case['number']}/actions/cancel", headers=shop.headers(),
                            json={"version": case["version"], "payload": {}})
    assert cancelled.json()["state"] == "cancelled"
    r = parcel(client, shop, case["number"])
    assert r.status_code == 202 and r.json()["status"] == "case_not_receiving"
    queue = client.get("/api/v1/receiving/exceptions", headers=shop.headers("warehouse")).json()
    assert len(queue) == 1 and "cancelled" in queue[0]["note"] and case["number"] in queue[0]["note"]
    assert count(db, CaseEvent, CaseEvent.action == "receive") == 0


def test_a_retried_scan_with_the_same_idempotency_key_records_the_parcel_once(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    body = {"code": case["number"], "lines": [{"line_id": case["lines"][0]["id"], "quantity": 1}]}
    headers = shop.headers("warehouse", **{"Idempotency-Key": "desk-1-parcel-7"})
    first = client.post("/api/v1/receiving/parcels", headers=headers, json=body)
    again = client.post("/api/v1/receiving/parcels", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert count(db, Receipt) == 1 and first.json()["case"]["lines"][0]["received_quantity"] == 1


def test_photos_of_an_unmatched_parcel_are_kept_and_move_to_the_case_when_it_is_matched(client, db):
    from returnflow.cases.models import Attachment
    from returnflow.warehouse.models import ReceiptPhoto
    from tests.support.portal import png

    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    r = parcel(client, shop, "YT9999999999999", condition="crushed", note="no label")
    receipt_id = r.json()["receipt"]["id"]
    url = f"/api/v1/receiving/exceptions/{receipt_id}/photos"
    first, second = png(64, 48), png(80, 60)
    for data in (first, second):
        up = client.post(url, headers=shop.headers("warehouse"), files={"file": ("box.png", data, "image/png")})
        assert up.status_code == 201, up.text
    photo_id = up.json()["id"]
    # Wrong type, a role that does not receive parcels, a parcel that does not exist: refused, nothing stored.
    bad = client.post(url, headers=shop.headers("warehouse", **{"Accept-Language": "en"}),
                      files={"file": ("box.png", b"MZ\x90\x00 not an image", "image/png")})
    assert bad.status_code in (415, 422) and bad.json()["error"]["field"] == "file"
    assert client.post(url, headers=shop.headers("agent"),
                       files={"file": ("box.png", first, "image/png")}).status_code == 403
    missing = client.post("/api/v1/receiving/exceptions/99999/photos", headers=shop.headers("warehouse"),
                          files={"file": ("box.png", first, "image/png")})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "receipt_id"
    assert count(db, ReceiptPhoto) == 2
    queue = client.get("/api/v1/receiving/exceptions", headers=shop.headers("warehouse")).json()
    assert len(queue[0]["parcel_photos"]) == 2 and queue[0]["parcel_photos"][1]["id"] == photo_id
    got = client.get(f"{url}/{photo_id}", headers=shop.headers("agent"))
    assert got.status_code == 200 and got.content == second and got.headers["content-type"] == "image/png"

    ok = client.post(f"/api/v1/receiving/exceptions/{receipt_id}/match", headers=shop.headers("warehouse"),
                     json={"case": case["number"]})
    assert ok.status_code == 200, ok.text
    moved = ok.json()["receipt"]["photos"]
    assert len(moved) == 2 and all(p["attachment_id"] in moved for p in ok.json()["receipt"]["parcel_photos"])
    # They are the case's evidence now: listed, downloadable from the case, on its timeline.
    detail = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    assert sorted(a["id"] for a in detail["attachments"]) == sorted(moved)
    for attachment_id, data in zip(sorted(moved), (first, second)):
        r = client.get(f"/api/v1/cases/{case['number']}/attachments/{attachment_id}", headers=shop.headers())
        assert r.status_code == 200 and r.content == data
    assert count(db, CaseEvent, CaseEvent.action == "attach") == 2
    assert count(db, Attachment) == 2
    late = client.post(url, headers=shop.headers("warehouse", **{"Accept-Language": "en"}),
                       files={"file": ("box.png", first, "image/png")})
    assert late.status_code == 409 and late.json()["error"]["code"] == "already_matched"
    assert count(db, ReceiptPhoto) == 2
