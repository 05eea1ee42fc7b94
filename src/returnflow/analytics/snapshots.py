"""The platform's dashboard (every merchant at once), kept ahead of the request.

One merchant's dashboard is read live on every request (bench/analytics.py: p95 under 500 ms at 1,000,000 cases).
The platform's view reads every merchant's period: seconds at that size (1.3-3 s on two cores), because exact
distinct-case counts and nearest-rank percentiles need every row of the period. So the platform's view is served
from a **snapshot**: the tiles as computed at one moment, kept in `analytics_snapshots` under a key made of the
resolved filters (the period's UTC bounds, grouping, granularity, limit, slices, time zone), the set of merchants
and the tiles the reader's role gets.

- A request finds its snapshot and it is at most KEPT seconds old: the tiles are served from it, with the moment
  they were computed ("as of", shown on the page in the platform's time zone and in the JSON).
- Otherwise (none yet, older, a new merchant since, or the reader asked for `fresh`) the request computes the tiles
  live as before, answers with them and keeps them.
- The worker keeps the snapshots someone looks at fresh (`refresh_due`, on a thread of its own so derivation does
  not wait): one asked for within WATCHED seconds is computed again once it is REFRESH_AFTER old, so a reader
  rarely waits for a computation. Two workers do not compute the same one at once (a claim with a time limit);
  one not asked for within FORGET seconds is deleted.

A snapshot holds the reports as they were computed (`pack`: each value tagged with its type, so a Decimal, a date
or a dict with number keys comes back as it was); the reports are language-neutral (msgids and codes, put in
words when rendered), so one snapshot serves every language. A snapshot shows what had committed when its reading
began, which is its "as of" time; the backlog's ages and the SLA's "overdue now" are as of that moment too.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from time import perf_counter
from typing import Any

import orjson
from sqlalchemy import Float, Index, String, Text, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from ..db import Base, Database, UTCDateTime, utcnow
from .filters import Filters
from .report import Column, Report

log = logging.getLogger("returnflow.analytics")

KEPT = 300  # seconds a snapshot is served before a request computes the tiles again
REFRESH_AFTER = 180  # the worker computes a watched snapshot again once it is this old
WATCHED = 3600  # a snapshot asked for within this many seconds is kept fresh by the worker
FORGET = 86400  # a snapshot not asked for within this many seconds is deleted
TOUCH = 60  # a request writes that it asked at most once this many seconds per snapshot
CLAIM = 120  # seconds a worker's claim on a refresh lasts (a worker that dies lets another take it then)
PER_ROUND = 3  # snapshots a worker refreshes per round at most


class Snapshot(Base):
    """One view's tiles as computed at `computed_at`, the filters to compute them again, and who asked when."""

    __tablename__ = "analytics_snapshots"
    __table_args__ = (Index("ix_analytics_snapshots_requested_at", "requested_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    filters: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: `filters_json`
    tiles: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: `pack` of the reports, in the tiles' order
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when the reading began
    seconds: Mapped[float] = mapped_column(Float, nullable=False)  # how long computing took
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # last asked for (to TOUCH)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a worker is computing it until then


TABLE = Snapshot.__table__


@dataclass(frozen=True)
class Kept:
    """Where a platform view's tiles came from: computed at `as_of`, just now (`live`) or from the snapshot."""

    as_of: datetime
    live: bool
    seconds: float  # how long computing them took
    kept: int = KEPT

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "live": self.live, "computed_in_ms": round(self.seconds * 1000),
                "kept_seconds": self.kept}


# --- the reports as JSON, each value as it was ---

def _pack(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [_pack(v) for v in value]}
    if isinstance(value, dict):
        if "$" not in value and all(type(k) is str for k in value):
            return {k: _pack(v) for k, v in value.items()}
        return {"$": "map", "v": [[_pack(k), _pack(v)] for k, v in value.items()]}
    raise TypeError(f"a report value of type {type(value).__name__} cannot be kept in a snapshot")


_TAGS: dict[str, Callable[[Any], Any]] = {
    "decimal": Decimal, "datetime": datetime.fromisoformat, "date": date.fromisoformat,
    "tuple": lambda v: tuple(_unpack(x) for x in v),
    "map": lambda v: {_unpack(k): _unpack(x) for k, x in v},
}


def _unpack(value: Any) -> Any:
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    if isinstance(value, dict):
        tag = value.get("$")
        if tag is not None:
            return _TAGS[tag](value["v"])
        return {k: _unpack(v) for k, v in value.items()}
    return value


def pack(reports: list[Report]) -> str:
    """The reports as JSON text that `unpack` turns back into equal reports."""
    return orjson.dumps([{
        "name": r.name, "title": r.title, "columns": [[c.key, c.en, c.zh, c.kind] for c in r.columns],
        "rows": _pack(r.rows), "status": r.status, "note": r.note, "totals": _pack(r.totals),
        "extra": _pack(r.extra), "title_params": _pack(r.title_params)} for r in reports]).decode()


def unpack(text: str) -> list[Report]:
    return [Report(name=r["name"], title=r["title"], columns=[Column(*c) for c in r["columns"]],
                   rows=_unpack(r["rows"]), status=r["status"], note=r["note"], totals=_unpack(r["totals"]),
                   extra=_unpack(r["extra"]), title_params=_unpack(r["title_params"]))
            for r in orjson.loads(text)]


# --- the filters, to compute a snapshot again ---

# The tiles in their order, each with the filters it changes (analytics/api.py DASHBOARD, less what the request set).
Wanted = list[tuple[str, dict[str, Any]]]

def filters_json(base: Filters, wanted: Wanted) -> str:
    return orjson.dumps({
        "start": base.start.isoformat(), "end": base.end.isoformat(), "by": base.by, "granularity": base.granularity,
        "limit": base.limit, "slices": base.slices, "zone": base.zone, "every_merchant": list(base.every_merchant),
        "tiles": [[name, applied] for name, applied in wanted]}, option=orjson.OPT_SORT_KEYS).decode()


def key_of(base: Filters, wanted: Wanted) -> str:
    """The snapshot's key: a digest of everything its tiles depend on besides the data."""
    return hashlib.sha256(filters_json(base, wanted).encode()).hexdigest()


def filters_of(text: str) -> tuple[Filters, Wanted]:
    data = orjson.loads(text)
    return Filters(start=datetime.fromisoformat(data["start"]), end=datetime.fromisoformat(data["end"]),
                   merchant_ids=None, by=data["by"], granularity=data["granularity"], limit=data["limit"],
                   slices=data["slices"], zone=data["zone"], every_merchant=tuple(data["every_merchant"])), \
        [(name, applied) for name, applied in data["tiles"]]


# --- reading and keeping ---

Compute = Callable[[Session, Filters, Wanted], list[Report]]


def can_keep(db: Database) -> bool:
    """Whether snapshots can be kept: not in an SQLite database in memory (its one connection is the request's, in
    its read transaction; and it lives only as long as the process)."""
    return not isinstance(db.engine.pool, (SingletonThreadPool, StaticPool))


def _upsert(db: Database):
    return (pg_insert if db.dialect == "postgresql" else sqlite_insert)(TABLE)


def keep(db: Database, base: Filters, wanted: Wanted, reports: list[Report], computed_at: datetime,
         seconds: float, *, requested_at: datetime | None) -> None:
    """Writes the view's snapshot (a new one, or over the one there: the later computation wins)."""
    values = {"key": key_of(base, wanted), "filters": filters_json(base, wanted), "tiles": pack(reports),
              "computed_at": computed_at, "seconds": seconds, "claimed_until": None}
    stmt = _upsert(db).values(**values, requested_at=requested_at or computed_at)
    changes = {k: stmt.excluded[k] for k in ("tiles", "computed_at", "seconds", "claimed_until")}
    if requested_at is not None:
        changes["requested_at"] = stmt.excluded.requested_at
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_=changes,
                                      where=TABLE.c.computed_at <= stmt.excluded.computed_at)
    with db.transaction() as tx:
        tx.execute(stmt)


