"""Reading an order export through a mapping file into order records.

Two kinds of trouble are told apart. A cell the mapping does not fit — a date not in its format, a status its
[status] table lacks, a currency the merchant does not use — means the mapping is wrong for the file: a Problem,
the import stops and its one transaction is rolled back, so nothing is written. A row whose data is bad (a
quantity that is not a whole number, an empty SKU) is refused with its order, as the built-in layouts do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..errors import AppError
from ..money import MoneyError, is_currency, to_minor
from ..orders.contacts import check_customer
from ..orders.records import CustomerRecord, LineRecord, OrderRecord
from .mapping import DATE_FIELDS, ORDER_FIELDS, Mapping
from .messages import Problem
from .outcome import PendingOrder, ReturnLine, RowError
from .tabular import csv_rows, detect, is_xlsx, xlsx_rows, ENCODINGS, check_encoding, encoding_name

if TYPE_CHECKING:
    from .store import OrderStore

MONEY_JUNK = str.maketrans("", "", "¥￥$£€, 元")


@dataclass
class Target:
    """What the rows are read for: the merchant's code, currencies and zone, the default currency."""

    merchant: str
    currency: str
    currencies: frozenset[str]
    zone: ZoneInfo
    region: str


def open_rows(file: Path, mapping: Mapping, encoding: str | None) -> tuple[str, Iterator[tuple[int, list[Any]]]]:
    """(what the file was read as, a fresh iterator of its rows); --encoding overrides the mapping's."""
    xlsx = mapping.format == "xlsx" or (mapping.format == "auto" and is_xlsx(file))
    if xlsx:
        return "XLSX", xlsx_rows(file, mapping.sheet)

    name = check_encoding(encoding or mapping.encoding)
    codec = ENCODINGS[name] or detect(file)
    return f"CSV {encoding_name(codec)}", csv_rows(file, codec)


def column_indexes(mapping: Mapping, header: list[Any]) -> dict[str, list[int]]:
    names = [str(h).strip().lstrip("\ufeff") for h in header]
    where = {name: i for i, name in reversed(list(enumerate(names)))}
    found: dict[str, list[int]] = {}
    for key, columns in mapping.columns.items():
        present = [where[c] for c in columns if c in where]
        if not present:
            raise Problem("missing_column", field=key, column=" / ".join(columns), columns=", ".join(names))
        found[key] = present
    return found


def _text(value: Any) -> Any:
    if value.__class__ is not str:
        return value if isinstance(value, (datetime, date)) else str(value)
    value = value.strip()
    if value and value[0] in _MARKS:
        value = _unmark(value)
    return value


_MARKS = "='\t"


def _unmark(value: str) -> str:
    if value.startswith('="') and value.endswith('"'):  # Excel-safe ids: ="1234567890123"
        value = value[2:-1]
    return value.lstrip("'\t")


def _getter(indexes: list[int]):
    """A function reading the field from a row: the first non-empty of its columns, cleaned (the hot path)."""
    if len(indexes) == 1:
        i = indexes[0]

        def one(row: list[Any]) -> Any:
            try:
                value = row[i]
            except IndexError:
                return ""
            if value.__class__ is str:
                value = value.strip()
                if value and value[0] in _MARKS:
                    value = _unmark(value)
                return value
            return _text(value)
        return one

    def first(row: list[Any]) -> Any:
        for i in indexes:
            if i < len(row):
                value = _text(row[i])
                if value != "":
                    return value
        return ""
    return first


def _empty(row: list[Any]) -> str:
    return ""


