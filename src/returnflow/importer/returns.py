"""UCI 'C' invoices: matched to earlier purchases and opened as completed return cases (see docs/import.md).

What each matched line credited (the credit note's own unit price x the quantity placed on that purchase) is kept
with the case line (analytics `return_credits`), so reports value the return at what was credited, not at the
original price. A product line that matches no earlier purchase (no customer, none bought before, or more than
was bought: the rest) is kept as an unmatched return (analytics `unmatched_returns`), so the reports count it
apart instead of leaving it out. Lines of non-product codes (postage, fees, manual adjustments) are not goods:
they are neither, only counted in the import's summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import func, insert, select

from ..actor import Actor
from ..db import Database
from ..merchants.models import Merchant
from ..orders.models import Order, Customer, OrderLine
from .outcome import ReturnLine, ReturnStats
from ..analytics.records import UnmatchedReturn, ReturnCredit
from ..cases.batch import Batch
from ..cases.models import Case, CaseLine, CaseType, Channel
from ..cases.schemas import CaseCreate, CaseLineCreate

CASE_CHUNK = 200  # return invoices per transaction when opening cases
# StockCodes of the UCI data that are fees, postage, discounts or manual corrections, not goods, with the line kind
# they are stored as (the same as mappings/uci.toml says), so they are not counted as sales.
NON_PRODUCT_KINDS = {"POST": "shipping", "DOT": "shipping", "C2": "shipping", "AMAZONFEE": "fee",
                     "BANK CHARGES": "fee", "CRUK": "fee", "D": "discount", "M": "adjustment", "S": "adjustment",
                     "PADS": "adjustment", "B": "adjustment"}
NON_PRODUCT_CODES = frozenset(NON_PRODUCT_KINDS)


def open_uci_returns(db: Database, merchant_id: int, returns: list[ReturnLine], stats: ReturnStats,
                     on_progress: Callable[[int, int | None], None] | None = None) -> None:
    """Matches 'C' lines to earlier purchases (most recent first) and opens each match as a completed return case.

    `on_progress(cases opened, cases to open)` is called with None as the total while matching, then per case.
    """
    progress = on_progress or _no_progress
    progress(0, None)
    invoices = sorted({r.invoice for r in returns})
    customers = sorted({r.customer for r in returns if r.customer})
    with db.read() as session:
        done: set[str] = set()
        for chunk in _chunks(invoices, 1000):
            done.update(session.scalars(select(Case.external_ref).where(
                Case.merchant_id == merchant_id, Case.channel == "import", Case.external_ref.in_(chunk))))
        purchases: dict[tuple[str, str], list[list]] = defaultdict(list)
        connection = session.connection()  # Core rows: hundreds of thousands of lines, no ORM work per row
        for chunk in _chunks(customers, 1000):
            mine = (Customer.merchant_id == merchant_id, Customer.external_id.in_(chunk))
            # The orders first, then their lines: each order's time is read once, not once per line.
            orders = {order_id: (cust, number, at) for order_id, cust, number, at in connection.execute(
                select(Order.id, Customer.external_id, Order.number, Order.ordered_at)
                .join(Customer, Customer.id == Order.customer_id).where(*mine))}
            for order_id, line_id, line_no, sku, delivered in connection.execute(
                    select(OrderLine.order_id, OrderLine.id, OrderLine.line_no, OrderLine.sku,
                           OrderLine.delivered_quantity)
                    .join(Order, Order.id == OrderLine.order_id).join(Customer, Customer.id == Order.customer_id)
                    .where(*mine)):
                order = orders.get(order_id)
                if order is not None:  # else an order stored since the statement before: not read as a purchase
                    purchases[(order[0], sku)].append([order[2], order[1], line_no, line_id, delivered])
        kept = set(session.execute(select(UnmatchedReturn.reference, UnmatchedReturn.line).where(
            UnmatchedReturn.merchant_id == merchant_id)).all())
        currency = session.scalar(select(Merchant.default_currency).where(Merchant.id == merchant_id))
        claimed = dict(session.execute(
            select(CaseLine.order_line_id, func.sum(CaseLine.quantity)).join(Case, Case.id == CaseLine.case_id)
            .where(Case.merchant_id == merchant_id, Case.holds_quantity.is_(True))
            .group_by(CaseLine.order_line_id)).all())
    for items in purchases.values():
        items.sort(key=lambda p: (p[0], p[1], p[2]), reverse=True)  # most recent first
        for p in items:
            p[4] -= claimed.get(p[3], 0)  # what is still returnable

    # (invoice, order number) -> {line_no: [sku, quantity, credited]}; cases open in the order the returns happened.
    cases: dict[tuple[str, str], dict[int, list]] = {}
    when: dict[str, datetime] = {}
    unmatched: list[dict] = []

    def keep(r: ReturnLine, quantity: int, why: str) -> None:
        if (r.invoice, r.line) not in kept:
            unmatched.append({"merchant_id": merchant_id, "reference": r.invoice, "line": r.line, "sku": r.sku,
                              "quantity": quantity, "amount": quantity * (r.price or 0),
                              "currency": r.currency or currency,
                              "customer": r.customer, "returned_at": r.at, "why": why})
    for r in sorted(returns, key=lambda r: (r.at, r.line)):
        earlier = [p for p in purchases.get((r.customer, r.sku), ()) if p[0] < r.at] if r.customer else []
        if earlier:
            stats.with_earlier_purchase += 1
        if r.invoice in done:
            continue
        if r.customer is None:
            stats.unmatched["no customer"] += 1
            if r.sku not in NON_PRODUCT_CODES:  # goods came back, from someone unknown
                keep(r, r.quantity, "no_customer")
            continue
        if r.sku in NON_PRODUCT_CODES:
            stats.unmatched["non-product code"] += 1
            continue
        if not earlier:
            stats.unmatched["no earlier purchase"] += 1
            keep(r, r.quantity, "no_earlier_purchase")
            continue
        wanted = r.quantity
        for p in earlier:
            take = min(wanted, p[4])
            if take <= 0:
                continue
            p[4] -= take
            wanted -= take
            lines = cases.setdefault((r.invoice, p[1]), {})
            item = lines.setdefault(p[2], [r.sku, 0, 0])
            item[1] += take
            item[2] = None if r.price is None or item[2] is None else item[2] + take * r.price
            when[r.invoice] = r.at
            stats.quantity_matched += take
            if not wanted:
                break
        if wanted == r.quantity:
            stats.unmatched["quantity exceeds what was bought"] += 1
        elif wanted:
            stats.partly_matched += 1
        else:
            stats.matched += 1
        if wanted:
            keep(r, wanted, "more_than_bought")
    stats.invoices_already_opened = len(done)

    by_invoice: dict[str, list[tuple[str, dict[int, list]]]] = defaultdict(list)
    for (invoice, number), lines in cases.items():
        by_invoice[invoice].append((number, lines))
    ordered = sorted(by_invoice, key=lambda inv: (when[inv], inv))
    progress(0, len(cases))
    for chunk in _chunks(ordered, CASE_CHUNK):
        items = [(invoice, when[invoice], number, lines) for invoice in chunk for number, lines in by_invoice[invoice]]
        with db.transaction() as session:
            _open_completed_returns(session, merchant_id, items)
        for _ in items:
            stats.cases_opened += 1
            progress(stats.cases_opened, len(cases))
    if unmatched:
        with db.transaction() as session:
            for chunk in _chunks(unmatched, 1000):
                session.execute(insert(UnmatchedReturn), chunk)
        stats.unmatched_kept = len(unmatched)


def _open_completed_returns(session, merchant_id: int, items: list[tuple[str, datetime, str, dict[int, list]]]) -> None:
    """Opens a completed return case for each (invoice, its date, order number, {line_no: [sku, quantity,
    credited]}), in this order: opened by the import and taken through approve, receive, inspect, resolve and
    close, all dated on the invoice date, as the workflow takes a case (written together: cases/batch.py)."""
    system = Actor(kind="system", role="system", merchant_id=merchant_id, name="import")
    warehouse = Actor(kind="system", role="warehouse", merchant_id=merchant_id, name="import")
    batch = Batch(session)
    cases = batch.open(system, [
        (CaseCreate(order=number, type=CaseType.RETURN_REFUND, channel=Channel.IMPORT, external_ref=invoice,
                    description=f"Return invoice {invoice} (imported)", desired_outcome="refund",
                    lines=[CaseLineCreate(line_no=no, sku=sku, quantity=qty)
                           for no, (sku, qty, _credit) in sorted(lines.items())]), at)
        for invoice, at, number, lines in items])
    credits = []
    for case, (_invoice, at, _number, lines) in zip(cases, items, strict=True):
        credits += [{"case_line_id": line.id, "case_id": case.id, "merchant_id": merchant_id, "amount": item[2],
                     "source": "credit_note"}
                    for line, (_no, item) in zip(sorted(case.lines, key=lambda li: li.line_no or 0),
                                                 sorted(lines.items()), strict=True) if item[2] is not None]
        # The return happened on the invoice date: its whole history is dated then, not at import time.
        for action, actor in (("approve", system), ("receive", warehouse), ("inspect", warehouse),
                              ("resolve", system), ("close", system)):
            batch.fire(case, action, actor, at=at)
    batch.write()
    if credits:
        session.connection().execute(insert(ReturnCredit.__table__), credits)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _no_progress(_done: int, _total: int | None) -> None:
    pass
