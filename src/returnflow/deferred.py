"""Deferred writes: the derivation step's writes, sent as a few set statements instead of one statement each.

A derivation batch (returnflow/derive.py) runs every derived producer for every event of its cases; each producer
writes a row or two per event (the step summary's time, the step clocks, the record's opening move, the derivation
rows, the outbox messages). Executed one by one, those statements were most of the worker's CPU (SQLAlchemy's
per-statement work) and, on PostgreSQL, a round trip each.

Inside `deferred_writes`, a write marked `deferrable` (an INSERT, UPDATE or DELETE without RETURNING whose result
nobody reads) is kept instead of executed. Before any other statement runs on the connection — a producer's read,
an ORM flush, the end of the block — the kept writes are executed, grouped: the same statement for many rows is one
`executemany` (on PostgreSQL all of a flush's groups share one round trip: psycopg's pipeline mode). So:
- a read sees every write before it, as if they had run one by one;
- the writes of one case to one table keep their order (a step's clocks end before the next step's start): a group
  only takes a case's write once that case's earlier writes to the same table are in an earlier group; the writes
  of different cases, or to different tables, touch different rows, so their relative order does not matter;
- a write that fails raises at the latest when the block ends, inside the same transaction, which rolls back whole
  (the derivation then derives case by case, so one failing case holds no other back).
Outside the block a deferrable write runs at once, as any statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Insert, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from . import prepared

DEFER = "returnflow_defer"
_BUFFER = prepared.KEPT  # prepared statements send the kept writes first too


def deferrable(statement):
    """`statement` marked as a write nobody waits for (see above), and `prepared` (returnflow/prepared.py: it runs
    on the driver's cursor, many rows in one executemany). An INSERT is made `inline`: no implicit RETURNING of the
    new row's key. It must be executable for many rows at once: no `IN` list (an expanding parameter), which
    SQLAlchemy cannot execute that way; write `a = x OR a = y` instead."""
    if isinstance(statement, Insert):
        statement = statement.inline()
    lists = [name for name, bind in statement.compile().binds.items() if bind.expanding or bind.literal_execute]
    if lists:
        raise ValueError(f"a deferrable write cannot have IN lists (parameters {lists}): {statement}")
    return prepared.prepared(statement).execution_options(**{DEFER: True})


class Buffer:
    """The writes kept in one `deferred_writes` block. `case`: the case whose events are being derived (the
    derivation step sets it), which keys the order of each table's writes."""

    __slots__ = ("entries", "case", "_flushing")

    def __init__(self) -> None:
        self.entries: list[tuple] = []
        self.case: int | None = None
        self._flushing = False

    def add(self, statement, params) -> None:
        self.entries.append((statement, params, (statement.table.name, self.case)))

    def flush(self, connection) -> None:
        if not self.entries or self._flushing:
            return
        entries, self.entries = self.entries, []
        levels: list[dict] = []  # each: statement -> its rows, in the order written
        last: dict[tuple, tuple] = {}  # (table, case) -> (its latest statement, that statement's level)
        for statement, params, key in entries:
            before = last.get(key)
            level = 0 if before is None else before[1] if before[0] is statement else before[1] + 1
            last[key] = (statement, level)
            if level == len(levels):
                levels.append({})
            rows = levels[level].setdefault(statement, [])
            if isinstance(params, list):
                rows.extend(params)
            else:
                rows.append(params if params is not None else {})
        self._flushing = True
        try:
            with _one_round_trip(connection):
                for groups in levels:
                    for statement, rows in groups.items():
                        prepared.run(connection, statement, rows if len(rows) > 1 else rows[0])
        finally:
            self._flushing = False


@contextmanager
def _one_round_trip(connection) -> Iterator[None]:
    """PostgreSQL: the statements inside are sent without waiting for each answer (psycopg's pipeline), and waited
    for together at the end, which raises the first error among them. SQLite: as they are."""
    if connection.dialect.name != "postgresql":
        yield
        return
    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():
            yield
    except driver.Error as error:  # raised as SQLAlchemy raises a driver's error everywhere else
        raise DBAPIError.instance(None, None, error, driver.Error) from None


def execute(session, statement, params=None):
    """Runs a Core statement on the session's connection, or keeps it when it is `deferrable` and a
    `deferred_writes` block is open (then returns None: nobody reads a deferred write's result)."""
    connection = session.connection()
    if DEFER in statement.get_execution_options():
        buffer = connection.info.get(_BUFFER)
        if buffer is not None:
            buffer.add(statement, params)
            return None
    return prepared.run(connection, statement, params)


@contextmanager
def deferred_writes(session) -> Iterator[Buffer]:
    """Keeps this transaction's `deferrable` writes until the next other statement or the block's end (see
    above); yields the buffer. Nested blocks share the outer one."""
    connection = session.connection()
    outer = connection.info.get(_BUFFER)
    if outer is not None:
        yield outer
        return
    buffer = connection.info[_BUFFER] = Buffer()
    try:
        yield buffer
        buffer.flush(connection)
    finally:
        del connection.info[_BUFFER]


def _before_execute(conn, _statement, _multiparams, _params, _options) -> None:
    buffer = conn.info.get(_BUFFER)
    if buffer is not None and buffer.entries:
        buffer.flush(conn)  # what runs next sees every write kept before it


def install(engine: Engine) -> None:
    """Every engine: a statement that is not kept first executes the kept writes (make_engine calls this)."""
    event.listen(engine, "before_execute", _before_execute)
