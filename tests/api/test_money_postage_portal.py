"""CN7 in the portal: on a quality return the customer claims the postage they paid with a photo of the receipt; the
claim shows on the case and is refunded with it; a no-reason return has no such field."""

from __future__ import annotations

from tests.support.asgi import TestClient

from tests.support.portal import csrf_of, png, recent_order, sign_in_customer
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}


def _case(client, shop, reason: str) -> str:
    body = {"order": "O-100", "type": "return_refund", "channel": "portal", "reason": reason,
            "lines": [{"line_no": 2, "quantity": 1}]}
    r = client.post("/api/v1/cases", json=body, headers=shop.headers("agent"))
    assert r.status_code == 201, r.text
    return r.json()["number"]


def _claim(web, number: str, amount: str, receipt: bool = True):
    files = {"receipt": ("receipt.png", png(), "image/png")} if receipt else {}
    return web.post(f"/p/shop/cases/{number}/postage", data={"csrf": csrf_of(web), "amount": amount}, files=files,
                    follow_redirects=False)


def test_the_customer_claims_the_postage_with_its_receipt_and_sees_it_on_the_case(client, db, app):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"postage_cap": {"CNY": "10.00"}}).status_code == 200
    number = _case(client, shop, "quality_issue")
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
    page = web.get(f"/p/shop/cases/{number}")
    assert 'name="receipt"' in page.text and "Postage you paid (CNY)" in page.text

    bad = _claim(web, number, "twelve")
    assert bad.status_code == 422 and "Postage: enter the amount you paid" in bad.text and "amount:" not in bad.text
    missing = _claim(web, number, "12.00", receipt=False)
    assert missing.status_code == 422 and "photo of the receipt" in missing.text
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["postage_claim"] is None

    done = _claim(web, number, "12.00")
    assert done.status_code == 303, done.text
    claim = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["postage_claim"]
    assert claim["asked"] == "12.00" and claim["amount"] == "10.00" and claim["capped"] is True
    assert claim["claimed_by"].startswith("customer:") and claim["receipt_id"]
    assert "Return postage claimed: 10.00 CNY" in web.get(f"/p/shop/cases/{number}").text


def test_a_no_reason_return_has_no_postage_field_and_a_forced_claim_is_refused(client, db, app):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    number = _case(client, shop, "no_reason_7day")
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
    assert 'name="receipt"' not in web.get(f"/p/shop/cases/{number}").text
    forced = _claim(web, number, "12.00")
    assert forced.status_code == 409 and "cannot be claimed" in forced.text
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["postage_claim"] is None
