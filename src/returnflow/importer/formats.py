"""Reading CSV, JSON lines and UCI Online Retail rows into order records, and reporting the rows that cannot be.

Files are read twice: a first pass finds where each order's last row is (so rows of one order need not be
adjacent and memory holds only the orders still open), the second parses and validates them and hands each
complete order to the store. An order with any bad row is refused whole. UCI 'C' lines are returns, kept aside
for returns.py.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ..errors import AppError
from ..money import MoneyError, to_minor
from ..orders.contacts import DEFAULT_REGION
from ..orders.records import CustomerRecord, LineRecord, OrderRecord
from ..orders.schemas import OrderIn
from .outcome import OrderInvalid, PendingOrder, ReturnLine, RowError, UnusableInput
from .returns import NON_PRODUCT_KINDS

if TYPE_CHECKING:
    from .store import OrderStore

FORMATS = ("auto", "csv", "jsonl", "uci")
CSV_REQUIRED = ("order_number", "sku", "unit_price", "quantity")
UCI_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
               "Country")
UCI_ZONE = ZoneInfo("Europe/London")  # the retailer is in the UK; its timestamps are local time


def detect_format(file: Path, fmt: str) -> str:
    """The format named, or for 'auto' the one the extension or header says."""
    if fmt not in FORMATS:
        raise UnusableInput(f"--format: unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    name = file.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    try:
        with _open_text(file) as handle:
            first = handle.readline().strip()
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise UnusableInput(f"unreadable file: {exc}") from None
    if first.startswith("{"):
        return "jsonl"
    header = {h.strip() for h in next(csv.reader([first]), [])}
    if {"InvoiceNo", "StockCode"} <= header:
        return "uci"
    if "order_number" in header:
        return "csv"
    raise UnusableInput("--format auto: the file is neither JSON lines nor a CSV with an order_number or "
                        "InvoiceNo column; name the format with --format")


def _open_text(file: Path, raw: IO[bytes] | None = None) -> IO[str]:
    binary: IO[bytes] = raw or open(file, "rb")  # noqa: SIM115 - closed with the text wrapper
    if file.name.lower().endswith(".gz"):
        binary = gzip.GzipFile(fileobj=binary, mode="rb")
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _csv_rows(file: Path, on_progress=None) -> Iterator[tuple[int, list[str]]]:
    """(first physical line number, fields) for each record after the header; the header comes first as line 1."""
    try:
        raw = open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UnusableInput(f"unreadable file: {exc.strerror}") from None
    try:
        with _open_text(file, raw) as handle:
            reader = csv.reader(handle)
            previous = 0
            count = 0
            for row in reader:
                yield previous + 1, row
                previous = reader.line_num
                count += 1
                if on_progress is not None and count % 20_000 == 0:
                    on_progress(raw.tell())
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, csv.Error, OSError) as exc:
        raise UnusableInput(f"unreadable file: {exc}") from None
    finally:
        raw.close()


def read_rows(file: Path, fmt: str, store: OrderStore, currency: str, returns: list[ReturnLine], on_progress,
              region: str = DEFAULT_REGION) -> None:
    rows = _csv_rows(file)
    _, header = next(rows, (0, None))
    if header is None:
        raise UnusableInput("the file is empty")
    columns = {name.strip(): i for i, name in enumerate(header)}
    if fmt == "uci":
        missing = [c for c in UCI_COLUMNS if c not in columns]
        key = columns.get("InvoiceNo")
    else:
        missing = [c for c in CSV_REQUIRED if c not in columns]
        key = columns.get("order_number")
    if missing:
        raise UnusableInput(f"the header lacks the column(s) {', '.join(missing)} needed for format {fmt}")
    # First pass: where each order's last row is, so an order is stored as soon as it is complete.
    last: dict[str, int] = {}
    for line, row in rows:
        if len(row) > key:
            last[row[key].strip()] = line
    parse = _UciRow(columns, currency, returns) if fmt == "uci" else _CsvRow(columns, currency, region)
    pending: dict[str, PendingOrder] = {}
    rows = _csv_rows(file, on_progress)
    next(rows)
    result = store.result
    for line, row in rows:
        result.rows += 1
        if not row or (len(row) == 1 and not row[0].strip()):
            result.rows -= 1
            continue
        number = row[key].strip() if len(row) > key else ""
        if fmt == "uci" and number.startswith("C"):
            try:
                parse.return_row(number, line, row)  # a return, not an order: opened as a case afterwards
            except RowError as exc:
                store.refuse(line, str(exc), row)
            continue
        order = pending.get(number)
        if order is None:
            order = pending[number] = PendingOrder(number)
        order.rows.append((line, row))
        try:
            if not number:
                raise RowError(f"{header[key]}: missing")
            if len(row) != len(header):
                raise RowError(f"row has {len(row)} columns, the header has {len(header)}")
            parse(order, line, row)
        except RowError as exc:
            order.errors.append((line, str(exc)))
        if not number or last.get(number) == line:
            del pending[number]
            store.add(order, parse.finish)
    for order in pending.values():  # only if the file changed between the two passes
        store.add(order, parse.finish)


class _UciRow:
    """Parses UCI Online Retail rows straight into records (the fast path: no per-row Decimal work)."""

    def __init__(self, columns: dict[str, int], currency: str, returns: list[ReturnLine]) -> None:
        self.idx = [columns[c] for c in UCI_COLUMNS]
        self.currency = currency
        self.returns = returns
        self.prices: dict[str, int | str] = {}
        self.dates: dict[str, datetime | str] = {}

    def __call__(self, order: PendingOrder, line: int, row: list[str]) -> None:
        _, i_code, i_desc, i_qty, i_date, i_price, i_cust, i_country = self.idx
        invoice = order.number
        sku = row[i_code].strip()
        try:
            quantity = int(row[i_qty])
        except ValueError:
            quantity = self._quantity(row[i_qty])
        at = self.dates.get(row[i_date])
        if at is None or at.__class__ is str:
            at = self._date(row[i_date])
        if not sku:
            raise RowError("StockCode: missing")
        if quantity <= 0:
            raise RowError(f"Quantity: {quantity} is not positive and {invoice} is not a return ('C') invoice "
                           "(a stock adjustment, not a sale)")
        price = self.prices.get(row[i_price])
        if price is None or price.__class__ is str:
            price = self._price(row[i_price])
        if order.head is None:
            order.head = {"currency": self.currency, "customer": _customer_id(row[i_cust]),
                          "country": row[i_country].strip() or None, "at": at}
        order.lines.append(LineRecord(len(order.lines) + 1, sku, row[i_desc].strip(), None, price, quantity,
                                      quantity, kind=NON_PRODUCT_KINDS.get(sku, "product")))

    def return_row(self, invoice: str, line: int, row: list[str]) -> None:
        """A 'C' line: kept to be matched with earlier purchases once the orders are stored."""
        _, i_code, _, i_qty, i_date, i_price, i_cust, _ = self.idx
        sku = row[i_code].strip()
        quantity = self._quantity(row[i_qty])
        at = self._date(row[i_date])
        if not sku:
            raise RowError("StockCode: missing")
        if quantity >= 0:
            raise RowError(f"Quantity: {quantity} on return invoice {invoice}; a return line must be negative")
        price = self._price(row[i_price])  # what the credit note credits per unit
        self.returns.append(ReturnLine(line, invoice, sku, -quantity, at, _customer_id(row[i_cust]), price,
                                       self.currency))

    @staticmethod
    def _quantity(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise RowError(f"Quantity: {text!r} is not a whole number") from None

    def _price(self, text: str) -> int:
        value = self.prices.get(text)
        if value is None:
            try:
                minor = to_minor(text, self.currency)
                value = minor if minor >= 0 else f"UnitPrice: {text} is negative"
            except MoneyError as exc:
                value = f"UnitPrice: {exc}"
            self.prices[text] = value
        if isinstance(value, str):
            raise RowError(value)
        return value

    def _date(self, text: str) -> datetime:
        value = self.dates.get(text)
        if value is None:
            try:
                value = datetime.fromisoformat(text.strip())
                if value.tzinfo is None:
                    value = value.replace(tzinfo=UCI_ZONE)
                value = value.astimezone(timezone.utc)
            except ValueError:
                value = f"InvoiceDate: {text!r} is not a date such as 2011-12-09 12:50:00"
            self.dates[text] = value
        if isinstance(value, str):
            raise RowError(value)
        return value

    def finish(self, order: PendingOrder) -> OrderRecord:
        head = order.head
        at = head["at"]
        customer = head["customer"]
        return OrderRecord(number=order.number, currency=head["currency"],
                           customer=CustomerRecord(external_id=customer, country=head["country"]) if customer else None,
                           country=head["country"], sales_channel="online", ordered_at=at, shipped_at=at,
                           delivered_at=at, lines=order.lines,
                           # what the invoice charged, postage and fees included (they are lines, not goods)
                           paid_total=sum(li.unit_price * li.quantity for li in order.lines))


class _CsvRow:
    """Turns the rows of one order into the shape of OrderIn, so the API's validation applies to files too."""

    ORDER_COLUMNS = ("customer_id", "customer_name", "customer_email", "customer_phone", "customer_locale",
                     "country", "currency", "order_discount", "shipping_fee", "paid_total", "payments",
                     "ordered_at", "shipped_at", "delivered_at", "signed_at")
    LINE_FIELDS = {"line_no": "line_no", "sku": "sku", "title": "title", "category": "category",
                   "unit_price": "unit_price", "quantity": "quantity", "delivered_quantity": "delivered_quantity",
                   "line_discount": "discount", "line_delivered_at": "delivered_at", "line_signed_at": "signed_at"}

    def __init__(self, columns: dict[str, int], currency: str, region: str = DEFAULT_REGION) -> None:
        self.columns = columns
        self.currency = currency
        self.region = region

    def _get(self, row: list[str], name: str) -> str:
        i = self.columns.get(name)
        return row[i].strip() if i is not None else ""

    def __call__(self, order: PendingOrder, line: int, row: list[str]) -> None:
        get = self._get
        currency = (get(row, "currency") or self.currency).upper()
        if order.head is None:
            head: dict[str, Any] = {"number": order.number, "currency": currency, "lines": []}
            if get(row, "customer_id"):
                head["customer"] = {"id": get(row, "customer_id"), "name": get(row, "customer_name"),
                                    **{k: get(row, f"customer_{k}") or None for k in ("email", "phone", "locale")},
                                    "country": get(row, "country") or None}
            for column, name in (("country", "country"), ("order_discount", "discount"),
                                 ("shipping_fee", "shipping_fee"), ("paid_total", "paid_total"),
                                 ("ordered_at", "ordered_at"), ("shipped_at", "shipped_at"),
                                 ("delivered_at", "delivered_at"), ("signed_at", "signed_at")):
                if get(row, column):
                    head[name] = get(row, column)
            if get(row, "payments"):
                head["payments"] = _payments(get(row, "payments"))
            order.head = head
        elif currency != order.head["currency"]:
            raise RowError(f"currency: {currency} on this row but {order.head['currency']} on the order's first row")
        item = {name: get(row, column) for column, name in self.LINE_FIELDS.items() if get(row, column)}
        order.lines.append(line)
        order.head["lines"].append(item)

    def finish(self, order: PendingOrder) -> OrderRecord:
        try:
            return OrderIn.model_validate(order.head).to_record(self.region)
        except ValidationError as exc:
            raise OrderInvalid([(self._line_of(order, err["loc"]), _pydantic_reason(err, self._column))
                                 for err in exc.errors()]) from None
        except AppError as exc:
            field_name = exc.field or ""
            return_line = self._line_of(order, _loc_of(field_name))
            raise OrderInvalid([(return_line, self._column_reason(str(exc), field_name))]) from None

    def _line_of(self, order: PendingOrder, loc: tuple) -> int:
        if len(loc) >= 2 and loc[0] == "lines" and isinstance(loc[1], int) and loc[1] < len(order.lines):
            return order.lines[loc[1]]
        return order.lines[0]

    def _column(self, loc: tuple) -> str:
        if len(loc) >= 3 and loc[0] == "lines":
            reverse = {v: k for k, v in self.LINE_FIELDS.items()}
            return str(reverse.get(loc[2], loc[2]))
        if loc and loc[0] == "customer":
            return f"customer_{loc[1]}" if len(loc) > 1 else "customer_id"
        names = {"discount": "order_discount", "payments": "payments"}
        return names.get(str(loc[0]), str(loc[0])) if loc else "row"

    def _column_reason(self, message: str, field_name: str) -> str:
        column = self._column(_loc_of(field_name))
        _, _, problem = message.partition(": ")
        return f"{column}: {problem or message}"


