"""The sold-lines summary (analytics/sold.py) is what the orders say after every way an order is written — new,
written again with another date, status, country or lines, through the orders API or `upsert_orders` — and the
rate reports' sales come from it.

Each test compares the summary with the live query (`differences`), and with figures worked out here from the
orders as written.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, select, text

from returnflow.analytics import sold
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from tests.support.processes import run_returnflow
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # orders dated relative to today, inside the reports' default 90 days


def sold_at(days_ago: int = 20) -> datetime:
    """Inside the reports' default 90 days (or before them), on this test's clock."""
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).replace(hour=2, minute=0, second=0, microsecond=0)


def order(number: str, lines: list[tuple[int, str, int, int, str]], *, status: str | None = None,
          country: str | None = None, days_ago: int = 20) -> OrderRecord:
    """An order of `lines` (line_no, sku, unit price in minor units, quantity, kind)."""
    when = sold_at(days_ago)
    return OrderRecord(number=number, currency="CNY", status=status, country=country,
                       customer=CustomerRecord(external_id="C-1", name="C-1", email="c-1@example.com"),
                       ordered_at=when, delivered_at=when + timedelta(days=3),
                       lines=[LineRecord(line_no=no, sku=sku, title=sku, category="general", unit_price=price,
                                         quantity=qty, delivered_quantity=qty, kind=kind)
                              for no, sku, price, qty, kind in lines])


def rate(client, shop, **params) -> dict:
    answer = client.get("/api/v1/analytics/reports/return_rate", headers=shop.headers("supervisor"),
                        params={"by": "sku", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def sold_units(body: dict) -> dict[str, int]:
    return {r["key"]: r["units_sold"] for r in body["rows"]}


def same_as_sources(db) -> None:
    with db.read() as session:
        assert sold.differences(session) == []


def write(db, shop, *records: OrderRecord) -> None:
    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=list(records))


def test_orders_written_again_move_or_drop_their_sales(client, db):
    """Sales follow each order as it is written again: a line lost, a country given, the date moved out of the
    period, cancelled. Shipping lines are not goods and never count."""
    shop = make_shop(db, "sold-again")
    write(db, shop, order("S-1", [(1, "SKU-A", 10_000, 2, "product"), (2, "SKU-B", 3_550, 1, "product"),
                                  (3, "SHIP", 800, 1, "shipping")]),
          order("S-2", [(1, "SKU-A", 10_000, 1, "product")]))
    assert sold_units(rate(client, shop)) == {"SKU-A": 3, "SKU-B": 1}
    assert rate(client, shop)["totals"]["by_currency"]["CNY"]["value_sold"] == "335.50"
    same_as_sources(db)

    write(db, shop, order("S-1", [(1, "SKU-A", 10_000, 2, "product")], country="DE"))  # SKU-B's line is gone
    assert sold_units(rate(client, shop)) == {"SKU-A": 3}
    by_country = {r["key"]: r["units_sold"] for r in rate(client, shop, by="country")["rows"]}
    assert by_country == {"DE": 2, "(none)": 1}
    same_as_sources(db)

    write(db, shop, order("S-2", [(1, "SKU-A", 10_000, 1, "product")], days_ago=200))  # before the period
    write(db, shop, order("S-1", [(1, "SKU-A", 10_000, 2, "product")], status="cancelled", country="DE"))
    assert sold_units(rate(client, shop)) == {}
    same_as_sources(db)


def test_an_order_pushed_through_the_api_counts_as_sold(client, db):
    shop = make_shop(db, "sold-api")
    body = {"number": "API-1", "currency": "CNY", "ordered_at": sold_at().isoformat(),
            "customer": {"id": "C-9", "name": "C-9"},
            "lines": [{"line_no": 1, "sku": "MUG", "title": "Mug", "unit_price": "25.00", "quantity": 4,
                       "delivered_quantity": 4}]}
    pushed = client.post("/api/v1/orders", headers=shop.headers("admin"), json=body)
    assert pushed.status_code == 200, pushed.text
    assert sold_units(rate(client, shop)) == {"MUG": 4}
    body["lines"][0]["quantity"] = body["lines"][0]["delivered_quantity"] = 3
    assert client.post("/api/v1/orders", headers=shop.headers("admin"), json=body).status_code == 200
    assert sold_units(rate(client, shop)) == {"MUG": 3}
    assert rate(client, shop)["totals"]["by_currency"]["CNY"]["value_sold"] == "75.00"
    same_as_sources(db)


LINE = st.tuples(st.sampled_from(["SKU-A", "SKU-B", "SKU-C"]), st.integers(min_value=0, max_value=99_999),
                 st.integers(min_value=1, max_value=5), st.sampled_from(["product", "product", "shipping", "fee"]))
VERSION = st.tuples(st.lists(LINE, min_size=1, max_size=4), st.sampled_from([None, "paid", "cancelled"]),
                    st.sampled_from([None, "CN", "DE"]), st.sampled_from([5, 20, 200]))
_examples = iter(range(10**6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.tuples(st.integers(min_value=0, max_value=2), VERSION), min_size=1, max_size=8))
def test_the_summary_holds_the_last_version_of_each_order(db, history):
    """Three orders written again and again with random lines, kinds, statuses, countries and dates: the summary
    holds exactly the product lines of each one's last version that is not cancelled."""
    shop = make_shop(db, f"sold-prop-{next(_examples)}")
    last: dict[str, tuple] = {}
    for which, (lines, status, country, days_ago) in history:
        number = f"P-{which}"
        numbered = [(i + 1, *line) for i, line in enumerate(lines)]
        write(db, shop, order(number, numbered, status=status, country=country, days_ago=days_ago))
        last[number] = (numbered, status, country, sold_at(days_ago))
    want = sorted((number, sku, country, when, qty, price * qty)
                  for number, (lines, status, country, when) in last.items() if status != "cancelled"
                  for _no, sku, price, qty, kind in lines if kind == "product")
    from returnflow.orders.models import Order
    with db.read() as session:
        have = sorted(session.execute(
            select(Order.number, sold.SOLD.c.sku, sold.SOLD.c.country, sold.SOLD.c.ordered_at, sold.SOLD.c.units,
                   sold.SOLD.c.value).join(Order, Order.id == sold.SOLD.c.order_id)
            .where(sold.SOLD.c.merchant_id == shop.id)).all())
        assert [tuple(r) for r in have] == want
        assert sold.differences(session, shop.id) == []


