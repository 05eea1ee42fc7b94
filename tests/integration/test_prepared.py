"""Prepared statements (returnflow/prepared.py): a hot statement run on the driver's cursor gives what SQLAlchemy's
own execution gives — the same rows and types, the same column defaults, the same rowcount, the same errors — joins
the connection's transaction as SQLAlchemy would, and is seen by statement counters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from returnflow import deferred, derive, prepared
from returnflow.cases.store import OUTBOX
from returnflow.deferred import deferrable
from returnflow.cases.models import outbox_lane
from tests.support.world import make_shop

POSITIONS = derive.POSITIONS
COLUMNS = [c for c in OUTBOX.c if c.name != "id"]
_BY_TOPIC = select(*COLUMNS).where(OUTBOX.c.topic == bindparam("topic")).order_by(OUTBOX.c.id)
PREPARED_BY_TOPIC = prepared.prepared(_BY_TOPIC)
PREPARED_INSERT = prepared.prepared(insert(OUTBOX))

zones = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
moments = st.builds(lambda seconds, micro, zone: (datetime(2026, 1, 1, tzinfo=timezone.utc)
                                                  + timedelta(seconds=seconds, microseconds=micro)).astimezone(zone),
                    st.integers(0, 10 ** 8), st.integers(0, 999_999), zones)
words = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
payloads = st.dictionaries(words, st.one_of(st.none(), st.booleans(), st.integers(-10 ** 9, 10 ** 9), words,
                                            st.lists(words, max_size=3)), max_size=4)
rows = st.fixed_dictionaries(
    {"topic": st.sampled_from(["case.opened", "case.closed", "退款.完成"]), "payload": payloads,
     "available_at": moments},
    optional={"lease_until": st.one_of(st.none(), moments), "attempts": st.integers(0, 30),
              "priority": st.integers(0, 200), "secret": st.booleans(), "event_id": st.integers(1, 2 ** 40)})


def test_a_prepared_insert_and_select_give_what_sqlalchemy_gives(db):
    """The same row written by SQLAlchemy and by the prepared path, read back by both: equal values and types
    (timezone-aware UTC datetimes, JSON as dicts), the defaults filled alike (a lane from the row's own values)."""
    merchant_id = make_shop(db).id

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(row=rows)
    def check(row):
        row = {**row, "merchant_id": merchant_id}
        with db.engine.begin() as conn:
            conn.execute(delete(OUTBOX).where(OUTBOX.c.topic == row["topic"]))
            conn.execute(insert(OUTBOX), row)  # SQLAlchemy
            prepared.execute(conn, PREPARED_INSERT, row)  # the driver's cursor
        with db.engine.connect() as conn:
            by_sqlalchemy = conn.execute(_BY_TOPIC, {"topic": row["topic"]}).all()
            by_prepared = prepared.execute(conn, PREPARED_BY_TOPIC, {"topic": row["topic"]}).all()
        assert len(by_sqlalchemy) == 2
        first, second = (dict(r._mapping) for r in by_sqlalchemy)
        # The defaults that depend on the clock differ by the moment they were taken; everything else is equal.
        for clocked in ("created_at",) + (() if "available_at" in row else ("available_at",)):
            assert abs(first.pop(clocked) - second.pop(clocked)) < timedelta(seconds=5)
        assert first == second
        assert second["lane"] == outbox_lane(row) and second["status"] == "pending"
        assert second["available_at"] == row["available_at"] and second["available_at"].tzinfo is not None
        for mine, theirs in zip(by_prepared, by_sqlalchemy):
            assert tuple(mine) == tuple(theirs) and mine._mapping.keys() == theirs._mapping.keys()
            assert [type(v) for v in mine] == [type(v) for v in theirs]
            assert mine.topic == theirs.topic and mine.payload == theirs.payload

    check()


def test_rowcount_executemany_and_errors_are_sqlalchemys(db):
    add = prepared.prepared(insert(POSITIONS))
    move = prepared.prepared(update(POSITIONS).where(POSITIONS.c.event_id < bindparam("below"))
                             .values(event_id=bindparam("to")))
    names = prepared.prepared(select(POSITIONS.c.name).where(POSITIONS.c.name.like("p-%")).order_by(POSITIONS.c.name))
    with db.engine.begin() as conn:
        assert prepared.executemany(conn, add, [{"name": f"p-{i}", "event_id": i} for i in range(5)]).rowcount == 5
        assert prepared.execute(conn, move, {"below": 3, "to": 99}).rowcount == 3
        assert prepared.execute(conn, names).scalars().all() == [f"p-{i}" for i in range(5)]
    with pytest.raises(IntegrityError):  # SQLAlchemy's error, as callers catch it
        with db.engine.begin() as conn:
            prepared.execute(conn, add, {"name": "p-new", "event_id": 1})
            prepared.execute(conn, add, {"name": "p-0", "event_id": 1})  # taken: the transaction rolls back
    with db.engine.connect() as conn:
        kept = dict(conn.execute(select(POSITIONS.c.name, POSITIONS.c.event_id)
                                 .where(POSITIONS.c.name.like("p-%"))).all())
    assert kept == {"p-0": 99, "p-1": 99, "p-2": 99, "p-3": 3, "p-4": 4}  # p-new rolled back with its transaction


def test_a_prepared_statement_joins_its_connections_transaction(db):
    """On a connection that ran nothing else, the statement begins the transaction as SQLAlchemy would: a commit
    keeps it, a rollback drops it (a separate connection's counter was once never committed)."""
    add = prepared.prepared(insert(POSITIONS))
    with db.engine.connect() as conn:
        prepared.execute(conn, add, {"name": "kept", "event_id": 1})
        assert conn.in_transaction()
        conn.commit()
        prepared.execute(conn, add, {"name": "dropped", "event_id": 2})
        conn.rollback()
    with db.engine.connect() as conn:
        found = set(conn.execute(select(POSITIONS.c.name).where(POSITIONS.c.name.in_(["kept", "dropped"])))
                    .scalars())
    assert found == {"kept"}


def test_statement_counters_see_prepared_statements(db):
    seen = []

    def count(_conn, _cursor, statement, _params, _context, many):
        seen.append((statement.split()[0], many))

    add = prepared.prepared(insert(POSITIONS))
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.engine.begin() as conn:
            prepared.execute(conn, add, {"name": "c-1", "event_id": 1})
            prepared.executemany(conn, add, [{"name": "c-2", "event_id": 2}, {"name": "c-3", "event_id": 3}])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert seen == [("INSERT", False), ("INSERT", True)]


def test_in_lists_of_any_length_give_what_sqlalchemy_gives(db):
    """An IN list is expanded by SQLAlchemy's own code once per length (none, one, several: the same rows)."""
    add = prepared.prepared(insert(POSITIONS))
    among = select(POSITIONS.c.name, POSITIONS.c.event_id).where(
        POSITIONS.c.name.in_(bindparam("names", expanding=True)), POSITIONS.c.event_id >= bindparam("least")
    ).order_by(POSITIONS.c.name)
    fast = prepared.prepared(among)
    with db.engine.begin() as conn:
        prepared.executemany(conn, add, [{"name": f"in-{i}", "event_id": i} for i in range(6)])
        for names in ([], ["in-1"], ["in-0", "in-2", "in-5", "missing"], ["in-3", "in-4"], ["in-1"]):
            params = {"names": names, "least": 1}
            mine = prepared.execute(conn, fast, params).all()
            assert [tuple(r) for r in mine] == [tuple(r) for r in conn.execute(among, params).all()]
            assert [r.name for r in mine] == sorted(n for n in names if n not in ("in-0", "missing"))


def test_what_the_prepared_path_cannot_run_is_refused_where_it_is_declared():
    with pytest.raises(ValueError, match="literal_execute"):
        prepared.prepared(select(POSITIONS.c.name).where(
            POSITIONS.c.name == bindparam("name", literal_execute=True)))
    with pytest.raises(ValueError, match="IN lists"):  # a kept write runs for many rows at once: no IN list
        deferrable(update(POSITIONS).where(POSITIONS.c.name.in_(bindparam("names", expanding=True)))
                   .values(event_id=0))


def test_a_prepared_read_sees_the_writes_kept_before_it(db):
    """Inside a derivation's kept writes (returnflow/deferred.py), a prepared statement sends them first, as any
    statement through SQLAlchemy does."""
    add = deferrable(insert(POSITIONS))
    read = prepared.prepared(select(POSITIONS.c.event_id).where(POSITIONS.c.name == bindparam("name")))
    with db.transaction() as session:
        with deferred.deferred_writes(session) as kept:
            deferred.execute(session, add, {"name": "kept-1", "event_id": 7})
            assert len(kept.entries) == 1
            assert prepared.execute(session.connection(), read, {"name": "kept-1"}).scalar() == 7
            assert not kept.entries
