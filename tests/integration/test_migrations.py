"""Alembic is the only way the schema changes: it builds the whole schema, and concurrent starts are safe."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect

from returnflow.db import Base, Database
from returnflow.schema import migrate
from tests.conftest import PG_UP, create_pg_database, drop_pg_database


def test_migrations_build_exactly_the_models_schema(database):
    from returnflow.cases.search import is_search_object

    tables = {t for t in inspect(database.engine).get_table_names() if not is_search_object(t, "table")}
    assert tables == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspect(database.engine).get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name


def test_migrating_twice_changes_nothing(database):
    migrate(database)
    migrate(database)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")
def test_several_processes_may_migrate_a_fresh_database_at_once():
    url = create_pg_database("rf_mig")
    try:
        code = "import sys; from returnflow.db import Database; from returnflow.schema import migrate; " \
               "migrate(Database(sys.argv[1]))"
        procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert all(rc == 0 for rc, _ in results), results
        db = Database(url)
        assert "cases" in inspect(db.engine).get_table_names()
        db.dispose()
    finally:
        drop_pg_database(url)


def test_the_database_refuses_to_change_a_case_event(db):
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    from tests.support.flows import open_for
    from tests.support.world import make_order, make_shop

    shop = make_shop(db)
    make_order(db, shop)
    open_for(db, shop.actors["agent"], "O-1", "return_refund")
    with pytest.raises(DatabaseError, match="immutable"):
        with db.transaction() as tx:
            tx.connection().execute(text("UPDATE case_events SET action = 'approve'"))
    with db.read() as s:
        assert s.execute(text("SELECT action FROM case_events")).scalars().all() == ["open"]


def test_the_models_need_no_migration_that_is_not_written(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from returnflow.cases.search import include_object

    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"the models changed without a migration: {diff}"