class MappedRows:
    """Parses one row at a time into its order, caching dates, amounts, statuses and kinds by their text."""

    def __init__(self, mapping: Mapping, header: list[Any], target: Target, returns: list[ReturnLine]) -> None:
        self.mapping = mapping
        self.target = target
        self.returns = returns
        self.idx = column_indexes(mapping, header)
        self.header = [str(h).strip() for h in header]
        self.zone = mapping.time_zone or target.zone
        self.dates: dict[Any, datetime] = {}
        self.money: dict[str, dict[str, int | str]] = {}
        self.kinds = mapping.kind
        self.strings: dict[str, str] = {}
        self.order_only = [f for f in ORDER_FIELDS if f in self.idx and f not in ("currency", "status")]
        self.date_fields = [f for f in DATE_FIELDS if f in self.idx]
        self.g = {name: _getter(ix) for name, ix in self.idx.items()}
        # Each date column is checked once per row, whichever fields read it.
        by_columns: dict[tuple[int, ...], list[str]] = {}
        for name in self.date_fields:
            by_columns.setdefault(tuple(self.idx[name]), []).append(name)
        self.date_checks = [(self.g[names[0]], names[0]) for names in by_columns.values()]
        self.same_kind = self.idx.get("kind") == self.idx["sku"]

    def get(self, row: list[Any], name: str) -> Any:
        return self.g.get(name, _empty)(row)

    def column(self, row: list[Any], name: str) -> str:
        for i in self.idx.get(name, ()):
            if i < len(row) and _text(row[i]) != "":
                return self.header[i]
        return self.mapping.columns[name][0]

    def date(self, row: list[Any], line: int, name: str) -> datetime | None:
        text = self.g[name](row)
        if text == "":
            return None
        value = self.dates.get(text)
        if value is None:
            value = self.dates[text] = self._parse_date(text, row, line, name)
        return value

    def _parse_date(self, text: Any, row: list[Any], line: int, name: str) -> datetime:
        if isinstance(text, datetime):
            value = text
        elif isinstance(text, date):
            value = datetime(text.year, text.month, text.day)
        else:
            value = None
            for fmt in self.mapping.date_formats:
                try:
                    value = datetime.fromisoformat(text) if fmt == "iso" else datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
            if value is None:
                raise Problem("bad_date", row=line, column=self.column(row, name), value=text,
                              formats=" | ".join(self.mapping.date_formats))
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)  # the export's own clock, never silently UTC
        return value.astimezone(timezone.utc)

    def amount(self, row: list[Any], name: str, currency: str, negative: bool = False) -> int | None:
        text = self.g[name](row)
        if text == "":
            return None
        cache = self.money.get(currency)
        if cache is None:
            cache = self.money[currency] = {}
        value = cache.get(text)
        if value is None:
            try:
                value = to_minor(str(text).translate(MONEY_JUNK), currency)
                if value < 0:
                    value = -value, f"{self.column(row, name)}: {text} is negative"
            except MoneyError as exc:
                value = f"{self.column(row, name)}: {exc}"
            cache[text] = value
        if value.__class__ is int:
            return value
        if value.__class__ is tuple:
            if negative:
                return -value[0]
            raise RowError(value[1])
        raise RowError(value)

    def currency(self, row: list[Any], line: int) -> str | None:
        """The row's currency; None when the row does not say (the order's, else the mapping's or merchant's)."""
        text = self.g["currency"](row) if "currency" in self.g else ""
        if text == "":
            return None
        code = str(text).upper()
        if not is_currency(code):
            raise Problem("unknown_currency", row=line, column=self.column(row, "currency"), value=text)
        if code not in self.target.currencies:
            raise Problem("foreign_currency", row=line, column=self.column(row, "currency"), value=text,
                          merchant=self.target.merchant, currencies=", ".join(sorted(self.target.currencies)))
        return code

    def status(self, row: list[Any], line: int) -> str | None:
        if "cancelled_at" in self.g and self.g["cancelled_at"](row) != "":
            return "cancelled"
        if "status" not in self.g:
            return None
        text = self.g["status"](row)
        if text == "":
            return None
        value = self.mapping.status.get(str(text))
        if value is None:
            raise Problem("unmapped_status", row=line, column=self.column(row, "status"), value=text,
                          known=", ".join(self.mapping.status))
        return value

    def __call__(self, order: PendingOrder, line: int, row: list[Any]) -> None:
        # Cells the mapping must fit are checked on every row, before anything else can refuse it.
        currency = self.currency(row, line) if "currency" in self.g else None
        status = self.status(row, line) if "status" in self.g or "cancelled_at" in self.g else None
        dates = self.dates
        for get, name in self.date_checks:
            text = get(row)
            if text != "" and text not in dates:
                dates[text] = self._parse_date(text, row, line, name)
        head = order.head
        if currency is None:
            currency = head["currency"] if head is not None else (self.mapping.currency or self.target.currency)
        if head is None:
            head = order.head = {"currency": currency, "status": status, "money": {}}
            for name in self.order_only:
                if name not in head:
                    head[name] = self.g[name](row)
            for name in self.date_fields:
                head[name] = dates.get(head[name]) if head[name] != "" else None
        else:
            if currency != head["currency"]:
                raise RowError(f"{self.column(row, 'currency')}: {currency} on this row but {head['currency']} "
                               "on the order's first row")
            if status is not None and (head["status"] is None or status == "cancelled"):
                head["status"] = status
            for name in self.order_only:
                if head[name] in ("", None):
                    value = self.g[name](row)
                    head[name] = (dates.get(value) if value != "" else None) if name in DATE_FIELDS else value
        money = head["money"]
        for name in ("order_discount", "shipping_fee", "paid_total"):
            if name in self.g and name not in money:
                value = self.amount(row, name, currency)
                if value is not None:
                    money[name] = value
        order.lines.append(self.line(row, currency, len(order.lines) + 1))

    def line(self, row: list[Any], currency: str, number: int) -> LineRecord:
        g = self.g
        sku = g["sku"](row)
        if sku == "":
            raise RowError(f"{self.column(row, 'sku')}: missing")
        sku = self.strings.setdefault(sku, sku)
        if "kind" in g:
            kind = self.kinds.get(sku if self.same_kind else g["kind"](row), self.mapping.kind_default)
        else:
            kind = self.mapping.kind_default
        text = g["quantity"](row)
        try:
            quantity = int(text)
        except ValueError:
            raise RowError(f"{self.column(row, 'quantity')}: {text!r} is not a whole number") from None
        if quantity <= 0:
            raise RowError(f"{self.column(row, 'quantity')}: {quantity} is not positive (a stock adjustment, "
                           "not a sale)")
        product = kind == "product"
        discount = (self.amount(row, "line_discount", currency) or 0) if "line_discount" in g else 0
        price = self.amount(row, "unit_price", currency, not product) if "unit_price" in g else None
        if price is None:
            total = self.amount(row, "line_total", currency, not product) if "line_total" in g else None
            if total is None:
                raise RowError(f"{self.column(row, 'unit_price' if 'unit_price' in g else 'line_total')}: "
                               "missing")
            price = math.ceil(total / quantity)
            discount += price * quantity - total  # a total that does not divide: the rest is a discount
        title = g["title"](row) if "title" in g else ""
        title = self.strings.setdefault(title, title)
        category = g["category"](row) if "category" in g else None
        return LineRecord(number, sku, title, category or None, price, quantity, quantity, discount, kind=kind)

    def return_row(self, invoice: str, line: int, row: list[Any]) -> None:
        """An invoice of the returns prefix: its lines are matched to earlier purchases once orders are stored."""
        sku = self.get(row, "sku")
        text = self.get(row, "quantity")
        try:
            quantity = int(text)
        except ValueError:
            raise RowError(f"{self.column(row, 'quantity')}: {text!r} is not a whole number") from None
        at = self.date(row, line, "ordered_at") if "ordered_at" in self.g else None
        if not sku:
            raise RowError(f"{self.column(row, 'sku')}: missing")
        if quantity >= 0 or at is None:
            raise RowError(f"{self.column(row, 'quantity')}: {quantity} on return invoice {invoice}; a return line "
                           "must be negative and dated")
        customer = self.get(row, "customer_id")
        customer = customer.removesuffix(".0") if customer else None
        price = self.amount(row, "unit_price", self.target.currency) if "unit_price" in self.g else None
        self.returns.append(ReturnLine(line, invoice, sku, -quantity, at, customer or None, price,
                                       self.target.currency))

    def finish(self, order: PendingOrder) -> OrderRecord:
        head = order.head
        money = head["money"]
        customer = None
        if head.get("customer_id"):
            customer = CustomerRecord(external_id=str(head["customer_id"]).removesuffix(".0"),
                                      name=head.get("customer_name") or "",
                                      email=head.get("customer_email") or None,
                                      phone=head.get("customer_phone") or None, country=head.get("country") or None)
            if customer.email or customer.phone:
                try:
                    customer = check_customer(customer, self.target.region)
                except AppError as exc:
                    raise RowError(str(exc)) from None
        discount = money.get("order_discount", 0)
        shipping = money.get("shipping_fee", 0)
        paid = money.get("paid_total")
        if paid is None:  # every line as charged, shipping and fee lines too
            paid = sum(li.unit_price * li.quantity - li.discount for li in order.lines) - discount + shipping
        at = head.get("ordered_at") or head.get("paid_at")
        return OrderRecord(number=order.number, currency=head["currency"], customer=customer, discount=discount,
                           shipping_fee=shipping, paid_total=paid, country=head.get("country") or None,
                           sales_channel=self.mapping.sales_channel, ordered_at=at, paid_at=head.get("paid_at"),
                           shipped_at=head.get("shipped_at"), delivered_at=head.get("delivered_at"),
                           signed_at=head.get("signed_at"), lines=order.lines, status=head.get("status"))


