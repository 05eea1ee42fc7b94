"""Orders: upsert in bulk (import and API share it), read, list — always within one merchant."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload
from datetime import timezone

from ..actor import Actor
from ..db import Base
from ..errors import Forbidden, NotFound
from .models import Customer, Order, OrderLine, Product
from .records import OrderRecord

CHUNK = 2000


def _insert(session: Session, table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _chunks(items: Sequence, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# Called with the ids of orders that existed and were written again, in that transaction (returnflow/bootstrap.py).
AFTER_UPSERT: list[Callable[[Session, list[int]], None]] = []
# Called with the ids of every order written (new or again), in that transaction, once their lines are written.
AFTER_WRITE: list[Callable[[Session, list[int]], None]] = []


def upsert_orders(session: Session, *, merchant_id: int, orders: Sequence[OrderRecord],
                  later: list[Callable[[], None]] | None = None) -> dict[str, int]:
    """Inserts or updates orders by number (never duplicates); returns {number: order id}.

    With `later`, the last steps (the statement that writes the lines from their stage, the products, and the
    removal of lines a re-imported order no longer has) are appended to it instead of run: the caller runs them, in
    this transaction, while it does something else (an import reads its next orders meanwhile)."""
    if not orders:
        return {}
    customer_ids = _upsert_customers(session, merchant_id, orders)

    numbers = [o.number for o in orders]
    existing: set[str] = set()
    for chunk in _chunks(numbers):
        existing.update(session.scalars(select(Order.number).where(
            Order.merchant_id == merchant_id, Order.number.in_(chunk))))

    rows = []
    for o in orders:
        goods = o.goods_total
        rows.append({
            "merchant_id": merchant_id, "number": o.number,
            "customer_id": customer_ids.get(o.customer.external_id) if o.customer else None,
            "currency": o.currency, "goods_total": goods, "discount": o.discount, "shipping_fee": o.shipping_fee,
            "paid_total": o.paid_total if o.paid_total is not None else goods - o.discount + o.shipping_fee,
            "payments": o.payments, "country": o.country, "sales_channel": o.sales_channel,
            "ordered_at": o.ordered_at, "shipped_at": o.shipped_at, "delivered_at": o.delivered_at,
            "signed_at": o.signed_at, "paid_at": o.paid_at, "shipping_insurance": o.shipping_insurance,
            "free_shipping_threshold": o.free_shipping_threshold, "shipping_cost": o.shipping_cost,
            "standard_shipping_fee": o.standard_shipping_fee, "status": o.status,
        })
    table = Order.__table__
    stmt = _insert(session, table)
    updated = {c: stmt.excluded[c] for c in rows[0] if c not in ("merchant_id", "number")}
    session.execute(stmt.on_conflict_do_update(index_elements=["merchant_id", "number"], set_=updated), rows)

    ids: dict[str, int] = {}
    for chunk in _chunks(numbers):
        ids.update(session.execute(select(Order.number, Order.id).where(
            Order.merchant_id == merchant_id, Order.number.in_(chunk))).all())

    line_rows = []
    for o in orders:
        order_id = ids[o.number]
        for line in o.lines:
            line_rows.append((order_id, line.line_no, line.sku, line.title, line.category, line.unit_price,
                              line.quantity, line.delivered_quantity, line.discount,
                              0 if line.gift else line.unit_price * line.quantity - line.discount, line.gift,
                              line.final_sale_confirmed, line.delivered_at, line.signed_at,
                              line.serial_numbers, line.image_url,
                              json.dumps(line.variants, ensure_ascii=False) if line.variants else None,
                              line.kind))
    steps = [_upsert_lines(session, line_rows)] if line_rows else []
    steps.append(partial(_upsert_products, session, merchant_id, orders))  # nothing above needs them
    if existing:
        steps.append(lambda: _drop_lost_lines(session, orders, ids, existing))
        # Orders written again may change what is derived from their cases (the analytics summary): last, once
        # their lines are written.
        steps.extend(partial(hook, session, sorted(ids[n] for n in existing)) for hook in AFTER_UPSERT)
    steps.extend(partial(hook, session, sorted(ids.values())) for hook in AFTER_WRITE)
    if later is None:
        for step in steps:
            step()
    else:
        later.extend(steps)
    return ids


def _drop_lost_lines(session: Session, orders: Sequence[OrderRecord], ids: dict[str, int], existing: set[str]) -> None:
    """Re-imported orders may have lost lines; drops those nobody has claimed in a case."""
    kept = {(ids[o.number], line.line_no) for o in orders if o.number in existing for line in o.lines}
    stale: list[int] = []
    for chunk in _chunks([ids[n] for n in existing]):
        stale.extend(line_id for line_id, order_id, line_no in session.execute(
            select(OrderLine.id, OrderLine.order_id, OrderLine.line_no).where(OrderLine.order_id.in_(chunk)))
            if (order_id, line_no) not in kept)
    referrers = _referrers()
    for chunk in _chunks(stale):
        session.execute(delete(OrderLine).where(
            OrderLine.id.in_(chunk), *(~exists().where(column == OrderLine.id) for column in referrers)))


def _referrers() -> list:
    """Every column of another table that refers to an order line (a case's lines, a receipt's, a repair ...): a
    line one of them names is kept. Read from the schema, so orders need not know the tables built on them."""
    return [fk.parent for table in Base.metadata.tables.values() for fk in table.foreign_keys
            if fk.target_fullname == "order_lines.id"]


LINE_COLUMNS = ("order_id", "line_no", "sku", "title", "category", "unit_price", "quantity", "delivered_quantity",
                "discount", "paid_amount", "gift", "final_sale_confirmed", "delivered_at", "signed_at",
                "serial_numbers", "image_url", "exchange_variants", "kind")


RAW_AT = (LINE_COLUMNS.index("delivered_at"), LINE_COLUMNS.index("signed_at"))
RAW_JSON = LINE_COLUMNS.index("serial_numbers")


def _raw(row: tuple, sqlite_: bool) -> tuple:
    """A row for the driver-level paths, which skip the column types: JSON as text, and on SQLite times as the
    naive UTC text SQLAlchemy itself writes there."""
    if row[RAW_JSON] is None and (not sqlite_ or (row[RAW_AT[0]] is None and row[RAW_AT[1]] is None)):
        return row  # nothing to convert (most lines)
    out = list(row)
    if out[RAW_JSON] is not None:
        out[RAW_JSON] = json.dumps(out[RAW_JSON])
    if sqlite_:
        for i in RAW_AT:
            if out[i] is not None:
                out[i] = out[i].astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return tuple(out)
COPY_FROM = 200  # PostgreSQL: from this many lines on, COPY into a staging table beats parameter batches


def _upsert_lines(session: Session, rows: list[tuple]) -> Callable[[], None]:
    """Inserts or updates order lines by (order_id, line_no), skipping the ORM's per-row parameter work: stages
    them and returns the step that writes them (or writes them, returning a step with nothing left to do)."""
    connection = session.connection()
    names = ", ".join(LINE_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in LINE_COLUMNS[2:])
    conflict = f"ON CONFLICT (order_id, line_no) DO UPDATE SET {updates}"
    if connection.dialect.name == "postgresql" and len(rows) >= COPY_FROM:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS order_lines_stage ON COMMIT DROP AS "
                       f"SELECT {names} FROM order_lines WITH NO DATA")
        with cursor.copy(f"COPY order_lines_stage ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_raw(row, False))
        return partial(_from_stage, cursor, f"INSERT INTO order_lines ({names}) SELECT {names} FROM order_lines_stage "
                                            f"{conflict}")
    if connection.dialect.name == "sqlite":
        # Staged, then written by one INSERT ... SELECT: the search index's trigger (FTS5, migration 0017) then
        # runs inside a single statement, and FTS5 writes its pending terms once per statement instead of once
        # per row (an executemany here spent 5 times longer in the index than in the table, and wrote as much).
        # The stage's columns have no type, so each value reaches order_lines as it was given.
        marks = ", ".join("?" * len(LINE_COLUMNS))
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS order_lines_stage ({names})")
            cursor.executemany(f"INSERT INTO order_lines_stage ({names}) VALUES ({marks})",
                               [_raw(row, True) for row in rows])
        except BaseException:
            cursor.close()
            raise
        return partial(_from_stage, cursor, f"INSERT INTO order_lines ({names}) SELECT {names} FROM order_lines_stage "
                                            f"ORDER BY rowid {conflict}")
    stmt = _insert(session, OrderLine.__table__)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["order_id", "line_no"], set_={c: stmt.excluded[c] for c in LINE_COLUMNS[2:]}),
        [dict(zip(LINE_COLUMNS, row)) for row in rows])
    return _nothing


def _from_stage(cursor, statement: str) -> None:
    """Writes the staged lines (`statement`) and empties the stage."""
    try:
        cursor.execute(statement)
        cursor.execute("DELETE FROM order_lines_stage")
    finally:
        cursor.close()


def _nothing() -> None:
    pass


def _upsert_customers(session: Session, merchant_id: int, orders: Sequence[OrderRecord]) -> dict[str, int]:
    customers = {o.customer.external_id: o.customer for o in orders if o.customer}
    if not customers:
        return {}
    rows = [{"merchant_id": merchant_id, "external_id": c.external_id, "name": c.name, "email": c.email,
             "phone": c.phone, "locale": c.locale, "country": c.country, "risk": c.risk, "channels": c.channels,
             "wechat_openid": c.wechat_openid}
            for c in customers.values()]
    stmt = _insert(session, Customer.__table__)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["merchant_id", "external_id"],
        set_={c: func.coalesce(stmt.excluded[c], Customer.__table__.c[c])
              for c in ("name", "email", "phone", "locale", "country", "risk", "channels", "wechat_openid")}),
        rows)
    ids: dict[str, int] = {}
    keys = list(customers)
    for chunk in _chunks(keys):
        ids.update(session.execute(select(Customer.external_id, Customer.id).where(
            Customer.merchant_id == merchant_id, Customer.external_id.in_(chunk))).all())
    return ids


def _upsert_products(session: Session, merchant_id: int, orders: Sequence[OrderRecord]) -> None:
    products: dict[str, tuple[str, str | None]] = {}
    for o in orders:
        for line in o.lines:
            products[line.sku] = (line.title, line.category)
    rows = [{"merchant_id": merchant_id, "sku": sku, "title": title, "category": category}
            for sku, (title, category) in products.items()]
    if rows:
        stmt = _insert(session, Product.__table__)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["merchant_id", "sku"],
            set_={"title": stmt.excluded.title,
                  "category": func.coalesce(stmt.excluded.category, Product.__table__.c.category)}), rows)


def get_by_number(session: Session, *, actor: Actor, merchant_id: int | None, number: str) -> Order:
    """Returns the order `number` of the actor's merchant (a platform actor names the merchant)."""
    stmt = select(Order).options(selectinload(Order.lines)).where(Order.number == number)
    if actor.merchant_id is not None:
        stmt = stmt.where(Order.merchant_id == actor.merchant_id)
    elif merchant_id is not None:
        stmt = stmt.where(Order.merchant_id == merchant_id)
    orders = session.scalars(stmt).all()
    if not orders:
        raise NotFound("order", number, field="order")
    if len(orders) > 1:
        raise Forbidden("merchant_required", status=422, field="merchant")
    return orders[0]


def list_orders(session: Session, *, actor: Actor, customer: str | None = None, limit: int = 50,
                offset: int = 0) -> tuple[list[Order], int]:
    """Orders the actor may see, newest first."""
    stmt = select(Order)
    if actor.merchant_id is not None:
        stmt = stmt.where(Order.merchant_id == actor.merchant_id)
    if customer:
        stmt = stmt.join(Customer, Customer.id == Order.customer_id).where(Customer.external_id == customer)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Order.ordered_at.desc(), Order.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
