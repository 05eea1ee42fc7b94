"""Always somewhere to send it, and tracking that counts: the return address guard, the shopper's parcel form,
its correction until the carrier's first scan, and the same send-by time on the page and the label."""

from __future__ import annotations

import re

import pypdfium2
import pytest
from sqlalchemy import func, select

from returnflow.cases.models import OutboxMessage
from returnflow.logistics.models import Shipment
from returnflow.notify import templates
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.world import make_shop

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}
ADDRESS = {"name": "上海退货仓", "contact": "李四", "phone": "021-12345678", "address": "上海市浦东新区张江路 100 号",
           "postcode": "201203", "carriers": ["ZTO", "SF"], "is_default": True}


def open_case(client, shop, order="O-100", line=1):
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": order, "type": "return_refund", "channel": "portal", "lines": [{"line_no": line, "quantity": 1}]})
    assert r.status_code == 201, r.text
    return r.json()


def approve(client, shop, case, **headers):
    return client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(**headers),
                       json={"version": case["version"], "payload": {"override_reason": "goodwill"}})


def shipments(db) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Shipment))


@pytest.fixture
def bare(db):
    shop = make_shop(db, "bare", return_address=False)
    recent_order(db, shop.id, "O-100")
    return shop


def test_no_case_needing_the_goods_back_is_approved_without_a_return_address(client, db, bare):
    case = open_case(client, bare, line=1)  # the coat: above what the policy approves by itself
    zh = approve(client, bare, case, **ZH)
    assert zh.status_code == 422 and "设置 → 退货地址" in zh.json()["error"]["message"]
    en = approve(client, bare, case, **EN)
    assert "Settings → Return addresses" in en.json()["error"]["message"]
    assert client.get(f"/api/v1/cases/{case['number']}", headers=bare.headers()).json()["state"] == "pending_review"

    assert client.put("/api/v1/return-addresses/SH", headers=bare.headers("admin"), json=ADDRESS).status_code == 200
    assert approve(client, bare, case).json()["state"] == "awaiting_return"


def test_the_policy_approval_at_opening_waits_for_staff_told_why(app, client, db, bare):
    case = open_case(client, bare, line=2)  # the mug: the policy would approve it at once
    assert case["state"] == "pending_review"
    staff = TestClient(app, headers=EN)
    sign_in_staff(staff, "agent@bare.test", "pw-agent")
    page = staff.get(f"/staff/cases/{case['number']}").text
    assert "Held for review" in page and "Settings → Return addresses" in page


def test_the_shopper_sees_whom_to_contact_when_no_address_fits(app, client, db, bare):
    case = open_case(client, bare, line=1)
    admin = TestClient(app, headers=EN)
    sign_in_staff(admin, "admin@bare.test", "pw-admin")
    saved = admin.post("/staff/settings/shop-contact", data={
        "csrf": csrf_of(admin), "shop_phone": "400-820-8820", "shop_hours": "Mon–Fri 9:00–18:00",
        "instead_of_address": "on"}, follow_redirects=False)
    assert saved.status_code == 303
    assert client.put("/api/v1/return-addresses/SH", headers=bare.headers("admin"), json=ADDRESS).status_code == 200
    assert approve(client, bare, case).status_code == 200
    web = TestClient(app, headers=ZH)
    sign_in_customer(web, db, "bare", "O-100", "buyer@example.com")
    page = web.get(f"/p/bare/cases/{case['number']}").text
    assert "400-820-8820" in page and "Mon–Fri 9:00–18:00" in page and "请先联系商家" in page
    assert "张江路" not in page  # the merchant chose the contact block instead of the address


def test_tracking_is_checked_per_carrier_stored_found_by_the_desk_and_correctable_until_the_first_scan(
        app, client, db):
    shop = make_shop(db, "trk")
    recent_order(db, shop.id, "O-100")
    case = open_case(client, shop)
    assert approve(client, shop, case).status_code == 200
    web = TestClient(app, headers=ZH)
    sign_in_customer(web, db, "trk", "O-100", "buyer@example.com")
    url = f"/p/trk/cases/{case['number']}"
    form = web.get(url).text
    assert '<select id="carrier"' in form and "顺丰速运" in form and "其他快递" in form

    wrong = web.post(f"{url}/ship", data={"csrf": csrf_of(web), "carrier": "SF", "tracking_number": "SF12"})
    assert wrong.status_code == 422 and "不像顺丰速运的运单号" in wrong.text and 'value="SF12"' in wrong.text
    unknown = web.post(f"{url}/ship", data={"csrf": csrf_of(web), "carrier": "PIGEON", "tracking_number": "X1"})
    assert unknown.status_code == 422 and "请从列表中选择快递公司" in unknown.text
    assert shipments(db) == 0
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["state"] == "awaiting_return"

    saved = web.post(f"{url}/ship", data={"csrf": csrf_of(web), "carrier": "ZTO", "tracking_number": "731234567891"})
    assert saved.status_code == 200 and "等待快递揽收扫描" in saved.text
    fixed = web.post(f"{url}/ship/correct", data={"csrf": csrf_of(web), "carrier": "SF",
                                                  "tracking_number": "SF1234567890123"})
    assert fixed.status_code == 200 and "SF1234567890123" in fixed.text
    found = client.get("/api/v1/receiving/scan", params={"code": "sf1234567890123"},
                       headers=shop.headers("warehouse")).json()
    assert found["case"]["number"] == case["number"], found

    event = {"carrier": "SF", "tracking_number": "SF1234567890123",
             "events": [{"status": "in_transit", "occurred_at": "2026-11-25T01:00:00+00:00", "location": "上海"}]}
    assert client.post("/api/v1/tracking/webhooks/generic", headers=shop.headers("admin"),
                       json=event).status_code == 200
    page = web.get(url).text
    assert "运输中" in page and "2026-11-25 09:00" in page  # the shop's zone (Asia/Shanghai by default)
    late = web.post(f"{url}/ship/correct", data={"csrf": csrf_of(web), "carrier": "SF",
                                                 "tracking_number": "SF1234567890124"})
    assert late.status_code == 409 and "已经扫描" in late.text
    with db.read() as s:
        assert s.scalars(select(Shipment.tracking_number)).all() == ["SF1234567890123"]


def test_the_label_and_the_page_give_the_same_send_by_time_in_the_shops_zone(app, client, db):
    shop = make_shop(db, "ny")
    assert client.put("/api/v1/sla/settings", headers=shop.headers("admin"),
                      json={"timezone": "America/New_York"}).status_code == 200
    recent_order(db, shop.id, "O-100")
    case = open_case(client, shop)
    assert approve(client, shop, case).status_code == 200
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "ny", "O-100", "buyer@example.com")
    page = web.get(f"/p/ny/cases/{case['number']}").text
    shown = re.search(r"<dt>Send by</dt><dd>([^<]+)</dd>", page).group(1)
    pdf = pypdfium2.PdfDocument(web.get(f"/p/ny/cases/{case['number']}/return-label.pdf").content)
    text = pdf[0].get_textpage().get_text_range()
    assert f"Send by: {shown}" in text
    with db.read() as s:
        sent = next(m.payload for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
                    if m.payload.get("template") == "return_instructions")
        _subject, body = templates.render(s, shop.id, "return_instructions", "en",
                                          {**sent["data"], "number": case["number"],
                                           "address": sent["data"]["address"]["address"]})
    assert f"by {shown}" in body  # the email gives the same time as the page and the label
    assert "Shop ny" in text and "Customer C-1" in text and "13800001111" in text