def _customer_id(text: str) -> str | None:
    text = text.strip()
    return text.removesuffix(".0") or None  # some copies of the data carry CustomerID as 17850.0


def _loc_of(field_name: str) -> tuple:
    parts: list[Any] = []
    for piece in field_name.replace("]", "").replace("[", ".").split("."):
        if piece:
            parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


def _pydantic_reason(err: dict, column_of: Callable[[tuple], str]) -> str:
    loc = tuple(err["loc"])
    if err.get("type") == "json_invalid":
        return f"not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}"
    value = err.get("input")
    shown = f" (got {value!r})" if isinstance(value, (str, int)) else ""
    if err.get("type") == "timezone_aware":  # one rule everywhere (docs/policy.md): no offset, no guess
        return f"{column_of(loc)}: needs its UTC offset, such as 2026-11-24T10:00:00+08:00{shown}"
    return f"{column_of(loc)}: {err['msg']}{shown}"


def _payments(text: str) -> list[dict[str, str]]:
    payments = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        method, sep, amount = part.partition(":")
        if not sep or not method.strip() or not amount.strip():
            raise RowError(f"payments: {part!r} is not method:amount (e.g. alipay:100.00;balance:20.00)")
        payments.append({"method": method.strip(), "amount": amount.strip()})
    return payments


def read_jsonl(file: Path, store: OrderStore, merchant_code: str, on_progress, region: str = DEFAULT_REGION) -> None:
    try:
        raw = open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UnusableInput(f"unreadable file: {exc.strerror}") from None
    try:
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if file.name.lower().endswith(".gz") else raw
        result = store.result
        for line, text in enumerate(binary, start=1):
            if not text.strip():
                continue
            result.rows += 1
            if on_progress is not None and result.rows % 5_000 == 0:
                on_progress(raw.tell())
            raw_text = text.decode("utf-8", "replace").rstrip("\r\n")
            try:
                data = OrderIn.model_validate_json(text)
                if data.merchant is not None and data.merchant != merchant_code:
                    raise RowError(f"merchant: the order is for {data.merchant!r}, the import for {merchant_code!r}")
                record = data.to_record(region)
            except ValidationError as exc:
                reason = "; ".join(_pydantic_reason(err, _dotted) for err in exc.errors())
                store.refuse(line, reason, raw_text)
                continue
            except (AppError, RowError) as exc:
                store.refuse(line, str(exc), raw_text)
                continue
            store.add_record(record)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise UnusableInput(f"unreadable file: {exc}") from None
    finally:
        raw.close()


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "order"