def read_mapped(rows_of, mapping: Mapping, target: Target, store: OrderStore, returns: list[ReturnLine],
                on_progress=None) -> None:
    """Reads every row through the mapping into `store`; a Problem stops it (the caller rolls back)."""
    rows = rows_of()
    _, header = next(rows, (0, None))
    if not header:
        raise Problem("empty_file")
    parse = MappedRows(mapping, header, target, returns)
    # First pass: where each order's last row is, so an order is stored as soon as it is complete.
    last: dict[str, int] = {}
    number_of = parse.g["order_number"]
    for line, row in rows:
        last[number_of(row)] = line
    prefix = mapping.returns_prefix
    pending: dict[str, PendingOrder] = {}
    result = store.result
    rows = rows_of()
    next(rows)
    for line, row in rows:
        if not any(row) or (len(row) == 1 and not str(row[0]).strip()):
            continue
        result.rows += 1
        if on_progress is not None and result.rows % 20_000 == 0:
            on_progress(result.rows)
        number = number_of(row)
        if prefix and number.startswith(prefix):
            try:
                parse.return_row(number, line, row)
            except RowError as exc:
                store.refuse(line, str(exc), row)
            continue
        order = pending.get(number)
        if order is None:
            order = pending[number] = PendingOrder(number)
        order.rows.append((line, row))
        try:
            if not number:
                raise RowError(f"{parse.column(row, 'order_number')}: missing")
            parse(order, line, row)
        except RowError as exc:
            order.errors.append((line, str(exc)))
        if not number or last.get(number) == line:
            del pending[number]
            store.add(order, parse.finish)
    for order in pending.values():
        store.add(order, parse.finish)


__all__ = ["MappedRows", "Target", "open_rows", "read_mapped"]