def served(db: Database, session: Session, base: Filters, wanted: Wanted, compute: Compute, *,
           fresh: bool = False, now: datetime | None = None) -> tuple[list[Report], Kept]:
    """The platform view's tiles: from its snapshot when one at most KEPT seconds old is there (and `fresh` is not
    asked), else computed now on `session` and kept."""
    now = now or utcnow()
    key = key_of(base, wanted)
    if not fresh:
        row = session.execute(select(TABLE.c.tiles, TABLE.c.computed_at, TABLE.c.seconds, TABLE.c.requested_at)
                              .where(TABLE.c.key == key)).first()
        if row is not None and now - row.computed_at <= timedelta(seconds=KEPT):
            if now - row.requested_at >= timedelta(seconds=TOUCH):
                with db.transaction() as tx:  # the worker keeps it fresh while someone looks at it
                    tx.execute(update(TABLE).where(TABLE.c.key == key, TABLE.c.requested_at < now)
                               .values(requested_at=now))
            return unpack(row.tiles), Kept(row.computed_at, False, row.seconds)
    started = perf_counter()
    reports = compute(session, base, wanted)
    seconds = perf_counter() - started
    keep(db, base, wanted, reports, now, seconds, requested_at=now)
    return reports, Kept(now, True, seconds)


def refresh_due(db: Database, compute: Compute, now: datetime | None = None, *, limit: int = PER_ROUND,
                merchants: Callable[[Session], tuple[int, ...]]) -> int:
    """The worker's part: computes again the snapshots asked for within WATCHED seconds that are REFRESH_AFTER old
    (the most recently asked first, at most `limit`), and deletes those not asked for within FORGET seconds or made
    for another set of merchants than today's. Returns how many it computed."""
    given, now = now, now or utcnow()
    done = 0
    with db.read() as session:
        forgotten = session.scalar(select(TABLE.c.key).where(TABLE.c.requested_at < now - timedelta(seconds=FORGET))
                                   .limit(1))
    if forgotten is not None:  # written only when there is something to delete (SQLite: one writer at a time)
        with db.transaction() as tx:
            tx.execute(delete(TABLE).where(TABLE.c.requested_at < now - timedelta(seconds=FORGET)))
    with db.read() as session:
        due = session.execute(
            select(TABLE.c.key, TABLE.c.filters)
            .where(TABLE.c.requested_at >= now - timedelta(seconds=WATCHED),
                   TABLE.c.computed_at <= now - timedelta(seconds=REFRESH_AFTER),
                   or_(TABLE.c.claimed_until.is_(None), TABLE.c.claimed_until < now))
            .order_by(TABLE.c.requested_at.desc()).limit(limit)).all()
    for key, text in due:
        with db.transaction() as tx:  # the claim: another worker skips it until CLAIM seconds have passed
            claimed = tx.execute(update(TABLE).where(TABLE.c.key == key, or_(TABLE.c.claimed_until.is_(None),
                                                                             TABLE.c.claimed_until < now))
                                 .values(claimed_until=now + timedelta(seconds=CLAIM))).rowcount
        if not claimed:
            continue
        base, wanted = filters_of(text)
        try:
            with db.read() as session:
                if merchants(session) != base.every_merchant:  # a merchant came or went: the next request's key
                    reports = None
                else:
                    computed_at = given or utcnow()  # when this reading began
                    started = perf_counter()
                    reports = compute(session, base, wanted)
                    seconds = perf_counter() - started
        except Exception:
            with db.transaction() as tx:  # let it be tried again at the next round, not CLAIM seconds later
                tx.execute(update(TABLE).where(TABLE.c.key == key).values(claimed_until=None))
            raise
        if reports is None:
            with db.transaction() as tx:
                tx.execute(delete(TABLE).where(TABLE.c.key == key))
            continue
        keep(db, base, wanted, reports, computed_at, seconds, requested_at=None)
        done += 1
    return done


__all__ = ["Snapshot", "Kept", "KEPT", "Wanted", "can_keep", "served", "refresh_due", "pack", "unpack", "key_of"]
