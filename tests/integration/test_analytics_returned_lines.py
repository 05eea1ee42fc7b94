"""The returned-lines summary (analytics/returned.py) stays what the live sources say after everything that changes
them — including the two changes that come without a case event: a refund paid out after the case's last step, and
an order imported again — and the rate reports read it.

Each test compares the summary with the live query (`differences`), and checks a report figure that would be wrong
if the summary were stale.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text

from returnflow.analytics import returned
from returnflow.cases.models import Case
from returnflow.money import fmt
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from returnflow.refunds.models import Refund
from tests.support.flows import open_for, run
from tests.support.money import inspected_case, paid_order, refund_only_case
from tests.support.processes import run_returnflow
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # orders dated relative to today, inside the reports' default 90 days

def sold_at() -> datetime:
    """Inside the reports' default 90 days, on this test's clock (a year ahead in the clock-ahead run)."""
    return datetime.now(timezone.utc) - timedelta(days=20)


def rate(client, shop, **params) -> dict:
    answer = client.get("/api/v1/analytics/reports/return_rate", headers=shop.headers("supervisor"),
                        params={"by": "sku", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def units_of(body: dict, sku: str) -> int:
    return sum(r["units_returned"] for r in body["rows"] if r["key"] == sku)


def same_as_sources(db) -> None:
    with db.read() as session:
        assert returned.differences(session) == []


def test_a_refund_paid_after_the_last_step_revalues_the_return(client, db):
    """Refund-only, approved, refund decided: at purchase price. Paid out by finance later (no case event follows):
    the return is worth what was paid, at once."""
    shop = make_shop(db, "paid-late")
    paid_order(db, shop, "M-1", when=sold_at())
    number = refund_only_case(db, shop, "M-1", line_no=2, quantity=1)
    made = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={})
    assert made.status_code == 201, made.text
    before = rate(client, shop)["totals"]["by_currency"]["CNY"]
    assert before["value_at_price"] == before["value_returned"] != "0.00"  # decided, not paid: the price stands in
    for leg in made.json()["payments"]:
        if leg["state"] == "pending":
            paid = client.post(f"/api/v1/refund-payments/{leg['number']}/mark-paid",
                               headers=shop.headers("finance"), json={"reference": "BANK-" + leg["number"]})
            assert paid.status_code == 200, paid.text
    with db.read() as session:
        amount = sum(session.scalars(select(Refund.amount).join(Case, Case.id == Refund.case_id).where(
            Case.number == number, Refund.state == "completed")))
    assert amount > 0
    after = rate(client, shop)["totals"]["by_currency"]["CNY"]
    assert after["value_returned"] == fmt(amount, "CNY")
    assert after["value_at_price"] == "0.00"
    same_as_sources(db)


def _record(number: str, status: str | None, country: str | None) -> OrderRecord:
    """A delivered, paid order of two units of SKU-A (as tests.support.money.paid_order makes them)."""
    sold = sold_at().replace(hour=2, minute=0, second=0, microsecond=0)  # the same instant each time it is written
    return OrderRecord(number=number, currency="CNY", status=status, country=country,
                       customer=CustomerRecord(external_id="C-1", name="C-1", email="c-1@example.com"),
                       paid_total=20_000, payments=[{"method": "alipay", "amount": 20_000, "reference": "P-1"}],
                       ordered_at=sold, shipped_at=sold + timedelta(days=1), delivered_at=sold + timedelta(days=3),
                       lines=[LineRecord(line_no=1, sku="SKU-A", title="A", category="general", unit_price=10_000,
                                         quantity=2, delivered_quantity=2)])


def test_an_order_imported_again_moves_or_drops_its_returns(client, db):
    """The order comes again with a country (its returns move to it), then cancelled (they stop counting)."""
    shop = make_shop(db, "reimported")
    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[_record("R-1", None, None)])
    inspected_case(db, shop, "R-1", line_no=1, quantity=1)
    assert units_of(rate(client, shop), "SKU-A") == 1
    assert [r["key"] for r in rate(client, shop, by="country")["rows"]] == ["(none)"]

    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[_record("R-1", None, "DE")])
    assert [(r["key"], r["units_returned"]) for r in rate(client, shop, by="country")["rows"]] == [("DE", 1)]
    same_as_sources(db)

    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[_record("R-1", "cancelled", "DE")])
    assert units_of(rate(client, shop), "SKU-A") == 0
    same_as_sources(db)


def test_cancelling_a_case_takes_its_lines_out(client, db):
    shop = make_shop(db, "cancelled")
    paid_order(db, shop, "M-1", when=sold_at())
    number = open_for(db, shop.actors["agent"], "M-1", "return_refund", line_no=2, quantity=1)
    assert units_of(rate(client, shop), "SKU-B") == 1
    run(db, number, "cancel", shop.actors["agent"])
    assert units_of(rate(client, shop), "SKU-B") == 0
    same_as_sources(db)


def test_a_rejected_case_closed_and_reopened_counts_again(client, db):
    """Rejected, then closed (the outcome stays rejected: not counted); reopened by a supervisor: it counts again.
    Steps that cannot change the rows (shipping and the like) leave them as they are."""
    shop = make_shop(db, "reopened")
    paid_order(db, shop, "M-1", when=sold_at())
    number = open_for(db, shop.actors["agent"], "M-1", "return_refund", line_no=1, quantity=2)
    assert units_of(rate(client, shop), "SKU-A") == 2
    run(db, number, "reject", shop.actors["agent"], {"reason": "outside the return window"})
    assert units_of(rate(client, shop), "SKU-A") == 0
    run(db, number, "close", shop.actors["agent"])
    assert units_of(rate(client, shop), "SKU-A") == 0
    same_as_sources(db)
    run(db, number, "reopen", shop.actors["supervisor"], {"reason": "the customer sent proof of the date"})
    assert units_of(rate(client, shop), "SKU-A") == 2
    same_as_sources(db)


def test_the_migration_fills_the_summary_as_the_code_values_it(client, db):
    """Migration 0024 fills the summary in SQL; it must value every kind of line as line_value does: a refund
    paid and shared over two lines, a refund decided but unpaid, and no refund."""
    from importlib import import_module

    fill = import_module("returnflow.migrations.versions.0024_returned_lines").FILL
    shop = make_shop(db, "migrated")
    paid_order(db, shop, "M-1", when=sold_at(), lines=(("SKU-A", "100.00", 3), ("SKU-B", "35.50", 2)))
    paid_order(db, shop, "M-2", when=sold_at())
    both = inspected_case(db, shop, "M-1", line_no=1, quantity=2, deduction="7.77")
    made = client.post(f"/api/v1/cases/{both}/refunds", headers=shop.headers("agent"), json={})
    assert made.status_code == 201, made.text
    for leg in made.json()["payments"]:
        if leg["state"] == "pending":
            assert client.post(f"/api/v1/refund-payments/{leg['number']}/mark-paid", headers=shop.headers("finance"),
                               json={"reference": "B-" + leg["number"]}).status_code == 200
    refund_only_case(db, shop, "M-2", line_no=2, quantity=1)
    with db.transaction() as session:
        want = sorted(tuple(r.values()) for r in returned.live(session))
        assert want  # something to compare
        session.execute(delete(returned.LINES))
        session.execute(text(fill))
    with db.read() as session:
        have = sorted(tuple(r) for r in session.execute(select(*[returned.LINES.c[k] for k in returned.COLUMNS])))
    assert have == want
    same_as_sources(db)


def test_rollup_check_and_rebuild_cover_the_summary(client, db):
    """`report rollup-check` finds a summary row that differs from the sources; `rollup-rebuild` mends it."""
    shop = make_shop(db, "checked")
    paid_order(db, shop, "M-1", when=sold_at())
    refund_only_case(db, shop, "M-1", line_no=2, quantity=1)
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}
    good = run_returnflow(["report", "rollup-check"], env=env, timeout=120)
    assert good.returncode == 0 and "returned-lines summary equals" in good.stdout, good.stdout + good.stderr
    with db.transaction() as session:
        session.execute(returned.LINES.update().values(units=99))
    bad = run_returnflow(["report", "rollup-check"], env=env, timeout=120)
    assert bad.returncode == 1 and "returned-lines summary" in bad.stdout, bad.stdout
    assert run_returnflow(["report", "rollup-rebuild"], env=env, timeout=120).returncode == 0
    assert run_returnflow(["report", "rollup-check"], env=env, timeout=120).returncode == 0
    assert Decimal(rate(client, shop)["totals"]["units_returned"]) == 1
