"""Returns that match no purchase: counted and shown apart, never silently left out.

An imported return line that the import could not place on an earlier purchase of the same customer and product
(no customer, no earlier purchase, or more than was bought) is kept in `unmatched_returns` with its SKU, quantity,
credited value and date (records.py). It has no order, so it cannot join an order cohort's rate: the rate reports
state it as a separate figure, by the date of the return in the shop's time zone, per SKU or period bucket.
Slices by SKU, category and supplier (the product's) apply; slices by country, channel or reason cannot (the
return names none), and then the figure is left out with a note saying so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..i18n import N_, gettext
from ..money import fmt
from ..orders.models import Product
from .filters import Filters
from .records import UnmatchedReturn
from .sql import period_bucket

u = UnmatchedReturn.__table__
p = Product.__table__
UNSLICEABLE = ("country", "channel", "reason")
NOTE = N_("Returns that match no purchase cannot be sliced by country, channel or reason; they are not shown here.")


def unmatched(session: Session, f: Filters, by: str | None = None) -> dict[str, Any] | None:
    """{lines, units, by_currency: {cur: value}, rows: [{key, currency, lines, units, value}]} of the unmatched
    returns dated in the period; rows per SKU (by='sku') or period bucket (by='period'), else none.
    None when a slice cannot apply to them."""
    if any(name in f.slices for name in UNSLICEABLE):
        return None
    product = "category" in f.slices or "supplier" in f.slices
    frm = u.outerjoin(p, and_(p.c.merchant_id == u.c.merchant_id, p.c.sku == u.c.sku)) if product else u
    key = u.c.sku if by == "sku" else period_bucket(u.c.returned_at, f) if by == "period" else None
    cols = [key.label("k")] if key is not None else []
    stmt = (select(*cols, u.c.currency, func.count(u.c.id), func.sum(u.c.quantity), func.sum(u.c.amount))
            .select_from(frm).where(u.c.returned_at >= f.start, u.c.returned_at < f.end))
    if f.merchant_ids is not None:
        stmt = stmt.where(u.c.merchant_id.in_(f.merchant_ids))
    if "sku" in f.slices:
        stmt = stmt.where(u.c.sku == f.slices["sku"])
    if "category" in f.slices:
        stmt = stmt.where(p.c.category == f.slices["category"])
    if "supplier" in f.slices:
        stmt = stmt.where(p.c.supplier == f.slices["supplier"])
    stmt = stmt.group_by(*([key] if key is not None else []), u.c.currency)
    lines = units = 0
    money: dict[str, int] = defaultdict(int)
    rows = []
    for row in session.execute(stmt):
        *k, currency, n, q, amount = row
        n, q, amount = int(n or 0), int(q or 0), int(amount or 0)
        lines += n
        units += q
        money[currency] += amount
        if k:
            rows.append({"key": k[0], "currency": currency, "lines": n, "units": q, "value": fmt(amount, currency),
                         "value_minor": amount})
    rows.sort(key=lambda r: (r["key"], r["currency"]) if by == "period" else (-r["value_minor"], r["key"]))
    for r in rows:
        del r["value_minor"]
    return {"lines": lines, "units": units, "by_currency": {cur: fmt(v, cur) for cur, v in sorted(money.items())},
            "rows": rows}


def words(figure: dict[str, Any] | None, locale: str) -> str:
    """One sentence for a tile: how many returns matched no purchase and what was credited for them."""
    if figure is None:
        return gettext(locale, NOTE)
    if not figure["lines"]:
        return ""
    money = ", ".join(f"{v} {cur}" for cur, v in figure["by_currency"].items())
    return gettext(locale, N_("Also {lines} return lines ({units} units, {money}) match no purchase: counted apart "
                              "as unmatched, not in the rates.")).format(lines=figure["lines"], units=figure["units"],
                                                                          money=money)
