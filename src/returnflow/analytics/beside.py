"""A second read connection beside a report's own, so the database works on some tiles while this thread works on
the others (PostgreSQL; on SQLite the same calls run in the caller's thread and transaction).

The dashboard's tiles are of two kinds. Some are mostly the database's work (the money, SLA, step-time and backlog
tiles and the period's sales: a grouping statement whose answer is a few rows); the others are mostly Python's (the
returned lines are read whole and grouped here, the satisfaction comments are ranked here). Run one after another,
the database idles while Python works and the other way round. `Beside` runs the first kind, in the order given, on
one more thread with its own read transaction on the same engine, while the caller's thread runs the rest; the
results are the same objects either way.

What the tiles see: on PostgreSQL each statement sees what had committed when it began (READ COMMITTED), so tiles
read one after another could always differ by what committed in between; on two connections that is unchanged.
SQLite keeps one connection: its read transaction is one snapshot for every tile, and its statements hold the
interpreter for most of their time (measured: a second connection made the platform's dashboard no faster,
2.39 s against 2.42 s), so a second one would only give up that snapshot.

The caches a warm-up fills (returned lines, sales: analytics/cube.py, rates.py) are shared dicts: the second
connection's session points at the caller's, so a figure warmed on either is read by both.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from .sql import prepare

SHARED = ("analytics_lines", "analytics_returned", "analytics_sold", "analytics_rates")


class Beside:
    """`with Beside(session) as beside:` then `beside.submit(fn, *args)` runs `fn(second_session, *args)` on the
    second connection, in submission order, and returns its Future. The block's end waits for everything submitted,
    then ends the second transaction and its thread, whether the block raised or not."""

    def __init__(self, session: Session) -> None:
        self._caller = session
        self._bind = session.get_bind()
        self._parallel = self._bind.dialect.name == "postgresql"
        for key in SHARED:
            session.info.setdefault(key, {})
        self._info = {key: session.info[key] for key in SHARED}
        self._pool: ThreadPoolExecutor | None = None
        self._session: Session | None = None

    def __enter__(self) -> Beside:
        if self._parallel:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-beside")
        return self

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(self._call, fn, args)
        done: Future = Future()  # SQLite: at once, here
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
