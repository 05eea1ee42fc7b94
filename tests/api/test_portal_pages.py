"""The customer portal through its pages (HTTP, as a browser without JavaScript), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from tests.support.asgi import TestClient
from tests.support.portal import (
    PNG, count, csrf_of, find_order, last_code, recent_order, sign_in_customer,
)
from tests.support.world import make_shop

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="Buyer@Example.com", phone="+86 138-0000-1111")
    recent_order(db, shop.id, "O-200", customer="C-2", email="other@example.com", phone="13900002222")
    return shop


def visible(html: str) -> str:
    """The page's text as a reader sees it (no tags, attributes, scripts)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def browser(app, headers=ZH) -> TestClient:
    return TestClient(app, headers=headers)


def open_return(client, merchant="shop", order="O-100", files=None, **fields):
    data = {"csrf": csrf_of(client), "type": "return_refund", "reason": "wrong_size", "qty_1": "1",
            "description": "偏小", "desired_outcome": "refund", **fields}
    return client.post(f"/p/{merchant}/orders/{order}/return", data=data, files=files or [], follow_redirects=False)


def test_customer_finds_the_order_with_a_code_opens_a_return_with_a_photo_and_sends_it_back(app, db, shop, client):
    web = browser(app, EN)
    found = find_order(web, "shop", "O-100", "buyer@example.com")
    assert found.status_code == 303
    code, payload = last_code(db)
    # Contract 1: the code goes out as an outbox "notify" row for the sla worker.
    assert payload["template"] == "otp_code" and payload["channel"] == "email"
    assert payload["to"] == "Buyer@Example.com" and payload["locale"] == "en" and re.fullmatch(r"\d{6}", code)
    page = web.get(found.headers["location"])
    assert "We sent a 6-digit code by email" in page.text
    challenge = found.headers["location"].split("c=")[1]
    web.post("/p/shop/verify", data={"csrf": csrf_of(web), "challenge": challenge, "code": code})

    orders = web.get("/p/shop/orders")
    assert "O-100" in orders.text and "O-200" not in orders.text  # only this customer's orders

    answer = web.post("/p/shop/orders/O-100/return/check",
                      data={"csrf": csrf_of(web), "type": "return_refund", "reason": "no_reason_7day", "qty_1": "1"})
    assert answer.status_code == 200
    assert "Our policy's answer" in answer.text and "Good news: our policy covers this request." in answer.text
    assert "CN1" not in answer.text  # rule ids stay in staff views
    assert count(db, "cases") == 0  # the answer comes before anything is submitted

    done = open_return(web, files=[("photos", ("tee.png", PNG, "image/png"))], reason="no_reason_7day")
    assert done.status_code == 303
    number = re.search(r"/cases/(AS\d+)", done.headers["location"]).group(1)
    case_page = web.get(done.headers["location"])
    assert f"Your request number is {number}" in case_page.text and "What happens next" in case_page.text
    assert count(db, "attachments") == 1
    opened = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()
    assert opened["channel"] == "portal" and opened["lines"][0]["quantity"] == 1
    assert opened["attachments"][0]["content_type"] == "image/png"
    assert web.get(f"/p/shop/cases/{number}/files/{opened['attachments'][0]['id']}").content == PNG

    client.post(f"/api/v1/cases/{number}/actions/approve", headers=shop.headers("agent"),
                json={"version": opened["version"], "payload": {}})
    assert "Send the items back" in web.get(f"/p/shop/cases/{number}").text
    shipped = web.post(f"/p/shop/cases/{number}/ship",
                       data={"csrf": csrf_of(web), "carrier": "SF", "tracking_number": "sf 1234567890123"})
    assert shipped.status_code == 200 and "the tracking number was saved" in shipped.text
    assert "SF1234567890123" in shipped.text and "The return parcel is on its way." in shipped.text
    case = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()
    assert case["state"] == "return_in_transit"
    assert case["timeline"][-1]["payload"]["tracking_number"] == "SF1234567890123"


