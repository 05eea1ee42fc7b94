"""The two sides of every rate: what was sold (order lines) and what came back (case lines), sliced the same way.

The rate is an order cohort's: both sides belong to the orders placed in the period (by `orders.ordered_at`, in
the merchant's time zone), and a period bucket (day, week, month) is the bucket of the order, never of the case.
Sold: the lines of those orders. Returned: the lines of return cases on those same order lines whose type sends
goods or money back (return_refund, refund_only, exchange) and that were not cancelled or rejected (by state or
by outcome: a rejected case that was then closed stays rejected), whenever the case was opened. So a bucket's
returned units are part of its sold units and the rate stays within 0-100 % (counting returns by the case's date
over sales by the order's date gave a week with many returns of earlier orders and few sales 1000 %).

Only sales count: an order whose status is `cancelled` is no sale (nor are returns from it), and only order lines
of kind `product` are sold or returned (shipping, fees, discounts and adjustments are not goods).
Value sold is quantity x the order line's unit price (before discounts), in the order's currency. Value returned
is what was credited when that is known (`line_value`): the line's own credited amount (a credit note's line
value, an imported history case's credited amount: records.py `return_credits`), else the refunds paid for the
case (state completed) shared over its product lines by purchase value; otherwise the purchase price x quantity,
and that part is reported apart (`value_at_price`) so a reader sees where the price stands in.
Returns that match no purchase are not in these figures: they are counted apart (unmatched.py).
The reports read both sides from summaries written ahead from these definitions: the sold lines (sold.py) and the
returned lines (returned.py).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_, select

from ..cases.models import Case, CaseLine
from ..orders.models import Order, OrderLine, Product
from ..refunds.models import Refund
from .filters import Filters
from .records import ReturnCredit
from .sql import period_bucket

o = Order.__table__
ol = OrderLine.__table__
p = Product.__table__
c = Case.__table__
cl = CaseLine.__table__
rc = ReturnCredit.__table__
rf = Refund.__table__
cl2 = CaseLine.__table__.alias("cl_all")
ol2 = OrderLine.__table__.alias("ol_all")
PRODUCT = "product"
CANCELLED = "cancelled"

RETURN_TYPES = ("return_refund", "refund_only", "exchange")
NOT_COUNTED = ("cancelled", "rejected")
QUALITY = ("quality_issue", "defect_after_use")
NOT_AS_DESCRIBED = ("not_as_described",)
NONE_KEY = "(none)"

reason_of = func.coalesce(cl.c.reason_code, c.c.reason_code)


def needs_product(f: Filters, by: str | None) -> bool:
    return by in ("category", "supplier") or "category" in f.slices or "supplier" in f.slices


def keyed(by: str, f: Filters, cols: dict):
    """The SQL expression a row is grouped by, over `cols` (the returned-lines summary's columns, returned.py, or
    the sold-lines summary's, sold.py): the line's category else the product's, the product's supplier, the order's date
    bucket (both sides by the order's date: the cohort, see the module docstring)."""
    if by == "category":
        return func.coalesce(cols["category"], p.c.category)
    if by == "supplier":
        return p.c.supplier
    if by == "period":
        return period_bucket(cols["ordered_at"], f)
    if by in ("sku", "country", "channel", "reason", "customer"):
        return cols[by]
    raise ValueError(by)


def _slices(f: Filters, stmt):
    """The filters' slices on a returned-lines read of the live tables (the sales side reads sold.py)."""
    s = f.slices
    if "sku" in s:
        stmt = stmt.where(ol.c.sku == s["sku"])
    if "category" in s:
        stmt = stmt.where(func.coalesce(ol.c.category, p.c.category) == s["category"])
    if "supplier" in s:
        stmt = stmt.where(p.c.supplier == s["supplier"])
    if "country" in s:
        stmt = stmt.where(o.c.country == s["country"])
    if "channel" in s:
        stmt = stmt.where(o.c.sales_channel == s["channel"])
    if "reason" in s:
        stmt = stmt.where(reason_of == s["reason"])
    return stmt


def counted_case() -> list:
    """What makes a case a return: its type sends goods or money back, and it was neither cancelled nor rejected
    — now (its state) or when it ended (its outcome: a rejected case that was then closed is still rejected)."""
    return [c.c.type.in_(RETURN_TYPES), c.c.state.not_in(NOT_COUNTED),
            or_(c.c.outcome.is_(None), c.c.outcome.not_in(NOT_COUNTED))]


def sales_only() -> list:
    """What makes an order line a sale: its order is not cancelled and the line is a product."""
    return [or_(o.c.status.is_(None), o.c.status != CANCELLED), ol.c.kind == PRODUCT]


def returns_from(product: bool, orders: bool = True):
    """Case lines with their case, order line and order (whose date places them), and the line's credited amount
    when one is recorded; the product when needed."""
    frm = cl.join(c, c.c.id == cl.c.case_id).join(ol, ol.c.id == cl.c.order_line_id)
    frm = frm.join(o, o.c.id == ol.c.order_id).outerjoin(rc, rc.c.case_line_id == cl.c.id)
    if product:
        frm = frm.outerjoin(p, and_(p.c.merchant_id == o.c.merchant_id, p.c.sku == ol.c.sku))
    return frm


def needs_order(f: Filters, by: str | None) -> bool:
    return by in ("country", "channel") or "country" in f.slices or "channel" in f.slices


def returns_where(f: Filters, stmt):
    """Returns from the period's orders in the filters' scope (see the module docstring for what counts)."""
    stmt = stmt.where(o.c.ordered_at >= f.start, o.c.ordered_at < f.end, *counted_case(), *sales_only())
    # On the order too: its (merchant, ordered_at) index finds the period's orders (every merchant's by id).
    stmt = stmt.where(*f.merchant_in(c.c.merchant_id), *f.merchant_in(o.c.merchant_id))
    return _slices(f, stmt)


def returned(f: Filters, keys: list, *, product: bool = False, orders: bool = True):
    """cases, units and value at purchase price returned grouped by `keys` + currency (the case's, which is its
    order's): for rankings that need no credited amounts (customers.py)."""
    stmt = select(*keys, c.c.currency, func.count(func.distinct(c.c.id)).label("cases"),
                  func.sum(cl.c.quantity).label("units"),
                  func.sum(cl.c.quantity * ol.c.unit_price).label("value")
                  ).select_from(returns_from(product, orders=orders))
    return returns_where(f, stmt).group_by(*keys, c.c.currency)


def value_columns() -> list:
    """What `line_value` needs of a returned line: its purchase value, its own credited amount, the refunds paid
    for its case, the case's product lines' purchase value and that of the case's lines before it (by id)."""
    paid = (select(func.sum(rf.c.amount)).where(rf.c.case_id == c.c.id, rf.c.state == "completed")
            .scalar_subquery())
    pv2 = cl2.c.quantity * ol2.c.unit_price
    lines = cl2.join(ol2, ol2.c.id == cl2.c.order_line_id)
    whole = select(func.sum(pv2)).select_from(lines).where(cl2.c.case_id == c.c.id, ol2.c.kind == PRODUCT)
    before = whole.where(cl2.c.id < cl.c.id)
    # Only for a case with a refund paid and no credit of its own (SQL skips the other branch).
    need = and_(rc.c.amount.is_(None), paid.is_not(None))
    return [(cl.c.quantity * ol.c.unit_price).label("pv"), rc.c.amount.label("credit"), paid.label("paid"),
            case((need, whole.scalar_subquery())).label("whole"),
            case((need, func.coalesce(before.scalar_subquery(), 0))).label("before")]


def line_value(pv, credit, paid, whole, before) -> tuple[int, int]:
    """(value returned, the part of it at purchase price) of one returned line, in minor units.

    A refund paid for the whole case is shared by cumulative shares: the line gets
    paid x (before + pv) // whole - paid x before // whole, so the shares add up to the refund exactly whatever
    lines a report reads."""
    if credit is not None:
        return int(credit), 0
    pv = int(pv or 0)
    if paid is not None and whole:
        paid, whole, before = int(paid), int(whole), int(before or 0)
        return paid * (before + pv) // whole - paid * before // whole, 0
    return pv, pv


def label(key) -> str:
    return NONE_KEY if key is None or key == "" else str(key)


def period_keys(f: Filters) -> list[str]:
    """Every bucket of the period, so a trend shows empty stretches as zero instead of skipping them."""
    out: list[str] = []
    day: date = f.first_day
    last = f.last_day
    if f.granularity == "day":
        while day <= last:
            out.append(day.isoformat())
            day += timedelta(days=1)
    elif f.granularity == "week":  # ISO weeks, named by their Monday
        day -= timedelta(days=day.weekday())
        while day <= last:
            out.append(day.isoformat())
            day += timedelta(days=7)
    else:
        y, m = day.year, day.month
        while (y, m) <= (last.year, last.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def bucket_range(key: str, granularity: str) -> tuple[str, str]:
    """The first and last day of a bucket, for a drill-down link."""
    if granularity == "month":
        start = date.fromisoformat(key + "-01")
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return start.isoformat(), (nxt - timedelta(days=1)).isoformat()
    start = date.fromisoformat(key)
    return start.isoformat(), (start + timedelta(days=6 if granularity == "week" else 0)).isoformat()

