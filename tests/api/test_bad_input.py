"""Hostile input through the API and the pages, on SQLite and PostgreSQL: a 4xx naming the field, nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from returnflow.models import Base
from tests.support.portal import csrf_of
from tests.support.world import make_order, make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
BIG = "99999999999999999999"  # beyond 64 bits
NESTED = {"payload": {}}
_inner = NESTED["payload"]
for _ in range(40):
    _inner["a"] = {}
    _inner = _inner["a"]


def order_body(**overrides) -> dict:
    line = {"sku": "SKU-X", "unit_price": "10.00", "quantity": 1, **overrides.pop("line", {})}
    return {"number": "O-NEW", "currency": "CNY", "lines": [line], **overrides}


def raw_order(amount_literal: str) -> bytes:
    """An order whose payment amount is written as the JSON number `amount_literal` (json.dumps cannot write 1e309)."""
    return (b'{"number": "O-NEW", "currency": "CNY", "lines": [{"sku": "SKU-X", "unit_price": "10.00", "quantity": 1}],'
            b' "payments": [{"method": "card", "amount": ' + amount_literal.encode() + b'}]}')


# (name, method, url, keyword arguments for the client, the field the refusal must name)
API_CASES = [
    ("offset beyond 64 bits", "GET", f"/api/v1/cases?offset={BIG}", {}, "offset"),
    ("offset of 5000 digits", "GET", "/api/v1/cases?offset=" + "9" * 5000, {}, "offset"),
    ("amount of 5000 digits", "POST", "/api/v1/orders", {"content": raw_order("9" * 5000)}, "payments[0].amount"),
    ("offset beyond INTEGER", "GET", "/api/v1/orders?offset=2147483648", {}, "offset"),
    ("negative offset", "GET", "/api/v1/cases?offset=-1", {}, "offset"),
    ("assignee id beyond 64 bits", "GET", f"/api/v1/cases?assignee={BIG}", {}, "assignee"),
    ("path id beyond 64 bits", "GET", f"/api/v1/cases/R-1/attachments/{BIG}", {}, "attachment_id"),
    ("negative path id", "GET", "/api/v1/outbox/-5/attempts", {}, "message_id"),
    ("user id beyond INTEGER", "PATCH", "/api/v1/users/3000000000", {"json": {"name": "x"}}, "user_id"),
    ("unit price 1e20 as a number", "POST", "/api/v1/orders", {"json": order_body(line={"unit_price": 1e20})},
     "lines[0].unit_price"),
    ("unit price 1e20 as text", "POST", "/api/v1/orders", {"json": order_body(line={"unit_price": "1e20"})},
     "lines[0].unit_price"),
    ("amount 1e309", "POST", "/api/v1/orders", {"content": raw_order("1e309")}, "payments[0].amount"),
    ("amount NaN", "POST", "/api/v1/orders", {"content": raw_order("NaN")}, "payments[0].amount"),
    ("amount Infinity as text", "POST", "/api/v1/orders",
     {"json": order_body(payments=[{"method": "card", "amount": "Infinity"}])}, "payments[0].amount"),
    ("line number beyond INTEGER", "POST", "/api/v1/orders", {"json": order_body(line={"line_no": 2**31})},
     "lines[0].line_no"),
    ("quantity beyond 64 bits", "POST", "/api/v1/orders", {"json": order_body(line={"quantity": int(BIG)})},
     "lines[0].quantity"),
    ("version beyond INTEGER", "POST", "/api/v1/cases/R-1/actions/approve", {"json": {"version": 2**40}},
     "version"),
    ("deeply nested JSON", "POST", "/api/v1/cases/R-1/actions/approve", {"json": {"version": 1, **NESTED}},
     "payload.a"),
    ("JSON nested beyond the parser", "POST", "/api/v1/orders", {"content": b"[" * 100_000 + b"]" * 100_000},
     "body"),
    ("deeply nested policy file", "PUT", "/api/v1/policy",
     {"json": {"source": "x = " + "[" * 5000 + "]" * 5000}}, "(syntax)"),
    ("policy file nested 20 deep", "PUT", "/api/v1/policy", {"json": {"source": "x = " + "[" * 20 + "]" * 20}},
     "(syntax)"),
    ("NUL in a body string", "POST", "/api/v1/orders", {"json": order_body(number="O-\u0000-1")}, "number"),
    ("NUL in a nested body string", "POST", "/api/v1/orders", {"json": order_body(line={"title": "a\u0000"})},
     "lines[0].title"),
    ("NUL in a body key", "POST", "/api/v1/orders", {"json": {**order_body(), "x\u0000": 1}}, "body"),
    ("NUL in a query value", "GET", "/api/v1/orders?customer=C%00", {}, "customer"),
    ("NUL in a path segment", "GET", "/api/v1/orders/O%001", {}, "number"),
    ("NUL in a header-free public path", "GET", "/api/v1/public/merchants/sh%00p/policy", {}, "code"),
    ("invalid UTF-8 in the body", "POST", "/api/v1/orders",
     {"content": b'{"number": "\xff\xfe", "currency": "CNY", "lines": []}'}, "body"),
    ("invalid UTF-8 in a query value", "GET", "/api/v1/orders?customer=%FF%FE", {}, "customer"),
    ("invalid UTF-8 in the path", "GET", "/api/v1/orders/%FF", {}, "path"),
    ("NUL in the Idempotency-Key", "POST", "/api/v1/orders",
     {"json": order_body(), "headers": {"Idempotency-Key": "k\u0000"}}, "Idempotency-Key"),
    ("over-long body string", "POST", "/api/v1/orders", {"json": order_body(customer={"id": "x" * 1_000_001})},
     "customer.id"),
    ("over-long query value", "GET", "/api/v1/orders?customer=" + "x" * 3000, {}, "customer"),
]


def table_counts(db) -> dict[str, int]:
    with db.read() as session:
        return {t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    make_order(db, shop, "O-1")
    return shop


@pytest.mark.parametrize("name,method,url,kwargs,field", API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_input_is_refused_with_the_field_named_and_nothing_written(db, client, shop, name, method, url, kwargs,
                                                                       field):
    before = table_counts(db)
    headers = shop.headers("admin", **EN)
    if "content" in kwargs:
        headers["Content-Type"] = "application/json"
    kwargs = dict(kwargs)
    headers.update(kwargs.pop("headers", {}))
    answer = client.request(method, url, headers=headers, **kwargs)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    error = answer.json()["error"]
    assert error["field"].startswith(field), error
    assert error["message"].isascii() or field == "(syntax)", error  # English was asked for
    assert table_counts(db) == before


def test_the_refusal_speaks_chinese_by_default(client, shop):
    answer = client.get("/api/v1/orders?customer=C%00", headers=shop.headers("admin", **ZH))
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "customer：不能包含空字符（\\u0000）"


def test_an_amount_at_the_storage_limit_is_taken_and_one_minor_unit_more_is_not(client, shop):
    limit = "10000000000000.00"  # 10^15 minor units
    ok = client.post("/api/v1/orders", headers=shop.headers("admin", **EN),
                     json=order_body(line={"unit_price": limit}))
    assert ok.status_code == 200, ok.text
    assert ok.json()["lines"][0]["unit_price"] == limit
    over = client.post("/api/v1/orders", headers=shop.headers("admin", **EN),
                       json=order_body(number="O-NEW-2", line={"unit_price": "10000000000000.01"}))
    assert over.status_code == 422
    assert over.json()["error"]["field"] == "lines[0].unit_price"


PAGE_CASES = [
    ("NUL in the portal look-up form", "/p/shop/find", {"order": "O-1\u0000", "contact": "C-1@example.com"}, "order"),
    ("NUL in a form field name", "/p/shop/find", {"order": "O-1", "contact": "x", "a\u0000": "1"}, "a"),
    ("NUL in the verify form", "/p/shop/verify", {"challenge": "\u0000", "code": "123456"}, "challenge"),
]


@pytest.mark.parametrize("name,url,form,field", PAGE_CASES, ids=[c[0] for c in PAGE_CASES])
def test_pages_refuse_nul_with_their_styled_page_and_write_nothing(db, app, shop, name, url, form, field):
    from tests.support.asgi import TestClient

    browser = TestClient(app, headers=EN)
    browser.get("/p/shop/")
    before = table_counts(db)
    answer = browser.post(url, data={"csrf": csrf_of(browser), **form}, follow_redirects=False)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    # people read what to do, not the field's code or the escape (those are in the API's JSON)
    assert "invisible control character" in answer.text
    assert f">{field}" not in answer.text and "NUL" not in answer.text and "\\u0000" not in answer.text
    assert table_counts(db) == before


def test_a_page_query_with_nul_gets_the_styled_page_in_chinese(app, shop):
    from tests.support.asgi import TestClient

    answer = TestClient(app, headers=ZH).get("/p/shop/verify?c=%00")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "不可见控制字符" in answer.text and "\\u0000" not in answer.text


def test_a_word_where_a_page_expects_an_id_gets_the_styled_page(app, shop):
    from tests.support.asgi import TestClient

    answer = TestClient(app, headers=EN).get("/p/shop/cases/R-1/files/photo")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "we cannot read" in answer.text and "attachment_id" not in answer.text


def test_an_order_whose_goods_total_passes_the_storage_limit_is_refused(db, client, shop):
    before = table_counts(db)
    answer = client.post("/api/v1/orders", headers=shop.headers("admin", **EN),
                         json=order_body(line={"unit_price": "10000000000000.00", "quantity": 2}))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "lines"
    assert table_counts(db) == before