def test_wrong_order_and_contact_pairs_get_one_answer_that_names_neither(app, db, shop):
    web = browser(app, EN)
    answers = [find_order(web, "shop", order, contact) for order, contact in (
        ("O-100", "someone@example.com"),   # right order, wrong email
        ("O-999", "buyer@example.com"),     # wrong order, right email
        ("O-100", "13900002222"),           # right order, another customer's phone
    )]
    messages = {re.search(r'role="alert"[^>]*>\s*<p>([^<]+)', a.text).group(1) for a in answers}
    assert [a.status_code for a in answers] == [422, 422, 422]
    assert messages == {"We could not find an order with this order number and this email or phone. "
                        "Check both and try again."}
    assert count(db, "outbox") == 0 and count(db, "portal_codes") == 0


def test_the_phone_on_the_order_matches_with_or_without_the_country_code(app, db, shop):
    web = browser(app)
    assert find_order(web, "shop", "O-100", "138 0000 1111").status_code == 303
    code, payload = last_code(db)
    assert payload["channel"] == "sms" and payload["to"] == "+8613800001111"  # the number in E.164


def test_an_expired_code_is_refused_and_signs_nobody_in(app, db, shop):
    web = browser(app, EN)
    found = find_order(web, "shop", "O-100", "buyer@example.com")
    code, _ = last_code(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE portal_codes SET expires_at = created_at"))
    challenge = found.headers["location"].split("c=")[1]
    refused = web.post("/p/shop/verify", data={"csrf": csrf_of(web), "challenge": challenge, "code": code},
                       follow_redirects=False)
    assert refused.status_code == 410 and "This code has expired" in refused.text
    assert "rf_portal" not in refused.cookies and count(db, "portal_sessions") == 0
    assert web.get("/p/shop/orders", follow_redirects=False).headers["location"] == "/p/shop/"


def test_five_wrong_codes_void_the_code_even_for_the_right_one(app, db, shop):
    web = browser(app)
    challenge = find_order(web, "shop", "O-100", "buyer@example.com").headers["location"].split("c=")[1]
    code, _ = last_code(db)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [web.post("/p/shop/verify", data={"csrf": csrf_of(web), "challenge": challenge, "code": wrong})
               for _ in range(5)]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 429]
    assert "还可以尝试 4 次" in answers[0].text and "验证码错误次数过多" in answers[4].text
    right = web.post("/p/shop/verify", data={"csrf": csrf_of(web), "challenge": challenge, "code": code})
    assert right.status_code == 429 and count(db, "portal_sessions") == 0


def test_look_ups_of_one_order_are_rate_limited(app, db, shop):
    web = browser(app, EN)
    answers = [find_order(web, "shop", "O-100", "guess{}@example.com".format(i)).status_code for i in range(6)]
    assert answers == [422] * 5 + [429]
    # Even the right contact is refused until the window passes; no code is sent.
    blocked = find_order(web, "shop", "O-100", "buyer@example.com")
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text and count(db, "outbox") == 0


def test_forged_posts_without_the_csrf_token_are_refused_and_change_nothing(app, db, shop):
    web = browser(app, EN)
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
    number = re.search(r"/cases/(AS\d+)", open_return(web).headers["location"]).group(1)
    outbox_before = count(db, "outbox")
    forged = web.post("/p/shop/find", data={"order": "O-100", "contact": "buyer@example.com"})
    assert forged.status_code == 403 and "sent from another site" in forged.text
    other_site = web.post(f"/p/shop/cases/{number}/cancel", data={"csrf": "x" * 43})
    assert other_site.status_code == 403
    assert count(db, "outbox") == outbox_before
    assert count(db, "cases", "state = 'pending_review'") == 1


