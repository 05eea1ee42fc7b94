"""Migration 0015_portal_identity rewrites the phones stored before it in E.164 where they can be read, on SQLite
and PostgreSQL, and leaves the others as they were."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from returnflow.db import Database
from returnflow.schema import alembic_config
from tests.conftest import PG_UP, create_pg_database, drop_pg_database

REVISION = "0015_portal_identity"
# (merchant currency, customer country, phone as stored before) → phone after the migration
PHONES = [
    ("CNY", None, "+86 138-0000-1111", "+8613800001111"),
    ("CNY", "", "138 0000 2222", "+8613800002222"),
    ("CNY", "CN", "0086 13800003333", "+8613800003333"),
    ("CNY", "GB", "07400 123456", "+447400123456"),       # the customer's country reads a local number
    ("CNY", None, "12345", "12345"),                      # no valid number: left as it was
    ("CNY", None, "call 138 0000 4444", "call 138 0000 4444"),
    ("EUR", None, "0151 23456789", "0151 23456789"),     # no country known: a local number is not guessed at
    ("EUR", None, "+49 151 23456789", "+4915123456789"),
    ("CNY", None, "", ""),
    ("CNY", None, None, None),
]


def _upgrade(db: Database, revision: str) -> None:
    config = alembic_config(db.url)
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")])])
def fresh(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if request.param == "sqlite" else create_pg_database("rf_phones")
    db = Database(url)
    yield db
    db.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def test_stored_phones_are_rewritten_in_e164_where_they_can_be_read(fresh):
    before = ScriptDirectory.from_config(alembic_config(fresh.url)).get_revision(REVISION).down_revision
    _upgrade(fresh, before)
    with fresh.engine.begin() as conn:
        for i, currency in enumerate(("CNY", "EUR"), start=1):
            conn.execute(text("INSERT INTO merchants (id, code, name, default_currency, default_locale, settings, "
                              "created_at) VALUES (:id, :code, :code, :currency, 'zh-CN', '{}', "
                              "CURRENT_TIMESTAMP)"), {"id": i, "code": f"m{i}", "currency": currency})
        for i, (currency, country, phone, _) in enumerate(PHONES):
            conn.execute(text("INSERT INTO customers (id, merchant_id, external_id, name, phone, country) "
                              "VALUES (:id, :merchant, :ext, '', :phone, :country)"),
                         {"id": i + 1, "merchant": 1 if currency == "CNY" else 2, "ext": f"C-{i}", "phone": phone,
                          "country": country})
    _upgrade(fresh, "head")
    with fresh.engine.connect() as conn:
        after = dict(conn.execute(text("SELECT id, phone FROM customers")).all())
        countries = conn.execute(text("SELECT country FROM merchants")).scalars().all()
    assert [after[i + 1] for i in range(len(PHONES))] == [expected for *_, expected in PHONES]
    assert countries == [None, None]  # numbers pushed from now on are read as CN until a country is set
