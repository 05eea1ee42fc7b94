"""Migration 0022_derivations on a database with history, on SQLite and PostgreSQL: the events written before it
count as derived (the low-water mark starts at the newest), so an upgrade derives nothing again; an event written
after it is derived once."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, select

from returnflow import derive
from returnflow.cases.models import CaseEvent, OutboxMessage
from returnflow.db import Database
from returnflow.jobs.worker import Worker
from returnflow.schema import alembic_config, migrate
from returnflow.sla.models import Timer
from tests.conftest import PG_UP, create_pg_database, drop_pg_database
from tests.support.flows import open_for, run
from tests.support.world import make_order, make_shop


def _alembic(db: Database, verb: str, revision: str) -> None:
    config = alembic_config(db.url)
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)
        connection.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")])])
def fresh(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if request.param == "sqlite" else create_pg_database("rf_derive")
    db = Database(url)
    migrate(db)
    yield db
    db.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as s:
        return (s.scalar(select(func.count()).select_from(CaseEvent)),
                s.scalar(select(func.count()).select_from(OutboxMessage)),
                s.scalar(select(func.count()).select_from(Timer)))


def test_history_counts_as_derived_and_a_new_event_is_derived_once(fresh, monkeypatch):
    shop = make_shop(fresh)
    make_order(fresh, shop)
    number = open_for(fresh, shop.actors["agent"], "O-1", "return_refund")  # derived inline (the suite's mode)
    run(fresh, number, "approve", shop.actors["agent"])
    events, messages, timers = _counts(fresh)
    assert events == 2 and messages > 0 and timers > 0

    _alembic(fresh, "downgrade", "0021_cache_versions")  # as before the revision: no derivation tables
    _alembic(fresh, "upgrade", "head")
    with fresh.read() as s:
        assert derive.backlog(s) == {"underived": 0, "oldest_seconds": 0.0, "position": s.scalar(
            select(func.max(CaseEvent.id)))}

    monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")
    derive.get_derive_settings.cache_clear()
    try:
        assert Worker(fresh).run_once(timers=False, messages=False).derived == 0
        assert _counts(fresh) == (events, messages, timers)  # nothing derived again
        run(fresh, number, "ship_return", shop.actors["agent"])
        assert _counts(fresh)[1:] == (messages, timers)  # the request wrote no derived rows
        assert Worker(fresh).run_once(timers=False, messages=False).derived == 1
        after = _counts(fresh)
        assert after[0] == events + 1 and after[1] > messages and after[2] > timers
        assert Worker(fresh).run_once(timers=False, messages=False).derived == 0
        assert _counts(fresh) == after
    finally:
        derive.get_derive_settings.cache_clear()