def test_another_customers_case_is_not_found_and_cannot_be_touched(app, db, shop):
    alice = browser(app, EN)
    sign_in_customer(alice, db, "shop", "O-100", "buyer@example.com")
    number = re.search(r"/cases/(AS\d+)", open_return(alice, files=[("photos", ("a.png", PNG, "image/png"))])
                       .headers["location"]).group(1)
    bob = browser(app, EN)
    sign_in_customer(bob, db, "shop", "O-200", "other@example.com")
    assert bob.get(f"/p/shop/cases/{number}").status_code == 404
    assert bob.get(f"/p/shop/cases/{number}/files/1").status_code == 404
    assert bob.get("/p/shop/orders/O-100/return").status_code == 404
    cancel = bob.post(f"/p/shop/cases/{number}/cancel", data={"csrf": csrf_of(bob)})
    assert cancel.status_code == 404
    assert count(db, "cases", "state = 'pending_review'") == 1
    assert number not in bob.get("/p/shop/orders").text


def test_wrong_type_and_oversized_uploads_are_refused_and_nothing_is_opened(app, db, shop):
    web = browser(app, EN)
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
    text_file = open_return(web, files=[("photos", ("notes.png", b"just some text, not a photo" * 50, "image/png"))])
    assert text_file.status_code == 422
    assert "“notes.png” is not a photo or video we can take" in text_file.text
    assert "image/" not in visible(text_file.text) and "偏小" in text_file.text  # what was typed stays
    app.state.settings.max_image_bytes = 2_000
    big = open_return(web, files=[("photos", ("big.png", PNG + b"\0" * 5_000, "image/png"))])
    assert big.status_code == 422 and "“big.png” is too large: at most 1 KB for this kind of file." in big.text
    assert count(db, "cases") == 0 and count(db, "attachments") == 0
    # The form is shown again with the policy answer, ready to try another file.
    assert "Submit the request" in big.text


def test_the_language_follows_the_browser_and_the_switch(app, db, shop):
    zh = browser(app, ZH).get("/p/shop/")
    en = browser(app, EN).get("/p/shop/")
    assert '<html lang="zh-CN">' in zh.text and "查找您的订单" in zh.text
    assert '<html lang="en">' in en.text and "Find your order" in en.text
    web = browser(app, ZH)
    switched = web.get("/lang/en?next=/p/shop/", follow_redirects=False)
    assert switched.headers["location"] == "/p/shop/"
    assert "Find your order" in web.get("/p/shop/").text
    assert web.get("/lang/en?next=//evil.example/", follow_redirects=False).headers["location"] == "/"


def test_pages_make_no_outside_requests_and_forbid_framing(app, db, shop):
    page = browser(app).get("/p/shop/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    assert browser(app).get("/static/vendor/htmx-2.0.11/htmx.min.js").status_code == 200


def test_answering_the_shops_question_sends_the_case_back_to_review_and_more_photos_can_follow(app, db, shop, client):
    web = browser(app, EN)
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
    number = re.search(r"/cases/(AS\d+)", open_return(web).headers["location"]).group(1)
    client.post(f"/api/v1/cases/{number}/actions/request_info", headers=shop.headers("agent"),
                json={"version": 1, "payload": {"message": "Please show the size label"}})
    page = web.get(f"/p/shop/cases/{number}").text
    assert "The shop needs more information" in page and "Please show the size label" in page
    answered = web.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "Label says M"})
    assert answered.status_code == 200 and "Your message was sent." in answered.text
    added = web.post(f"/p/shop/cases/{number}/files", data={"csrf": csrf_of(web)},
                     files=[("photos", ("label.png", PNG, "image/png"))], headers={"X-Progress": "1"})
    assert added.status_code == 204 and added.headers["x-location"] == f"/p/shop/cases/{number}#files"
    case = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()
    assert case["state"] == "pending_review"
    assert [e["action"] for e in case["timeline"]][-3:] == ["request_info", "customer_reply", "attach"]
    assert [a["filename"] for a in case["attachments"]] == ["label.png"]
