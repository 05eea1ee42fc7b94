"""The sold-lines summary: every order line that counts as sold, with what the rate reports group and slice by.

The rate tiles (return rate, trend, top returns, hot spots, suppliers) divide the period's returns by its sales.
Read live, each sold line joins its order for the order's date, merchant, currency, country and channel: on
1,000,000 cases (2,000,000 orders) a merchant's 90 days are 24,500 lines, one index lookup of the order lines per
order, 70-120 ms of PostgreSQL (with two parallel workers) and the slowest statement of a dashboard. Here each
such line is one row, written ahead, and the period's sales are one range of one table's key (26-43 ms).

`analytics_sold_lines` holds the product lines of orders that are not cancelled and have a date (base.sales_only):
the order's time, the line's SKU and its own category (a product's category and supplier are joined when a report
needs them, so an edited product shows at once), the order's country, channel and currency, the units and their
value at purchase price (quantity × unit price, as the live query sums it).

Orders and their lines are written only by orders/service.py `upsert_orders` (the import, the orders API, the
demo); its hook `on_orders` (wired in returnflow/bootstrap.py) writes the rows of every order it wrote again from
the sources, in that transaction, once the lines are written. So the rows always equal what the live query says
(`differences` compares them; `returnflow report rollup-check` runs it; `rebuild` recomputes every row).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, and_, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..db import Base, UTCDateTime
from .base import keyed, o, ol, p, sales_only
from .filters import Filters

CHUNK = 2000  # order ids per statement (upsert_orders writes at most this many at once)


class SoldLine(Base):
    """One order line that counts as sold, as the rate reports read it."""

    __tablename__ = "analytics_sold_lines"
    __table_args__ = (Index("ix_analytics_sold_lines_order", "order_id"), {"sqlite_with_rowid": False})

    # The period's rows of a merchant are one range of the key (SQLite keeps the table in key order).
    merchant_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    order_line_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    order_id: Mapped[int]
    sku: Mapped[str] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(60))  # the order line's own; the product's is joined
    country: Mapped[str | None] = mapped_column(String(60))
    channel: Mapped[str | None] = mapped_column(String(60))
    currency: Mapped[str] = mapped_column(String(3))
    units: Mapped[int]
    value: Mapped[int] = mapped_column(BigInteger)  # quantity × unit price, minor units


SOLD = SoldLine.__table__
COLUMNS = ("merchant_id", "ordered_at", "order_line_id", "order_id", "sku", "category", "country", "channel",
           "currency", "units", "value")
# What a report groups or slices by, over the summary's columns (base.keyed joins the product's category and
# supplier).
KEYS = {"sku": SOLD.c.sku, "category": SOLD.c.category, "country": SOLD.c.country, "channel": SOLD.c.channel,
        "ordered_at": SOLD.c.ordered_at}


def _source():
    """The live query: every sold line."""
    values = (o.c.merchant_id, o.c.ordered_at, ol.c.id, ol.c.order_id, ol.c.sku, ol.c.category, o.c.country,
              o.c.sales_channel, o.c.currency, ol.c.quantity, ol.c.quantity * ol.c.unit_price)
    return (select(*[v.label(k) for k, v in zip(COLUMNS, values, strict=True)])
            .select_from(ol.join(o, o.c.id == ol.c.order_id))
            .where(*sales_only(), o.c.ordered_at.is_not(None)))


def _fill(session: Session, stmt) -> None:
    session.execute(insert(SOLD).from_select(list(COLUMNS), stmt))


def on_orders(session: Session, order_ids: list[int]) -> None:
    """upsert_orders' hook for every order it wrote (new or again): their rows written again from the sources, in
    one DELETE and one INSERT ... SELECT per chunk (no row passes through Python)."""
    ids = sorted(set(order_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(delete(SOLD).where(SOLD.c.order_id.in_(chunk)))
        _fill(session, _source().where(o.c.id.in_(chunk)))


def statement(f: Filters, keys: list, *, product: bool = False):
    """Units and value sold in the filters' scope, grouped by `keys` (expressions of `key`) + currency."""
    frm = SOLD
    if product:
        frm = SOLD.outerjoin(p, and_(p.c.merchant_id == SOLD.c.merchant_id, p.c.sku == SOLD.c.sku))
    stmt = (select(*keys, SOLD.c.currency, func.sum(SOLD.c.units).label("units"),
                   func.sum(SOLD.c.value).label("value"))
            .select_from(frm).where(*f.merchant_in(SOLD.c.merchant_id), SOLD.c.ordered_at >= f.start,
                                    SOLD.c.ordered_at < f.end))
    s = f.slices
    for name in ("sku", "category", "supplier", "country", "channel"):
        if name in s:
            stmt = stmt.where(key(name, f) == s[name])
    return stmt.group_by(*keys, SOLD.c.currency)


def key(by: str, f: Filters):
    """The expression a sold row is grouped by (`by`: sku, category, supplier, country, channel or period)."""
    return keyed(by, f, KEYS)


def rebuild(session: Session, merchant_id: int | None = None) -> int:
    """Recomputes every row (all merchants, or one); returns how many rows there are now."""
    wipe, stmt = delete(SOLD), _source()
    if merchant_id is not None:
        wipe, stmt = wipe.where(SOLD.c.merchant_id == merchant_id), stmt.where(o.c.merchant_id == merchant_id)
    session.execute(wipe)
    _fill(session, stmt)
    count = select(func.count()).select_from(SOLD)
    if merchant_id is not None:
        count = count.where(SOLD.c.merchant_id == merchant_id)
    return session.scalar(count) or 0


def differences(session: Session, merchant_id: int | None = None) -> list[int]:
    """Order ids whose rows differ from what the sources say (empty when the summary is right). Compared in the
    database (EXCEPT both ways), so checking millions of lines takes no memory here."""
    live, kept = _source(), select(*[SOLD.c[k] for k in COLUMNS])
    if merchant_id is not None:
        live, kept = live.where(o.c.merchant_id == merchant_id), kept.where(SOLD.c.merchant_id == merchant_id)
    missing, extra = live.except_(kept).subquery(), kept.except_(live).subquery()
    return sorted(set(session.scalars(select(missing.c.order_id).union(select(extra.c.order_id)))))


__all__ = ["SoldLine", "SOLD", "on_orders", "statement", "key", "rebuild", "differences"]