def test_the_migration_fills_the_summary_as_the_code_does(db):
    from importlib import import_module

    fill = import_module("returnflow.migrations.versions.0027_sold_lines").FILL
    shop = make_shop(db, "sold-migrated")
    write(db, shop, order("M-1", [(1, "SKU-A", 10_000, 2, "product"), (2, "SHIP", 800, 1, "shipping")]),
          order("M-2", [(1, "SKU-B", 3_550, 1, "product")], status="cancelled"),
          order("M-3", [(1, "SKU-C", 1_990, 3, "product")], country="DE"))
    with db.transaction() as session:
        want = sorted(tuple(r) for r in session.execute(select(*[sold.SOLD.c[k] for k in sold.COLUMNS])))
        assert len(want) == 2
        session.execute(delete(sold.SOLD))
        session.execute(text(fill))
    with db.read() as session:
        have = sorted(tuple(r) for r in session.execute(select(*[sold.SOLD.c[k] for k in sold.COLUMNS])))
    assert have == want


def test_rollup_check_and_rebuild_cover_the_sold_lines(client, db):
    """`report rollup-check` finds a sold row that differs from the orders; `rollup-rebuild` mends it."""
    shop = make_shop(db, "sold-checked")
    write(db, shop, order("C-1", [(1, "SKU-A", 10_000, 2, "product")]))
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}
    with db.transaction() as session:
        session.execute(sold.SOLD.update().values(units=99))
    bad = run_returnflow(["report", "rollup-check"], env=env, timeout=120)
    assert bad.returncode == 1 and "sold-lines summary" in bad.stdout, bad.stdout
    rebuilt = run_returnflow(["report", "rollup-rebuild"], env=env, timeout=120)
    assert rebuilt.returncode == 0 and "sold-lines summary: 1 lines" in rebuilt.stdout, rebuilt.stdout
    good = run_returnflow(["report", "rollup-check"], env=env, timeout=120)
    assert good.returncode == 0 and "sold-lines summary equals the orders" in good.stdout, good.stdout
    assert sold_units(rate(client, shop)) == {"SKU-A": 2}
