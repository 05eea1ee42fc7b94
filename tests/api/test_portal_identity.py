"""Identity checks that mean what they say: phones pushed with orders are kept in E.164 (the merchant's country for
numbers without a country code), emails are checked, and the portal sends a code only for the whole contact."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from returnflow.merchants.models import Merchant
from returnflow.orders.models import Customer
from tests.support.asgi import TestClient
from tests.support.portal import count, find_order, last_code
from tests.support.world import make_shop

URL = "/api/v1/orders"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}


def order(number: str, **customer) -> dict:
    return {"number": number, "currency": "CNY", "delivered_at": "2026-11-23T10:00:00+08:00",
            "customer": {"id": f"C-{number}", "name": "Wang Fang", **customer},
            "lines": [{"sku": "SKU-A", "title": "Kettle", "unit_price": "99.90", "quantity": 1}]}


def stored(db, external_id: str) -> tuple[str | None, str | None]:
    with db.read() as session:
        return tuple(session.execute(select(Customer.phone, Customer.email)
                                     .where(Customer.external_id == external_id)).one())


def browser(app, address: str = "127.0.0.1") -> TestClient:
    return TestClient(app, headers=EN, client=(address, 40000))


@pytest.fixture
def shop(db):
    return make_shop(db, "shop")


def test_a_pushed_phone_is_kept_in_e164_and_only_the_whole_number_gets_a_code(client, app, db, shop):
    pushed = client.post(URL, headers=shop.headers(), json=order("P-1", phone="138 0000 1111"))
    assert pushed.status_code == 200, pushed.text
    assert stored(db, "C-P-1")[0] == "+8613800001111"
    web = browser(app)
    # Its tail is not the number (it was enough before), and neither is another number ending the same way.
    for wrong in ("00001111", "8000 1111", "13900001111", "+44 138 0000 1111"):
        assert find_order(web, "shop", "P-1", wrong).status_code == 422, wrong
    assert count(db, "portal_codes") == 0
    for typed in ("+86 138-0000-1111", "0086 13800001111", "138 0000 1111"):
        assert find_order(browser(app, "::1"), "shop", "P-1", typed).status_code == 303, typed
        _, payload = last_code(db)
        assert payload["channel"] == "sms" and payload["to"] == "+8613800001111"


def test_an_impossible_phone_or_email_is_refused_naming_the_field_in_the_callers_language(client, db, shop):
    cases = [
        ({"phone": "12345"}, "customer.phone", "customer.phone：「12345」不是有效的电话号码", "is not a valid phone number"),
        ({"phone": "138 0000 1111 ext 9"}, "customer.phone", "不是有效的电话号码", "'138 0000 1111 ext 9' is not"),
        ({"email": "wang@@example.com"}, "customer.email", "customer.email：「wang@@example.com」不是有效的电子邮箱地址",
         "is not a valid email address"),
        ({"email": "wang fang"}, "customer.email", "不是有效的电子邮箱地址", "'wang fang' is not a valid email"),
    ]
    for fields, field, zh_text, en_text in cases:
        zh = client.post(URL, headers=shop.headers(**ZH), json=order("P-2", **fields))
        en = client.post(URL, headers=shop.headers(**EN), json=order("P-2", **fields))
        assert (zh.status_code, en.status_code) == (422, 422), fields
        assert zh.json()["error"]["field"] == en.json()["error"]["field"] == field
        assert zh_text in zh.json()["error"]["message"] and en_text in en.json()["error"]["message"], fields
    assert client.get(f"{URL}/P-2", headers=shop.headers()).status_code == 404
    assert count(db, "customers") == 0 and count(db, "products") == 0


def test_a_number_without_a_country_code_is_read_as_one_of_the_merchants_country(client, app, db, shop):
    with db.transaction() as session:
        session.execute(update(Merchant).where(Merchant.id == shop.id).values(country="GB"))
    assert client.post(URL, headers=shop.headers(), json=order("G-1", phone="07400 123456")).status_code == 200
    assert stored(db, "C-G-1")[0] == "+447400123456"
    # A Chinese mobile number without +86 is no British number.
    refused = client.post(URL, headers=shop.headers(**EN), json=order("G-2", phone="13800001111"))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "customer.phone"
    assert "read as a number of GB" in refused.json()["error"]["message"]
    assert client.post(URL, headers=shop.headers(), json=order("G-3", phone="+86 138 0000 1111")).status_code == 200
    assert stored(db, "C-G-3")[0] == "+8613800001111"
    web = browser(app)
    assert find_order(web, "shop", "G-1", "07400 123456").status_code == 303
    assert find_order(web, "shop", "G-1", "+44 7400 123456").status_code == 303
    assert last_code(db)[1]["to"] == "+447400123456"


def test_emails_are_checked_and_compared_without_regard_to_case(client, app, db, shop):
    pushed = client.post(URL, headers=shop.headers(), json=order("E-1", email=" Wang.Fang@Example.COM "))
    assert pushed.status_code == 200 and stored(db, "C-E-1")[1] == "Wang.Fang@example.com"
    web = browser(app)
    assert find_order(web, "shop", "E-1", "wang.fang@example.co").status_code == 422
    assert find_order(web, "shop", "E-1", "WANG.FANG@EXAMPLE.COM").status_code == 303
    _, payload = last_code(db)
    assert payload["channel"] == "email" and payload["to"] == "Wang.Fang@example.com"


def test_a_re_push_without_contacts_keeps_them_and_an_empty_one_clears_it(client, db, shop):
    assert client.post(URL, headers=shop.headers(), json=order("K-1", phone="13800001111",
                                                               email="k@example.com")).status_code == 200
    assert client.post(URL, headers=shop.headers(), json=order("K-1")).status_code == 200
    assert stored(db, "C-K-1") == ("+8613800001111", "k@example.com")
    assert client.post(URL, headers=shop.headers(), json=order("K-1", phone=" ", email="")).status_code == 200
    assert stored(db, "C-K-1") == ("", "")
