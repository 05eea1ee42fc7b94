"""The per-test isolation of tests/conftest.py: only the tables a test wrote to are emptied, ids start again at 1,
and the default reasons stay, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select, text

from returnflow.cases.models import Reason
from returnflow.logistics.models import ReturnAddress
from returnflow.merchants.models import Merchant
from returnflow.orders.models import Order, OrderLine
from tests.support.world import make_order, make_shop


def count(db, model) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_tables_a_test_wrote_to_are_emptied_and_nothing_else(db, emptier):
    defaults = count(db, Reason)
    assert defaults > 0
    shop = make_shop(db, "iso")
    make_order(db, shop, "O-1")
    with db.engine.connect() as conn:
        dirty = emptier.dirty(conn)
    assert {"merchants", "users", "orders", "order_lines"} <= dirty and "cases" not in dirty and "reasons" not in dirty
    with db.engine.begin() as conn:
        emptied = emptier.empty(conn)
    assert set(emptied) == dirty
    assert emptied.index("order_lines") < emptied.index("orders") < emptied.index("merchants")  # children first
    assert (count(db, Merchant), count(db, Order), count(db, OrderLine)) == (0, 0, 0)
    assert count(db, Reason) == defaults
    with db.engine.connect() as conn:
        assert emptier.dirty(conn) == set()
    # Ids start again at 1, as after TRUNCATE ... RESTART IDENTITY.
    assert make_shop(db, "again").id == 1


def test_a_table_whose_rows_were_removed_again_still_has_its_ids_restarted(db, emptier):
    make_shop(db, "iso")  # with its return address, id 1
    with db.transaction() as session:
        session.execute(text("DELETE FROM return_addresses"))
    with db.engine.connect() as conn:
        assert "return_addresses" in emptier.dirty(conn) or db.dialect == "sqlite"  # SQLite reuses ids anyway
    with db.engine.begin() as conn:
        emptier.empty(conn)
    make_shop(db, "next")
    with db.read() as session:
        assert list(session.scalars(select(ReturnAddress.id))) == [1]
