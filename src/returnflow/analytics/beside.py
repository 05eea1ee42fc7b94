"""A second read connection beside a report's own, so the database works on some tiles while this thread works on
the others.

The dashboard's tiles are of two kinds. Some are mostly the database's work (the period's sales, the money, SLA
and backlog tiles, and on PostgreSQL the step times: a grouping statement whose answer is a few rows); the others
are mostly Python's (the returned lines are read whole and grouped here, the satisfaction comments are ranked here,
and on SQLite the step times are ranked here). Run one after another, the database idled while Python worked and
the other way round. `Beside` runs the first kind, in the order given, on one more thread with its own read
transaction on the same engine, while the caller's thread runs the rest; the results are the same objects either
way. On SQLite too: sqlite3 lets go of the interpreter while SQLite steps through a statement, so a grouping
statement there runs beside Python's work here.

What the tiles see: each tile reads in one transaction. On PostgreSQL each statement sees what had committed when
it began (READ COMMITTED), so tiles read one after another could always differ by what committed in between, and
two connections change nothing there. On SQLite a read transaction is one snapshot: the tiles of the second
connection see what had committed when it first read, a few milliseconds after the first connection's; they may
differ by what committed in those milliseconds.

An engine whose pool cannot give a second connection to the same database (an SQLite database in memory: one
connection per thread, or one for all) runs the calls in the caller's thread and transaction instead.

The caches a warm-up fills (returned lines, sales: analytics/cube.py, rates.py) are shared dicts: the second
connection's session points at the caller's, so a figure warmed on either is read by both.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from .sql import prepare

SHARED = ("analytics_lines", "analytics_returned", "analytics_sold", "analytics_rates")


class Beside:
    """`with Beside(session) as beside:` then `beside.submit(fn, *args)` runs `fn(second_session, *args)` on the
    second connection, in submission order, and returns its Future. The block's end waits for everything submitted,
    then ends the second transaction and its thread, whether the block raised or not."""

    def __init__(self, session: Session) -> None:
        for key in SHARED:
            session.info.setdefault(key, {})
        self._info = {key: session.info[key] for key in SHARED}
        self._bind = session.get_bind()
        self.dialect = self._bind.dialect.name
        self._caller = session
        self._alone = isinstance(getattr(self._bind, "pool", None), (SingletonThreadPool, StaticPool))
        self._pool: ThreadPoolExecutor | None = None
        self._session: Session | None = None

    def __enter__(self) -> Beside:
        if not self._alone:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-beside")
        return self

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(self._call, fn, args)
        done: Future = Future()  # no second connection: at once, here
        try:
            done.set_result(fn(self._caller, *args))
        except Exception as exc:  # noqa: BLE001 — raised where the caller asks for the result, as a lane's would be
            done.set_exception(exc)
        return done

    def _call(self, fn: Callable[..., Any], args: tuple) -> Any:
        if self._session is None:  # made on the lane's own thread, used only there
            session = Session(bind=self._bind, expire_on_commit=False)
            session.begin()
            session.info.update(self._info)
            self._session = session
            prepare(session)
        return fn(self._session, *args)

    def __exit__(self, *_exc) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=True)
        self._pool = None
        if self._session is not None:
            self._session.close()  # a read: nothing to keep, rolled back
            self._session = None
