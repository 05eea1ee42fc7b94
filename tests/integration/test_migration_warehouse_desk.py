"""Migration 0017_warehouse_desk on SQLite and PostgreSQL: parcels received straight from their scan before it are
told apart from parcels matched later from the exceptions queue, and return parcels recorded as a plain action
before it get the inbound shipment the receiving desk finds them by; its downgrade restores the statuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import delete, select, update

from returnflow.db import Database
from returnflow.logistics.models import Shipment
from returnflow.schema import alembic_config, migrate
from returnflow.warehouse import receiving
from returnflow.warehouse.models import Receipt
from tests.conftest import PG_UP, create_pg_database, drop_pg_database
from tests.support.flows import open_for, run
from tests.support.world import make_order, make_shop

REVISION = "0017_warehouse_desk"


def _move(db: Database, revision: str, how) -> None:
    config = alembic_config(db.url)
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        how(config, revision)
        connection.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")])])
def fresh(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if request.param == "sqlite" else create_pg_database("rf_desk")
    db = Database(url)
    migrate(db)
    yield db
    db.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def test_direct_receipts_and_recorded_return_parcels_from_before_are_brought_in_line(fresh):
    db = fresh
    shop = make_shop(db)
    agent, desk = shop.actors["agent"], shop.actors["warehouse"]
    numbers = []
    for i, waybill in enumerate(("SF1234567890123", "yt 1234567890123")):
        make_order(db, shop, f"O-{i}")
        number = open_for(db, agent, f"O-{i}", "return_refund")
        run(db, number, "approve", agent)
        run(db, number, "ship_return", agent, {"carrier": "YTO" if i else "SF", "tracking_number": waybill})
        numbers.append(number)
    with db.transaction() as s:
        receiving.receive_parcel(s, actor=desk, code=numbers[0], condition="intact", arrived_at=None, note="",
                                 photos=[], lines=None)
        _status, waiting, _case = receiving.receive_parcel(s, actor=desk, code="NO-LABEL", condition="wet",
                                                           arrived_at=None, note="", photos=[], lines=None)
        waiting_id = waiting.id
    with db.transaction() as s:
        # Recorded a day before someone matched it from the queue.
        row = s.get(Receipt, waiting_id)
        row.created_at = row.created_at - timedelta(days=1)
        s.flush()
        receiving.match_exception(s, actor=desk, receipt_id=waiting_id, number=numbers[1], lines=None, photos=[])
        # As the data stood before 0017: every received parcel 'matched', no shipment for a plain ship_return.
        s.execute(update(Receipt).values(status="matched"))
        s.execute(delete(Shipment))
    _move(db, "0016_portal_form", command.downgrade)
    _move(db, "head", command.upgrade)
    with db.read() as s:
        statuses = dict(s.execute(select(Receipt.scanned_code, Receipt.status)).all())
        shipments = sorted(s.execute(select(Shipment.carrier, Shipment.tracking_number, Shipment.direction)).all())
    assert statuses == {numbers[0]: "received", "NO-LABEL": "matched"}
    assert shipments == [("SF", "SF1234567890123", "inbound"), ("YTO", "YT1234567890123", "inbound")]
    with db.read() as s:
        found = receiving.lookup(s, merchant_id=shop.id, code="YT-1234567890123")
    assert [f["number"] for f in found] == [numbers[1]]
    _move(db, "0016_portal_form", command.downgrade)
    with db.read() as s:
        assert set(s.scalars(select(Receipt.status))) == {"matched"}
