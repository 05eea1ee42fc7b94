"""The returned-lines summary: every counted return line, valued, with what the rate reports group and slice by.

The rate tiles (return rate, trend, top returns, reasons, hot spots, suppliers) read the period's returned lines.
Read live, each line joins its case, order line, order and credited amount, and values a refund paid for the whole
case by sub-selects over the case's other lines: on 1,000,000 cases that read was the biggest part of a dashboard
(a merchant's 90 days: 12,000 lines, 110-200 ms; the platform's: 123,000 lines, 1.4-1.7 s). Here each such line
is one row, written ahead, and the period's returns are one range of one table's key.

`analytics_returned_lines` holds the lines that count as returned (base.py: a product line of an order that is not
cancelled, on a case of a return type that is neither cancelled nor rejected) of orders with a date: the line's
order time, SKU, its own category (a product's category and supplier are joined when a report needs them, so an
edited product shows at once), the order's country and channel, the reason (the line's, else the case's), the
case's currency, units, the value credited and the part of it at purchase price (`base.line_value`).

A case's rows are written again, from the sources, whenever something they depend on may have changed:
- a case event that can change them, in the derivation step, for all such cases of the batch at once (`on_batch`):
  opening (the lines), a change of type, entering or leaving cancelled, rejected or closed (whether it counts);
- a refund completed (`on_refund_move`, in that transaction): the case's paid refunds are shared over its lines;
- orders imported again (`on_orders`, in that transaction): the order's date, status, country, channel or lines.
A credited amount is recorded in the transaction that opens the case, before its opening event is derived.
So the rows equal what the live query says once the case's events are derived (`differences` compares them;
`returnflow report rollup-check` runs it; `rebuild` recomputes every row).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from datetime import datetime

from sqlalchemy import BigInteger, Index, String, bindparam, delete, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..db import Base, UTCDateTime
from ..prepared import prepared, run as prepared_run
# A transaction that writes a case's rows outside the derivation step takes the case's derivation lock (PostgreSQL),
# so it waits for a worker deriving that case and the two never write them at once.
from ..derive import LOCK_CLASS
from .base import c, cl, counted_case, line_value, o, ol, reason_of, returns_from, sales_only, value_columns

CHUNK = 500  # case ids per statement when many are written again
LOCKS_AT_MOST = 1000


class ReturnedLine(Base):
    """One counted return line, as the rate reports read it."""

    __tablename__ = "analytics_returned_lines"
    __table_args__ = (Index("ix_analytics_returned_lines_case", "case_id"),
                      Index("ix_analytics_returned_lines_line", "case_line_id", unique=True),
                      {"sqlite_with_rowid": False})

    # The period's rows of a merchant are one range of the key (SQLite keeps the table in key order).
    merchant_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    case_line_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    case_id: Mapped[int]
    sku: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(60))  # the order line's own; the product's is joined
    country: Mapped[str | None] = mapped_column(String(60))
    channel: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(String(60))
    currency: Mapped[str] = mapped_column(String(3))
    units: Mapped[int]
    value: Mapped[int] = mapped_column(BigInteger)  # credited, minor units
    at_price: Mapped[int] = mapped_column(BigInteger)  # the part of `value` at purchase price


LINES = ReturnedLine.__table__
COLUMNS = ("merchant_id", "ordered_at", "case_line_id", "case_id", "sku", "category", "country", "channel", "reason",
           "currency", "units", "value", "at_price")


def _source():
    """The live query: every counted return line with its value's parts (base.value_columns)."""
    stmt = select(c.c.merchant_id, o.c.ordered_at, cl.c.id, c.c.id, ol.c.sku, ol.c.category, o.c.country,
                  o.c.sales_channel, reason_of, c.c.currency, cl.c.quantity, *value_columns())
    return stmt.select_from(returns_from(False)).where(*counted_case(), *sales_only(), o.c.ordered_at.is_not(None))


def _rows(result) -> Iterable[dict]:
    for r in result:
        value, at_price = line_value(*r[11:16])
        yield dict(zip(COLUMNS, (*r[:10], int(r[10] or 0), value, at_price), strict=True))


def live(session: Session, case_ids: list[int] | None = None, merchant_id: int | None = None) -> list[dict]:
    """The rows as the sources say now (all, a merchant's, or these cases')."""
    stmt = _source()
    if case_ids is not None:
        stmt = stmt.where(c.c.id.in_(case_ids))
    if merchant_id is not None:
        stmt = stmt.where(c.c.merchant_id == merchant_id)
    return list(_rows(session.execute(stmt)))


def _insert(postgres: bool):
    if not postgres:
        return insert(LINES)  # one writer at a time: the DELETE before it removed every row of these cases
    # PostgreSQL: a line written by another transaction meanwhile (see refresh) is overwritten, not a failure.
    stmt = pg_insert(LINES)
    return stmt.on_conflict_do_update(index_elements=["case_line_id"],
                                      set_={k: stmt.excluded[k] for k in COLUMNS if k != "case_line_id"})


