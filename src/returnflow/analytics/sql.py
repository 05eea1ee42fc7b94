"""Portable SQL pieces: time buckets, epoch seconds and exact nearest-rank percentiles on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Float, String, case, func, literal_column, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class _Bucket(FunctionElement):
    """The merchant-local day ('2026-11-24'), ISO week (its Monday) or month ('2026-11') a timestamp falls in, as
    text. Arguments: the column, the zone's name (PostgreSQL converts with AT TIME ZONE) and an SQLite date
    modifier such as '+480 minutes' (SQLite knows no zones: the offset, piecewise over the period's transitions).

    One class per granularity: the granularity changes the SQL text, so it must be part of the statement cache
    key, which a class is and a plain attribute is not.
    """

    type = String()
    inherit_cache = True
    granularity = ""


class _Day(_Bucket):
    inherit_cache = True
    granularity = "day"


class _Week(_Bucket):
    inherit_cache = True
    granularity = "week"


class _Month(_Bucket):
    inherit_cache = True
    granularity = "month"


_BUCKETS = {"day": _Day, "week": _Week, "month": _Month}


@lru_cache(maxsize=256)
def offsets(zone: str, start: datetime, end: datetime) -> tuple[tuple[datetime | None, int], ...]:
    """The zone's UTC offset in minutes over [start, end): ((until, minutes), ..., (None, minutes)), `until` being
    the UTC instant the next offset starts (daylight saving); one element for zones without changes."""
    tz = ZoneInfo(zone)

    def off(t: datetime) -> int:
        return int(t.astimezone(tz).utcoffset().total_seconds() // 60)

    out: list[tuple[datetime | None, int]] = []
    t, last = start - timedelta(days=1), end + timedelta(days=1)
    current = off(t)
    while t < last:
        nxt = t + timedelta(days=1)
        if off(nxt) != current:
            while off(t) == current:  # transitions fall on a quarter hour
                t += timedelta(minutes=15)
            out.append((t, current))
            current = off(t)
            continue
        t = nxt
    out.append((None, current))
    return tuple(out)


# Written into the SQL text, not bound: PostgreSQL groups by an expression only when its text is the selected one.
def _minutes(n: int):
    return literal_column(f"'{n:+d} minutes'")


def _modifier(column, pieces) -> object:
    if len(pieces) == 1:
        return _minutes(pieces[0][1])
    return case(*[(column < literal_column(f"'{until:%Y-%m-%d %H:%M:%S.%f}'"), _minutes(minutes))
                  for until, minutes in pieces[:-1]], else_=_minutes(pieces[-1][1]))


def bucket(column, granularity: str, zone: str = "UTC", start: datetime | None = None,
           end: datetime | None = None) -> _Bucket:
    """The bucket of `column` in `zone`; `start`/`end` bound the instants bucketed (for SQLite's offsets)."""
    if start is None or end is None:
        start = end = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
    if not all(ch.isalnum() or ch in "/_+-" for ch in zone):
        raise ValueError(zone)
    return _BUCKETS[granularity](column, literal_column(f"'{zone}'"), _modifier(column, offsets(zone, start, end)))


def period_bucket(column, f) -> _Bucket:
    """The bucket of `column` for the filters: their granularity, in their merchant's time zone."""
    return bucket(column, f.granularity, f.zone, f.start, f.end)


@compiles(_Bucket, "sqlite")
def _bucket_sqlite(element, compiler, **kw):
    col, mod = (compiler.process(x, **kw) for x in (element.clauses.clauses[0], element.clauses.clauses[2]))
    return {"day": f"strftime('%Y-%m-%d', {col}, {mod})",
            "week": f"date({col}, {mod}, 'weekday 0', '-6 days')",
            "month": f"strftime('%Y-%m', {col}, {mod})"}[element.granularity]


@compiles(_Bucket, "postgresql")
def _bucket_pg(element, compiler, **kw):
    col, zone = (compiler.process(x, **kw) for x in element.clauses.clauses[:2])
    column = f"({col} AT TIME ZONE {zone})"
    return {"day": f"to_char({column}, 'YYYY-MM-DD')",
            "week": f"to_char(date_trunc('week', {column}), 'YYYY-MM-DD')",
            "month": f"to_char({column}, 'YYYY-MM')"}[element.granularity]


class epoch(FunctionElement):  # noqa: N801
    """Seconds since 1970 of a timestamp, as a float."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_pg(element, compiler, **kw):
    return f"date_part('epoch', {compiler.process(element.clauses, **kw)})"


class span(FunctionElement):  # noqa: N801
    """Seconds from the first timestamp to the second, as a float (NULL when either is NULL), in a form both
    databases accept in a stored generated column: on SQLite the difference of the two `epoch` values exactly as
    they were read before; on PostgreSQL from the interval between them (`date_part` of a timestamp with time zone
    is not immutable; the interval's epoch is, and it is exact to the microsecond)."""

    type = Float()
    inherit_cache = True


@compiles(span, "sqlite")
def _span_sqlite(element, compiler, **kw):
    start, end = (compiler.process(x, **kw) for x in element.clauses.clauses)
    return f"(((julianday({end}) - 2440587.5) * 86400.0) - ((julianday({start}) - 2440587.5) * 86400.0))"


@compiles(span, "postgresql")
def _span_pg(element, compiler, **kw):
    start, end = (compiler.process(x, **kw) for x in element.clauses.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"


def plain_rows(session, stmt) -> list[tuple]:
    """The rows of `stmt` as the driver hands them over (tuples), without building a Row for each: for a period's
    big reads whose columns need no conversion by their column types (numbers; not timestamps, which SQLite returns
    as text). A platform's period is 100,000s of rows, and the Rows cost more than the reading."""
    result = session.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def nulls_last(column: ColumnElement):
    """An ordering key that puts NULLs after every value on both databases."""
    return case((column.is_(None), 1), else_=0)


PERCENTILES = (50, 90, 95)


def percentile_select(durations, columns: list[str], group: str | None = None):
    """Count, mean and exact nearest-rank p50/p90/p95 of each duration column of the subquery `durations`.

    Nearest rank: the p-th percentile of n values is the ceil(p*n/100)-th smallest, computed with integer
    arithmetic as (p*n + 99) // 100 so both databases pick the same row.
    """
    partition = [durations.c[group]] if group else None
    ranked_cols = [durations.c[group]] if group else []
    for name in columns:
        col = durations.c[name]
        ranked_cols += [col,
                        func.row_number().over(partition_by=partition, order_by=(nulls_last(col), col)).label(f"rn_{name}"),
                        func.count(col).over(partition_by=partition).label(f"n_{name}")]
    ranked = select(*ranked_cols).subquery("ranked")
    out = [ranked.c[group]] if group else []
    for name in columns:
        col, rn, n = ranked.c[name], ranked.c[f"rn_{name}"], ranked.c[f"n_{name}"]
        out += [func.count(col).label(f"{name}_n"), func.avg(col).label(f"{name}_avg")]
        for p in PERCENTILES:
            out.append(func.max(case((rn == (n * p + 99) // 100, col))).label(f"{name}_p{p}"))
    stmt = select(*out)
    if group:
        stmt = stmt.group_by(ranked.c[group])
    return stmt


def prepare(session) -> None:
    """Gives an SQLite connection a bigger page cache and memory-mapped reads before its first report.

    Reports read far more pages than the hot paths; SQLite's default cache (2 MB) would re-read them from the OS
    on every query. Set once per connection (the pool keeps them). On PostgreSQL, for this read transaction only:
    index lookups priced as on SSD (the default 4.0 prices disks with heads, and then a merchant's 90 days is read
    by scanning every order line), no JIT (compiling costs more than these queries run) and room to group in
    memory.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Grouping a platform's period (hundreds of thousands of rows) sorted on disk with the 4 MB default.
        conn.exec_driver_sql(_LOCAL_SETTINGS)
    if conn.dialect.name == "sqlite" and not conn.info.get("analytics_tuned"):
        conn.exec_driver_sql("PRAGMA cache_size=-32768")
        conn.exec_driver_sql("PRAGMA mmap_size=1073741824")
        conn.info["analytics_tuned"] = True


# SET LOCAL, one round trip for all (set_config's third argument: for this transaction only). A dashboard runs this
# on each of its connections, and on a busy two-core box every round trip cost 5-10 ms.
_LOCAL_SETTINGS = ("SELECT set_config('random_page_cost', '1.1', true), set_config('jit', 'off', true), "
                   "set_config('work_mem', '64MB', true)")
_JOINS_OFF = text("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")
_JOINS_ON = text("SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)")


@contextmanager
def row_by_row(session) -> Iterator[None]:
    """PostgreSQL: the rows a period's statement joins (its orders' lines, its refunds' cases) looked up one by one
    on their index (nested loops), for the statements inside only.

    For a period of every merchant the planner prices reading the whole joined table (2,000,000 order lines,
    1,000,000 cases) once and hash-joining it below looking up each of the period's rows, and is wrong by 2-3x
    (bench/analytics.py's history, the platform's 90 days, measured 2026-12-07): sales 0.9-1.0 s against 0.48-0.50 s
    (246,000 order lines), refunds by cause 0.60 s against 0.22 s (105,000 refunds). For one merchant either plan
    takes the same (sales 55-63 ms, refunds 38-43 ms)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Both whole-table joins: with hash joins off alone, the planner took a merge join over all 2,000,000 order
        # lines instead (their index read in full, 0.85 s against 0.39 s looked up; the history generated anew
        # on 2026-12-07 evening).
        session.execute(_JOINS_OFF)
    yield
    # Not in a `finally`: after a failed statement the transaction is aborted (a SET would hide the error with its
    # own), and a SET LOCAL ends with its transaction anyway.
    if postgres:
        session.execute(_JOINS_ON)
