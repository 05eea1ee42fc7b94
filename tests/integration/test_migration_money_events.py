"""Migration 0020_money_events copies every element of the money records' JSON `history` arrays into record_events
rows, on SQLite and PostgreSQL: read back through flows.history each record's history is exactly what it stored."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from returnflow.db import Database
from returnflow.flows import RecordEvent, history
from returnflow.schema import alembic_config
from tests.conftest import PG_UP, create_pg_database, drop_pg_database

REVISION = "0020_money_events"
AT = "2026-06-01T08:30:00+00:00"
LATER = "2026-06-02T09:15:30.123456+00:00"
# Every shape the code wrote before: an opening without `from`, a resend without `from`/`to`, extras of all kinds,
# a note added to the last element, a time written in another offset, something no code wrote (kept anyway).
HISTORIES = {
    ("refund_payments", 1): [{"at": AT, "to": "pending", "by": "user:3"},
                             {"at": AT, "from": "pending", "to": "sent", "by": "user:5", "attempt": 1,
                              "retried": False},
                             {"at": LATER, "resent": True, "by": "user:5", "attempt": 1},
                             {"at": LATER, "from": "sent", "to": "succeeded", "by": "user:5", "reference": "BANK-1",
                              "provider_ref": None, "note": "ICBC transfer"}],
    ("refund_payments", 2): [{"at": AT, "to": "pending", "by": "user:3"},
                             {"at": AT, "from": "pending", "to": "sent", "by": "system", "attempt": 1,
                              "retried": False},
                             {"at": AT, "from": "sent", "to": "failed", "by": "gateway:http", "error": "declined"},
                             {"at": "2026-06-03T10:00:00+08:00", "from": "failed", "to": "sent", "by": "user:5",
                              "attempt": 2, "retried": True}],
    ("customer_charges", 1): [{"at": AT, "to": "charging", "by": "user:3", "reason": "scratched"},
                              {"at": AT, "from": "charging", "to": "awaiting_approval", "by": "user:3",
                               "role": "agent", "decided": 5000},
                              {"at": LATER, "from": "awaiting_approval", "to": "charging", "by": "user:4",
                               "role": "supervisor", "note": "ok"},
                              {"at": LATER, "from": "charging", "to": "awaiting_finance", "by": "gateway:manual"},
                              {"at": LATER, "from": "awaiting_finance", "to": "charged", "by": "user:5",
                               "reference": "CASH-9"}],
    ("compensations", 1): [{"at": AT, "from": "requested", "to": "awaiting_approval", "by": "user:3",
                            "role": "agent", "limit": "500.00"},
                           {"at": LATER, "from": "awaiting_approval", "to": "applied", "by": "user:4",
                            "role": "supervisor", "note": "goodwill"}],
    ("balance_spends", 1): [{"at": AT, "from": "requested", "to": "awaiting_approval", "by": "user:3",
                             "role": "agent", "limit": "500.00"},
                            {"at": LATER, "from": "awaiting_approval", "to": "rejected", "by": "user:4",
                             "role": "supervisor", "reason": "no"},
                            {"at": LATER, "from": "rejected", "by": "user:9", "odd": [1, 2]}, "a bare string"],
}
KINDS = {"refund_payments": "refund_payment", "customer_charges": "customer_charge",
         "compensations": "compensation", "balance_spends": "balance_spend"}
# Parents first; one row each (two legs).
TABLES = ["merchants", "customers", "orders", "cases", "refunds", "refund_payments", "customer_charges",
          "compensations", "balance_spends"]


def _upgrade(db: Database, revision: str) -> None:
    config = alembic_config(db.url)
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")])])
def fresh(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if request.param == "sqlite" else create_pg_database("rf_events")
    db = Database(url)
    yield db
    db.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def _value(column: sa.Column, table: str, row_id: int):
    """A value for a required column: parents are row 1, texts unique per row."""
    kind = column.type
    if column.foreign_keys:
        return 1
    if isinstance(kind, sa.JSON):
        return [] if column.name in ("history", "payments", "lines", "items") else {}
    if isinstance(kind, (sa.DateTime, sa.Date)):
        return datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, (sa.Integer, sa.Numeric)):
        return 1
    length = getattr(kind, "length", None) or 20
    return f"{table[:3]}{row_id}{column.name}"[:length]


def _seed(db: Database) -> None:
    meta = sa.MetaData()
    meta.reflect(db.engine, only=TABLES)
    with db.engine.begin() as conn:
        for name in TABLES:
            table = meta.tables[name]
            ids = [1, 2] if name == "refund_payments" else [1]
            for row_id in ids:
                row = {c.name: _value(c, name, row_id) for c in table.columns
                       if not c.nullable and c.server_default is None and c.name != "id"}
                row["id"] = row_id
                if "state" in row:
                    row["state"] = "x"
                if (name, row_id) in HISTORIES:
                    row["history"] = HISTORIES[(name, row_id)]
                conn.execute(table.insert(), [row])
            if db.engine.dialect.name == "postgresql":
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 10)"))


def _expected(element) -> dict:
    """What reads back: an element that was not an object is kept as its value, at the record's creation time."""
    return element if isinstance(element, dict) else {"at": "2026-06-01T08:00:00+00:00", "by": "", "value": element}


def test_every_history_element_becomes_an_event_and_reads_back_the_same(fresh):
    before = ScriptDirectory.from_config(alembic_config(fresh.url)).get_revision(REVISION).down_revision
    _upgrade(fresh, before)
    _seed(fresh)
    _upgrade(fresh, "head")
    with fresh.read() as s:
        for (table, row_id), elements in HISTORIES.items():
            assert history(s, KINDS[table], row_id) == [_expected(e) for e in elements], table
        total = s.scalar(sa.select(sa.func.count()).select_from(RecordEvent))
        actions = [e.action for e in s.scalars(sa.select(RecordEvent).where(
            RecordEvent.kind == "refund_payment", RecordEvent.record_id == 1).order_by(RecordEvent.id))]
        charge = s.scalars(sa.select(RecordEvent).where(RecordEvent.kind == "customer_charge")
                           .order_by(RecordEvent.id)).all()
        legs_case = {e.case_id for e in s.scalars(sa.select(RecordEvent).where(RecordEvent.kind == "refund_payment"))}
    assert total == sum(len(e) for e in HISTORIES.values())
    assert actions == ["open", "send", "resend", "settle"]  # the declared actions of refunds/money_flows.py
    assert [e.action for e in charge] == ["charge", "hold_for_approval", "approve_charge", "charge_manual",
                                          "charge_done"]
    assert legs_case == {1}  # a leg's events name its refund's case
    columns = {c["name"] for c in sa.inspect(fresh.engine).get_columns("refund_payments")}
    assert "history" not in columns
