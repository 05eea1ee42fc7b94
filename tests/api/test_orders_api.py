"""POST /api/v1/orders: shops push orders; re-posting updates; bad input is a 422 naming the field, changing nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from returnflow.orders.models import Customer, Order, OrderLine, Product
from tests.support.world import make_shop

URL = "/api/v1/orders"


def order_body(**changes) -> dict:
    body = {
        "number": "P-1", "currency": "CNY", "customer": {"id": "C-9", "name": "Wang Fang", "email": "wf@example.com"},
        "discount": "5.00", "shipping_fee": "8.00", "paid_total": "202.80",
        "payments": [{"method": "alipay", "amount": "200.00"}, {"method": "points", "amount": "2.80"}],
        "ordered_at": "2026-11-20T10:00:00+08:00", "delivered_at": "2026-11-23T10:00:00+08:00",
        "lines": [{"sku": "SKU-A", "title": "Kettle", "unit_price": "99.90", "quantity": 2},
                  {"sku": "SKU-B", "title": "Filter", "unit_price": "0.00", "quantity": 1}],
    }
    body.update(changes)
    return body


def table_counts(db) -> tuple[int, ...]:
    with db.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Order, OrderLine, Customer, Product))


def test_post_creates_the_order_in_minor_units_and_reads_it_back(client, db):
    shop = make_shop(db)
    r = client.post(URL, headers=shop.headers(), json=order_body())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["goods_total"], body["paid_total"], body["discount"]) == ("199.80", "202.80", "5.00")
    assert [(line["line_no"], line["unit_price"], line["delivered_quantity"]) for line in body["lines"]] == \
        [(1, "99.90", 2), (2, "0.00", 1)]
    with db.read() as session:
        order = session.scalar(select(Order).where(Order.number == "P-1"))
        assert (order.goods_total, order.paid_total, order.merchant_id) == (19980, 20280, shop.id)
    assert client.get(f"{URL}/P-1", headers=shop.headers()).json()["lines"][0]["sku"] == "SKU-A"


def test_reposting_the_same_number_updates_and_never_duplicates(client, db):
    shop = make_shop(db)
    assert client.post(URL, headers=shop.headers(), json=order_body()).status_code == 200
    before = table_counts(db)
    changed = order_body(paid_total="204.80", payments=[],
                         lines=[{"sku": "SKU-A", "title": "Kettle", "unit_price": "100.90", "quantity": 2},
                                {"sku": "SKU-B", "title": "Filter", "unit_price": "0.00", "quantity": 1}])
    r = client.post(URL, headers=shop.headers(), json=changed)
    assert r.status_code == 200, r.text
    assert r.json()["lines"][0]["unit_price"] == "100.90" and r.json()["paid_total"] == "204.80"
    assert table_counts(db) == before == (1, 2, 1, 2)


# The first two are pydantic's checks; the rest come from OrderIn.to_record, which explains itself in both languages.
BAD = [
    pytest.param(lambda b: b.pop("currency"), "currency", "is required", "为必填项", id="missing-field"),
    pytest.param(lambda b: b["lines"][0].update(quantity="two"), "lines[0].quantity", "must be a whole number",
                 "必须是整数", id="wrong-type"),
    pytest.param(lambda b: b["lines"][0].update(unit_price="99.905"), "lines[0].unit_price",
                 "more than 2 decimals for CNY", "lines[0].unit_price：99.905 超出 CNY 允许的 2 位小数",
                 id="three-decimals-cny"),
    pytest.param(lambda b: b.update(currency="XYZ"), "currency", "unknown currency 'XYZ'", "未知币种", id="unknown-currency"),
    pytest.param(lambda b: b["lines"][0].update(delivered_quantity=3), "lines[0].delivered_quantity",
                 "3 delivered is more than the 2 ordered", "签收数量 3 超过下单数量 2", id="delivered-above-ordered"),
    pytest.param(lambda b: b.update(paid_total="300.00"), "payments", "do not add up to paid_total", "payments：各支付方式金额之和不等于实付金额",
                 id="payments-do-not-add-up"),
]


@pytest.mark.parametrize(("spoil", "field", "english", "chinese"), BAD)
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(client, db, spoil, field, english, chinese):
    shop = make_shop(db)
    assert client.post(URL, headers=shop.headers(), json=order_body(number="KEEP")).status_code == 200
    before = table_counts(db)
    body = order_body()
    spoil(body)
    en = client.post(URL, headers=shop.headers(**{"Accept-Language": "en"}), json=body)
    assert en.status_code == 422, en.text
    assert en.json()["error"]["field"] == field
    assert english in en.json()["error"]["message"]
    zh = client.post(URL, headers=shop.headers(**{"Accept-Language": "zh-CN"}), json=body)
    assert zh.status_code == 422 and zh.json()["error"]["field"] == field
    assert chinese in zh.json()["error"]["message"]
    assert table_counts(db) == before


def test_malformed_json_is_a_422_in_the_callers_language(client, db):
    shop = make_shop(db)
    broken = b'{"number": "P-1", "currency": "CNY", '
    en = client.post(URL, headers=shop.headers(**{"Accept-Language": "en", "Content-Type": "application/json"}),
                     content=broken)
    assert en.status_code == 422
    assert en.json()["error"]["code"] == "malformed_json" and en.json()["error"]["field"] == "body"
    assert en.json()["error"]["message"].startswith("The request body is not valid JSON")
    zh = client.post(URL, headers=shop.headers(**{"Accept-Language": "zh-CN", "Content-Type": "application/json"}),
                     content=broken)
    assert zh.json()["error"]["message"].startswith("请求内容不是有效的 JSON")
    assert table_counts(db) == (0, 0, 0, 0)


def test_idempotency_key_replays_the_first_result_and_refuses_another_body(client, db):
    shop = make_shop(db)
    headers = shop.headers(**{"Idempotency-Key": "push-P-1"})
    first = client.post(URL, headers=headers, json=order_body())
    assert first.status_code == 200
    # A retry after someone else changed the order still answers with what the first call returned.
    other = client.post(URL, headers=shop.headers(), json=order_body(paid_total="204.80", payments=[],
                        lines=[{"sku": "SKU-A", "unit_price": "100.90", "quantity": 2}]))
    assert other.status_code == 200
    replay = client.post(URL, headers=headers, json=order_body())
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    with db.read() as session:
        assert session.scalar(select(Order.paid_total)) == 20480  # the replay wrote nothing
    refused = client.post(URL, headers=headers, json=order_body(number="P-2"))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_mismatch"
    assert table_counts(db)[0] == 1


def test_staff_of_one_merchant_cannot_read_another_merchants_order(client, db):
    mine, theirs = make_shop(db, code="mine"), make_shop(db, code="theirs")
    assert client.post(URL, headers=theirs.headers(), json=order_body(number="SECRET")).status_code == 200
    r = client.get(f"{URL}/SECRET", headers=mine.headers())
    assert r.status_code == 404
    assert client.get(URL, headers=mine.headers()).json()["total"] == 0
    assert client.get(f"{URL}/SECRET", headers=theirs.headers()).status_code == 200