def refresh(session: Session, case_ids: Iterable[int], *, locked: bool = False) -> None:
    """Writes the cases' rows again from the sources. `locked`: the caller holds the cases' derivation locks (the
    derivation step).

    Otherwise, on PostgreSQL, up to LOCKS_AT_MOST cases' derivation locks are taken here for this transaction (in
    id order), so a worker deriving one of them finishes first and the two never write its rows at once. Each lock
    takes a slot of the server's shared lock table (64 per connection by default), so a bulk import that writes
    more orders again takes none: a worker deriving one of those cases at that very moment may then write rows
    from before the import's commit, until the case's next event or `returnflow report rollup-rebuild`."""
    ids = sorted(set(case_ids))
    if not ids:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and not locked and len(ids) <= LOCKS_AT_MOST:
        session.execute(text("SELECT pg_advisory_xact_lock(:k, i) FROM unnest(CAST(:ids AS int[])) AS i ORDER BY i"),
                        {"k": LOCK_CLASS, "ids": ids})
    # The ORM's pending changes first (as session.execute did), then the statements on the connection.
    flush = getattr(session, "flush_orm", None) or session.flush
    flush()
    connection = session.connection()
    remove, source, write = _statements(connection.dialect.name)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        prepared_run(connection, remove, {"ids": chunk})
        rows = list(_rows(prepared_run(connection, source, {"ids": chunk})))
        if rows:
            prepared_run(connection, write, rows)


@lru_cache
def _statements(dialect: str):
    """refresh's statements for the cases `ids`, built once and prepared (returnflow/prepared.py): building the
    live query and SQLAlchemy's key of it cost more than running it, once per derivation batch."""
    remove = prepared(delete(LINES).where(LINES.c.case_id.in_(bindparam("ids", expanding=True))))
    source = prepared(_source().where(c.c.id.in_(bindparam("ids", expanding=True))))
    return remove, source, prepared(_insert(dialect == "postgresql"), dialect)


# What a case event can change of its rows: the lines exist from `open`; `change_type` changes the type; entering or
# leaving cancelled or rejected (or closed, which keeps the outcome a reopening clears) changes whether it counts.
# Other events (shipping, receiving, inspecting, notes ...) leave the rows as they are and cost no statement.
CHANGING_ACTIONS = frozenset({"open", "change_type"})
CHANGING_STATES = frozenset({"cancelled", "rejected", "closed"})


def changes_rows(event: dict) -> bool:
    return (event["action"] in CHANGING_ACTIONS or event.get("from_state") in CHANGING_STATES
            or event.get("to_state") in CHANGING_STATES)


def on_batch(session: Session, events: dict[int, list[dict]]) -> None:
    """The derivation step's hook: the batch's cases (whose derivation locks it holds) with an event that can change
    their rows."""
    refresh(session, [case_id for case_id, todo in events.items() if any(changes_rows(e) for e in todo)],
            locked=True)


def on_refund_move(session: Session, event) -> None:
    """flows.move's hook: a refund paid out changes what its case's lines were credited."""
    if event.kind == "refund" and event.to_state == "completed" and event.case_id is not None:
        refresh(session, [event.case_id])


def on_orders(session: Session, order_ids: list[int]) -> None:
    """The order import's hook: orders written again may have a new date, status, country, channel or lines."""
    if not order_ids:
        return
    for start in range(0, len(order_ids), CHUNK):
        chunk = order_ids[start:start + CHUNK]
        refresh(session, session.scalars(select(c.c.id).where(c.c.order_id.in_(chunk))).all())


def rebuild(session: Session, merchant_id: int | None = None) -> int:
    """Recomputes every row (all merchants, or one); returns how many rows there are now."""
    wipe = delete(LINES)
    if merchant_id is not None:
        wipe = wipe.where(LINES.c.merchant_id == merchant_id)
    session.execute(wipe)
    stmt = _source()
    if merchant_id is not None:
        stmt = stmt.where(c.c.merchant_id == merchant_id)
    batch: list[dict] = []
    written = 0
    for row in _rows(session.execute(stmt.execution_options(yield_per=5000))):
        batch.append(row)
        if len(batch) == 5000:
            session.execute(insert(LINES), batch)
            written += len(batch)
            batch = []
    if batch:
        session.execute(insert(LINES), batch)
        written += len(batch)
    return written


def differences(session: Session, merchant_id: int | None = None) -> list[int]:
    """Case ids whose rows differ from what the sources say (empty when the summary is right)."""
    def keyed(rows) -> dict[int, set[tuple]]:
        out: dict[int, set[tuple]] = {}
        for r in rows:
            out.setdefault(r["case_id"], set()).add(tuple(r[k] for k in COLUMNS))
        return out

    want = keyed(live(session, merchant_id=merchant_id))
    stmt = select(*[LINES.c[k] for k in COLUMNS])
    if merchant_id is not None:
        stmt = stmt.where(LINES.c.merchant_id == merchant_id)
    have = keyed(dict(zip(COLUMNS, r, strict=True)) for r in session.execute(stmt))
    return sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))


__all__ = ["ReturnedLine", "LINES", "refresh", "on_batch", "on_refund_move", "on_orders", "rebuild", "differences"]
