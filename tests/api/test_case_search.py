"""Case search (`q`): literal `%`, `_` and `\\`, Chinese text of any length, served by the trigram indexes on both
databases (SQLite FTS5 trigram tables, PostgreSQL pg_trgm), through the API and the staff queue."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.test_cases_api import RETURN, open_case
from tests.support.world import make_order, make_shop

TEXTS = {"pct": "包装写着 100% 正品", "near": "共 1000 件，正品", "under": "型号 A_B1 屏幕碎了一角",
         "plain": "型号 AXB1 外壳划痕", "slash": "路径 C:\\temp 打不开"}


@pytest.fixture
def shop(db):
    return make_shop(db)


@pytest.fixture
def cases(client, shop, db):
    numbers = {}
    for i, (key, description) in enumerate(TEXTS.items()):
        make_order(db, shop, f"O-{i + 1}", customer=f"C-{i + 1}")
        body = {**RETURN, "order": f"O-{i + 1}", "description": description}
        numbers[key] = open_case(client, shop, body).json()["number"]
    return numbers


def found(client, shop, q):
    body = client.get("/api/v1/cases", headers=shop.headers(), params={"q": q}).json()
    return {c["number"] for c in body["items"]}


def test_percent_underscore_and_backslash_are_literal(client, shop, cases):
    assert found(client, shop, "100%") == {cases["pct"]}  # three characters or more: the trigram index
    assert found(client, shop, "0%") == {cases["pct"]}  # one or two: the LIKE fallback, escaped
    assert found(client, shop, "%") == {cases["pct"]}
    assert found(client, shop, "A_B") == {cases["under"]}
    assert found(client, shop, "_") == {cases["under"]}
    assert found(client, shop, "C:\\t") == {cases["slash"]}
    assert found(client, shop, "\\") == {cases["slash"]}
    assert found(client, shop, '"100%"') == set()  # quotes are text, not FTS syntax


def test_chinese_of_any_length(client, shop, cases):
    assert found(client, shop, "屏幕碎了") == {cases["under"]}
    assert found(client, shop, "屏幕") == {cases["under"]}
    assert found(client, shop, "正品") == {cases["pct"], cases["near"]}
    assert found(client, shop, "型") == {cases["under"], cases["plain"]}
    assert found(client, shop, "碎了一角外") == set()


def test_order_customer_and_sku_are_searched_through_their_own_indexes(client, shop, cases):
    assert found(client, shop, "O-3") == {cases["under"]}
    assert found(client, shop, "customer c-4") == {cases["plain"]}  # case-insensitive, by the customer's name
    assert found(client, shop, "C-5@example") == {cases["slash"]}
    assert len(found(client, shop, "sku-a")) == 5
    assert found(client, shop, cases["near"][-5:]) == {cases["near"]}


def test_the_index_follows_changes_and_the_database_uses_it(client, shop, cases, db):
    """A changed customer name is found by its new name, not its old one (the FTS5 triggers on SQLite); the
    trigram indexes exist on both databases."""
    make_order(db, shop, "O-9", customer="C-1")  # the same customer again: the upsert keeps its row
    with db.transaction() as session:
        session.execute(text("UPDATE customers SET name = '王小明' WHERE external_id = 'C-1'"))
    assert found(client, shop, "王小明") == {cases["pct"]}
    assert found(client, shop, "Customer C-1") == set()
    with db.read() as session:
        if db.dialect == "sqlite":
            plan = " ".join(str(r[-1]) for r in session.execute(text(
                "EXPLAIN QUERY PLAN SELECT rowid FROM cases_fts WHERE cases_fts MATCH '\"100%\"'")))
            assert "VIRTUAL TABLE INDEX" in plan
        else:
            names = set(session.scalars(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_trgm_%'")))
            assert {"ix_trgm_cases_description", "ix_trgm_order_lines_sku", "ix_trgm_customers_name"} <= names


def test_the_staff_queue_searches_the_same_way(app, shop, cases):
    from tests.support.asgi import TestClient

    from tests.support.portal import sign_in_staff

    web = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    page = web.get("/staff/", params={"view": "all", "q": "100%"})
    assert page.status_code == 200 and cases["pct"] in page.text and cases["near"] not in page.text
    assert "1 case" in page.text


def test_many_matches_are_searched_as_a_subquery(client, shop, cases, monkeypatch):
    """Above FEW matches the ids are not listed: the search stays a subquery of the page and of its total."""
    from returnflow.cases import search

    monkeypatch.setattr(search, "FEW", 1)
    assert found(client, shop, "正品") == {cases["pct"], cases["near"]}
    assert found(client, shop, "型号 A") == {cases["under"], cases["plain"]}
    assert found(client, shop, "100%") == {cases["pct"]}
