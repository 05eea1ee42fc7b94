"""The portal's request form through its pages: the policy's answer in plain words, only the outcomes it allows,
exchange variants pushed with the order, bad input in the shopper's words, and what waits on the shopper."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from returnflow.db import utcnow
from tests.support.asgi import TestClient
from tests.support.flows import run
from tests.support.portal import PNG, count, csrf_of, sign_in_customer, sign_in_staff
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}
COAT = "https://img.example.com/coat.jpg"


def push(client, shop, number: str, *, days_ago: int, variants=None, lines=None) -> dict:
    """An order pushed the way a shop does (POST /api/v1/orders), delivered `days_ago` days ago."""
    delivered = utcnow() - timedelta(days=days_ago)
    body = {"number": number, "currency": "CNY",
            "customer": {"id": "C-1", "name": "王芳", "email": "buyer@example.com", "locale": "zh-CN"},
            "ordered_at": (delivered - timedelta(days=3)).isoformat(), "delivered_at": delivered.isoformat(),
            "signed_at": delivered.isoformat(),
            "lines": lines or [
                {"sku": "COAT-M", "title": "Wool coat M", "category": "apparel", "unit_price": "899.00", "quantity": 2,
                 "image_url": COAT, "variants": variants or []},
                {"sku": "MUG", "title": "Mug", "category": "apparel", "unit_price": "35.50", "quantity": 1}]}
    pushed = client.post("/api/v1/orders", headers=shop.headers("admin"), json=body)
    assert pushed.status_code == 200, pushed.text
    return pushed.json()


SIZES = [{"sku": "COAT-L", "attributes": {"尺码": "L", "颜色": "灰"}, "price": "899.00", "available": 3},
         {"sku": "COAT-XL", "attributes": {"尺码": "XL", "颜色": "灰"}, "price": "959.00", "available": 0},
         {"sku": "COAT-S", "attributes": {"尺码": "S", "颜色": "灰"}, "price": "859.00", "available": 5}]


@pytest.fixture
def shop(db):
    return make_shop(db, "shop")


def shopper(app, db, order: str, headers=ZH) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_customer(web, db, "shop", order, "buyer@example.com")
    return web


def check(web, order: str, reason: str, **qty):
    return web.post(f"/p/shop/orders/{order}/return/check",
                    data={"csrf": csrf_of(web), "reason": reason, **{f"qty_{k[1:]}": v for k, v in qty.items()}})


def submit(web, order: str, reason: str, case_type: str, files=(), **fields):
    data = {"csrf": csrf_of(web), "reason": reason, "type": case_type, "description": "袖口开线了", **fields}
    return web.post(f"/p/shop/orders/{order}/return", data=data, files=list(files), follow_redirects=False)


def visible(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)))


def test_the_answer_leads_in_plain_words_and_offers_only_what_the_policy_allows(app, db, client, shop):
    push(client, shop, "O-1", days_ago=2)
    web = shopper(app, db, "O-1")
    form = web.get("/p/shop/orders/O-1/return")
    assert f'src="{COAT}"' in form.text and 'class="thumb placeholder"' in form.text  # the mug has no photo
    assert 'data-step="1"' in form.text and 'data-step="-1"' in form.text  # a stepper, no typing needed

    answer = check(web, "O-1", "no_reason_7day", q1="1")
    text = visible(answer.text)
    assert answer.status_code == 200
    assert "好消息：我们的政策支持这次申请。" in text and "退货运费由您承担。" in text
    assert "退款最多 ¥899.00。" in text  # the locale's currency format
    assert "<details" in answer.text and "CN1" not in text  # reasons fold under "why"; no rule ids
    # A no-reason return is a refund; an exchange is not offered for this reason, and says so.
    assert re.search(r'id="type_refund" name="type" value="return_refund"', answer.text)
    assert re.search(r'id="type_exchange" disabled', answer.text) and "不适用于您选择的原因。" in text
    assert count(db, "cases") == 0

    refused = submit(web, "O-1", "no_reason_7day", "exchange", qty_1="1")
    assert refused.status_code == 422 and "我们的政策不为这些商品提供此处理方式" in visible(refused.text)
    assert "袖口开线了" in refused.text and count(db, "cases") == 0  # what was typed stays, nothing written


def test_a_request_the_policy_can_approve_is_approved_when_sent(app, db, client, shop):
    push(client, shop, "O-2", days_ago=2)
    web = shopper(app, db, "O-2", EN)
    answer = check(web, "O-2", "no_reason_7day", q2="1")
    assert "It is approved as soon as you send it." in answer.text
    done = submit(web, "O-2", "no_reason_7day", "return_refund", qty_2="1")
    assert done.status_code == 303
    page = web.get(done.headers["location"])
    assert "Our policy approved your request as soon as you sent it." in page.text
    assert "usually within one working day" not in page.text
    number = re.search(r"/cases/(AS\d+)", done.headers["location"]).group(1)
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["state"] == "awaiting_return"


def test_a_request_for_review_says_why_and_by_when_from_the_policys_clock(app, db, client, shop):
    push(client, shop, "O-3", days_ago=2)
    web = shopper(app, db, "O-3", EN)
    answer = check(web, "O-3", "no_reason_7day", q1="1")
    dry = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        "order": "O-3", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]})
    clock = next(c for c in dry.json()["lines"][0]["decision"]["deadlines"] if c["kind"] == "merchant_response")
    said = re.search(r"A person at the shop checks requests like this one and answers by (\d{4}-\d\d-\d\d \d\d:\d\d)",
                     answer.text)
    assert said, visible(answer.text)
    shown = datetime.strptime(said.group(1), "%Y-%m-%d %H:%M")
    expected = (datetime.fromisoformat(dry.json()["at"]) + timedelta(seconds=clock["period_seconds"]))
    from zoneinfo import ZoneInfo
    local = expected.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    assert abs((local - shown).total_seconds()) < 120  # the same clock, minutes apart at most


def test_a_faulty_item_past_the_no_reason_window_is_exchanged_for_the_chosen_variant(app, db, client, shop):
    push(client, shop, "O-4", days_ago=10, variants=SIZES)
    web = shopper(app, db, "O-4", EN)
    answer = check(web, "O-4", "quality_issue", q1="1")
    text = visible(answer.text)
    assert re.search(r'id="type_refund" disabled', answer.text), text
    assert re.search(r'id="type_exchange" name="type" value="exchange"', answer.text)
    # The replacement: sizes with their price difference; the sold-out one cannot be chosen.
    assert "尺码 L · 颜色 灰" in text and "same price" in text
    assert "you pay CN¥60.00 more" in text and "CN¥40.00 back to you" in text
    assert re.search(r'value="COAT-XL" disabled', answer.text) and "sold out" in text

    missing = submit(web, "O-4", "quality_issue", "exchange", qty_1="1")
    assert missing.status_code == 422 and "Choose what you would like instead of “Wool coat M”." in missing.text
    done = submit(web, "O-4", "quality_issue", "exchange", [("photos", ("seam.png", PNG, "image/png"))],
                  qty_1="1", variant_1="COAT-L")
    assert done.status_code == 303, visible(done.text)
    number = re.search(r"/cases/(AS\d+)", done.headers["location"]).group(1)
    case = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
    assert case["type"] == "exchange" and case["desired_outcome"] == "exchange"
    assert case["lines"][0]["variant"] == {"sku": "COAT-L", "attributes": {"尺码": "L", "颜色": "灰"},
                                           "price": "899.00", "currency": "CNY"}
    assert "exchange for: 尺码 L · 颜色 灰" in web.get(f"/p/shop/cases/{number}").text

    # Staff see the chosen variant and ship it: the outbound parcel carries it without retyping.
    for action, role, payload in (("approve", "agent", None), ("ship_return", "agent", None),
                                  ("receive", "warehouse", {}), ("inspect", "warehouse", None)):
        if action == "inspect":
            line_id = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["lines"][0]["id"]
            payload = {"lines": [{"line_id": line_id, "quantity": 1, "verdict": "ok"}]}
        run(db, number, action, shop.actors[role], payload)
    staff = TestClient(app, headers=EN)
    sign_in_staff(staff, "agent@shop.test", "pw-agent")
    assert re.search(r"Exchange for:\s*<strong>COAT-L</strong>", staff.get(f"/staff/cases/{number}").text)
    version = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["version"]
    shipped = client.post(f"/api/v1/cases/{number}/outbound-shipments", headers=shop.headers("warehouse"),
                          json={"version": version, "carrier": "SF", "tracking_number": "SF2222222222222"})
    assert shipped.status_code == 201, shipped.text
    item = shipped.json()["shipment"]["items"][0]
    assert (item["sku"], item["returned_sku"], item["quantity"], item["price_difference"]) == \
        ("COAT-L", "COAT-M", 1, "0.00")
    assert "The shop sent your item." in web.get(f"/p/shop/cases/{number}").text


def test_a_variant_sold_out_meanwhile_is_refused_in_the_shoppers_words_and_nothing_is_written(app, db, client,
                                                                                               shop):
    push(client, shop, "O-5", days_ago=10, variants=SIZES)
    web = shopper(app, db, "O-5", ZH)
    assert check(web, "O-5", "quality_issue", q1="1").status_code == 200
    gone = [dict(v, available=0) if v["sku"] == "COAT-L" else v for v in SIZES]
    push(client, shop, "O-5", days_ago=10, variants=gone)  # the shop's stock changed while the shopper typed
    refused = submit(web, "O-5", "quality_issue", "exchange", qty_1="1", variant_1="COAT-L")
    assert refused.status_code == 409
    assert "“尺码 L · 颜色 灰”（“Wool coat M”）刚刚售罄，请换一个。" in visible(refused.text)
    assert "袖口开线了" in refused.text and count(db, "cases") == 0 and count(db, "attachments") == 0


def test_bad_quantities_and_files_are_named_in_the_shoppers_words(app, db, client, shop):
    push(client, shop, "O-6", days_ago=2)
    web = shopper(app, db, "O-6", EN)
    over = check(web, "O-6", "no_reason_7day", q1="5")
    assert over.status_code == 422 and "You can choose at most 2 of “Wool coat M”." in over.text
    assert "lines[" not in over.text and 'value="5"' in over.text  # what was typed stays
    wrong = submit(web, "O-6", "no_reason_7day", "return_refund",
                   [("photos", ("receipt.pdf", b"%PDF-1.4 not a photo" * 20, "application/pdf"))], qty_1="1")
    text = visible(wrong.text)
    assert wrong.status_code == 422 and "“receipt.pdf” is not a photo or video we can take" in text
    assert "application/pdf" not in text and "file:" not in text and count(db, "cases") == 0


def test_the_push_api_keeps_images_and_variants_and_refuses_bad_ones(client, shop):
    body = push(client, shop, "O-7", days_ago=2, variants=SIZES)
    line = body["lines"][0]
    assert line["image_url"] == COAT and [v["sku"] for v in line["variants"]] == ["COAT-L", "COAT-XL", "COAT-S"]
    assert line["variants"][1] == {"sku": "COAT-XL", "attributes": {"尺码": "XL", "颜色": "灰"}, "price": "959.00",
                                   "available": 0}
    bad = {"number": "O-8", "currency": "CNY", "lines": [
        {"sku": "A", "unit_price": "1.00", "quantity": 1, "image_url": "javascript:alert(1)"}]}
    assert client.post("/api/v1/orders", headers=shop.headers("admin"), json=bad).status_code == 422
    bad["lines"][0].update(image_url=None, variants=[{"sku": "B", "price": "1.001", "available": 1}])
    refused = client.post("/api/v1/orders", headers=shop.headers("admin"), json=bad)
    assert refused.status_code == 422 and "variants[0].price" in refused.text
    assert client.get("/api/v1/orders/O-8", headers=shop.headers()).status_code == 404


def test_the_orders_list_shows_the_window_and_what_waits_on_the_shopper(app, db, client, shop):
    push(client, shop, "O-9", days_ago=2)
    web = shopper(app, db, "O-9", EN)
    dry = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        "order": "O-9", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]}).json()
    end = next(c["at"] for c in dry["lines"][0]["decision"]["deadlines"] if c["kind"] == "customer_window")
    from zoneinfo import ZoneInfo
    local = datetime.fromisoformat(end).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    listed = web.get("/p/shop/orders").text
    assert f"Return window closes {local}" in listed and "Waiting for you" not in listed

    done = submit(web, "O-9", "no_reason_7day", "return_refund", qty_1="1")
    number = re.search(r"/cases/(AS\d+)", done.headers["location"]).group(1)
    case = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
    asked = client.post(f"/api/v1/cases/{number}/actions/request_info", headers=shop.headers(),
                        json={"version": case["version"], "payload": {"message": "请拍一张吊牌的照片"}})
    assert asked.status_code == 200, asked.text
    assert "Waiting for you: the shop asked for information" in web.get("/p/shop/orders").text

    mug = submit(web, "O-9", "no_reason_7day", "return_refund", qty_2="1")  # approved at once: a parcel to send
    assert mug.status_code == 303
    listed = web.get("/p/shop/orders").text
    assert "Waiting for you: send the parcel" in listed and "Waiting for you: the shop asked for information" in listed
