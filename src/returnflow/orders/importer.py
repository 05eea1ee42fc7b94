"""Order import from CSV, JSON lines or the UCI Online Retail layout: bad rows reported by line, whole orders only.

Files are read twice: a first pass finds where each order's last row is (so rows of one order need not be
adjacent and memory holds only the orders still open), the second parses, validates and stores orders in
chunks of CHUNK_ORDERS, one transaction each. An order with any bad row is refused whole. UCI 'C' invoices are
returns: they are matched to earlier purchases and opened as return cases once the orders are stored
(see docs/import.md for the mapping and its assumptions).
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import func, select

from ..auth.actor import Actor
from ..db import Database
from ..errors import AppError
from ..merchants.models import Merchant
from ..money import MoneyError, is_currency, to_minor
from .models import Order
from .records import CustomerRecord, LineRecord, OrderRecord
from .schemas import OrderIn
from .service import upsert_orders

CHUNK_ORDERS = 2000
CASE_CHUNK = 200  # return invoices per transaction when opening cases
FORMATS = ("auto", "csv", "jsonl", "uci")
CSV_REQUIRED = ("order_number", "sku", "unit_price", "quantity")
UCI_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
               "Country")
# StockCodes of the UCI data that are fees, postage, discounts or manual corrections, not goods.
NON_PRODUCT_CODES = frozenset({"M", "POST", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "DOT", "C2", "PADS", "B"})
UCI_ZONE = ZoneInfo("Europe/London")  # the retailer is in the UK; its timestamps are local time


class UnusableInput(Exception):
    """The file cannot be imported at all (format, header, encoding, merchant)."""


class RowError(Exception):
    """One row that cannot be represented; the message names the column."""


@dataclass(slots=True)
class Refused:
    line: int
    reason: str
    raw: str


@dataclass
class ReturnStats:
    """What happened to the UCI 'C' (return) lines."""

    lines: int = 0
    invoices: int = 0
    matched: int = 0  # fully matched to earlier purchases
    partly_matched: int = 0  # some quantity matched, the rest exceeded what was bought
    with_earlier_purchase: int = 0  # SOURCE.md's measure: same customer and StockCode bought before
    unmatched: Counter = field(default_factory=Counter)
    cases_opened: int = 0
    invoices_already_opened: int = 0
    quantity_matched: int = 0
    seconds: float = 0.0


@dataclass
class ImportResult:
    """The outcome of one import: counts, refused rows (the first MAX_KEPT), return matching."""

    format: str = ""
    rows: int = 0
    orders_inserted: int = 0
    orders_updated: int = 0
    lines: int = 0
    bad_rows: int = 0
    skipped_rows: int = 0
    refused: list[Refused] = field(default_factory=list)
    returns: ReturnStats = field(default_factory=ReturnStats)
    seconds: float = 0.0

    MAX_KEPT = 10_000

    @property
    def refused_rows(self) -> int:
        return self.bad_rows + self.skipped_rows

    @property
    def exit_code(self) -> int:
        return 1 if self.refused_rows else 0


@dataclass
class _Return:
    """One UCI 'C' line, parsed."""

    line: int
    invoice: str
    sku: str
    quantity: int  # positive: how many came back
    at: datetime
    customer: str | None


@dataclass
class _Pending:
    """An order whose rows are still being read."""

    number: str
    head: dict[str, Any] | None = None
    lines: list = field(default_factory=list)
    rows: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


# ---- entry points --------------------------------------------------------------------------------------------

def run_import(db: Database, *, file: Path, merchant: str, fmt: str = "auto", create_merchant: bool = False,
               currency: str | None = None, open_returns: bool = True, errors_file: Path | None = None,
               console: Console | None = None) -> int:
    """The `import-orders` command: imports, prints the summary and returns the exit code (0, 1 or 2)."""
    console = console or Console()
    try:
        fmt = detect_format(file, fmt)
        merchant_id = ensure_merchant(db, merchant, create=create_merchant,
                                      currency=currency or ("GBP" if fmt == "uci" else None))
        with _Progress(console, file) as advance:
            result = import_file(db, file=file, merchant_id=merchant_id, fmt=fmt, currency=currency,
                                 open_returns=open_returns, errors_file=errors_file, on_progress=advance)
    except UnusableInput as exc:
        console.print(f"[red]cannot import {file}:[/red] {exc}")
        return 2
    print_summary(console, result, errors_file)
    return result.exit_code


def import_file(db: Database, *, file: Path, merchant_id: int, fmt: str = "auto", currency: str | None = None,
                open_returns: bool = True, errors_file: Path | None = None,
                on_progress: Callable[[int], None] | None = None) -> ImportResult:
    """Imports `file` into the merchant; raises UnusableInput when nothing can be read."""
    fmt = detect_format(file, fmt)
    if currency is not None and not is_currency(currency.upper()):
        raise UnusableInput(f"--currency: unknown currency {currency!r}")
    with db.read() as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None:
            raise UnusableInput(f"no merchant with id {merchant_id}")
        default_currency = (currency or ("GBP" if fmt == "uci" else merchant.default_currency)).upper()
        merchant_code = merchant.code
    result = ImportResult(format=fmt)
    started = time.perf_counter()
    sink = _ErrorSink(errors_file, result)
    try:
        store = _Store(db, merchant_id, result, sink)
        returns: list[_Return] = []
        if fmt == "jsonl":
            _read_jsonl(file, store, merchant_code, on_progress)
        else:
            _read_rows(file, fmt, store, default_currency, returns, on_progress)
        store.flush()
        result.seconds = time.perf_counter() - started
        if fmt == "uci":
            result.returns.lines = len(returns)
            result.returns.invoices = len({r.invoice for r in returns})
            if open_returns and returns:
                t0 = time.perf_counter()
                open_uci_returns(db, merchant_id, returns, result.returns)
                result.returns.seconds = time.perf_counter() - t0
    finally:
        sink.close()
    return result


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


def ensure_merchant(db: Database, code: str, *, create: bool, currency: str | None) -> int:
    """The merchant's id; creates it with --create-merchant, otherwise an unknown code is unusable input."""
    with db.transaction() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == code))
        if merchant_id is not None:
            return merchant_id
        if not create:
            raise UnusableInput(f"--merchant: no merchant {code!r} (add --create-merchant to create it)")
        merchant = Merchant(code=code, name=code, default_currency=(currency or "CNY").upper())
        session.add(merchant)
        session.flush()
        return merchant.id


# ---- reading -------------------------------------------------------------------------------------------------

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


def _read_rows(file: Path, fmt: str, store: _Store, currency: str, returns: list[_Return], on_progress) -> None:
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
    parse = _UciRow(columns, currency, returns) if fmt == "uci" else _CsvRow(columns, currency)
    pending: dict[str, _Pending] = {}
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
            order = pending[number] = _Pending(number)
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

    def __init__(self, columns: dict[str, int], currency: str, returns: list[_Return]) -> None:
        self.idx = [columns[c] for c in UCI_COLUMNS]
        self.currency = currency
        self.returns = returns
        self.prices: dict[str, int | str] = {}
        self.dates: dict[str, datetime | str] = {}

    def __call__(self, order: _Pending, line: int, row: list[str]) -> None:
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
                                      quantity))

    def return_row(self, invoice: str, line: int, row: list[str]) -> None:
        """A 'C' line: kept to be matched with earlier purchases once the orders are stored."""
        _, i_code, _, i_qty, i_date, _, i_cust, _ = self.idx
        sku = row[i_code].strip()
        quantity = self._quantity(row[i_qty])
        at = self._date(row[i_date])
        if not sku:
            raise RowError("StockCode: missing")
        if quantity >= 0:
            raise RowError(f"Quantity: {quantity} on return invoice {invoice}; a return line must be negative")
        self.returns.append(_Return(line, invoice, sku, -quantity, at, _customer_id(row[i_cust])))

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

    def finish(self, order: _Pending) -> OrderRecord:
        head = order.head
        at = head["at"]
        customer = head["customer"]
        return OrderRecord(number=order.number, currency=head["currency"],
                           customer=CustomerRecord(external_id=customer, country=head["country"]) if customer else None,
                           country=head["country"], sales_channel="online", ordered_at=at, shipped_at=at,
                           delivered_at=at, lines=order.lines)


class _CsvRow:
    """Turns the rows of one order into the shape of OrderIn, so the API's validation applies to files too."""

    ORDER_COLUMNS = ("customer_id", "customer_name", "customer_email", "customer_phone", "customer_locale",
                     "country", "currency", "order_discount", "shipping_fee", "paid_total", "payments",
                     "ordered_at", "shipped_at", "delivered_at", "signed_at")
    LINE_FIELDS = {"line_no": "line_no", "sku": "sku", "title": "title", "category": "category",
                   "unit_price": "unit_price", "quantity": "quantity", "delivered_quantity": "delivered_quantity",
                   "line_discount": "discount"}

    def __init__(self, columns: dict[str, int], currency: str) -> None:
        self.columns = columns
        self.currency = currency

    def _get(self, row: list[str], name: str) -> str:
        i = self.columns.get(name)
        return row[i].strip() if i is not None else ""

    def __call__(self, order: _Pending, line: int, row: list[str]) -> None:
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

    def finish(self, order: _Pending) -> OrderRecord:
        try:
            return OrderIn.model_validate(order.head).to_record()
        except ValidationError as exc:
            raise _OrderInvalid([(self._line_of(order, err["loc"]), _pydantic_reason(err, self._column))
                                 for err in exc.errors()]) from None
        except AppError as exc:
            field_name = exc.field or ""
            return_line = self._line_of(order, _loc_of(field_name))
            raise _OrderInvalid([(return_line, self._column_reason(str(exc), field_name))]) from None

    def _line_of(self, order: _Pending, loc: tuple) -> int:
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
    return f"{column_of(loc)}: {err['msg']}{shown}"


def _payments(text: str) -> list[dict[str, str]]:
    payments = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        method, sep, amount = part.partition(":")
        if not sep or not method.strip() or not amount.strip():
            raise RowError(f"payments: {part!r} is not method:amount (e.g. alipay:100.00;balance:20.00)")
        payments.append({"method": method.strip(), "amount": amount.strip()})
    return payments


class _OrderInvalid(Exception):
    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _read_jsonl(file: Path, store: _Store, merchant_code: str, on_progress) -> None:
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
                record = data.to_record()
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


# ---- storing -------------------------------------------------------------------------------------------------

class _ErrorSink:
    """Refused rows: counted, the first MAX_KEPT kept for the caller, all written to --errors-file as CSV."""

    def __init__(self, path: Path | None, result: ImportResult) -> None:
        self.result = result
        try:
            self.handle = open(path, "w", encoding="utf-8", newline="") if path else None  # noqa: SIM115
        except OSError as exc:
            raise UnusableInput(f"--errors-file: cannot write {path}: {exc.strerror}") from None
        self.writer = csv.writer(self.handle) if self.handle else None
        if self.writer:
            self.writer.writerow(["line", "reason", "row"])

    def add(self, line: int, reason: str, raw: Any) -> None:
        text = raw if isinstance(raw, str) else _csv_line(raw)
        if len(self.result.refused) < ImportResult.MAX_KEPT:
            self.result.refused.append(Refused(line, reason, text))
        if self.writer:
            self.writer.writerow([line, reason, text])

    def close(self) -> None:
        if self.handle:
            self.handle.close()


def _csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


class _Store:
    """Collects complete orders and writes them CHUNK_ORDERS at a time, one transaction per chunk."""

    def __init__(self, db: Database, merchant_id: int, result: ImportResult, sink: _ErrorSink) -> None:
        self.db = db
        self.merchant_id = merchant_id
        self.result = result
        self.sink = sink
        self.ready: dict[str, OrderRecord] = {}

    def refuse(self, line: int, reason: str, raw: Any) -> None:
        self.result.bad_rows += 1
        self.sink.add(line, reason, raw)

    def add(self, order: _Pending, finish: Callable[[_Pending], OrderRecord]) -> None:
        errors = order.errors
        if not errors:
            try:
                record = finish(order)
            except _OrderInvalid as exc:
                errors = exc.errors
            except RowError as exc:
                errors = [(order.rows[0][0], str(exc))]
        if errors:
            bad = {}
            for line, reason in errors:
                bad.setdefault(line, reason)
            first = min(bad)
            for line, row in order.rows or ():
                if line in bad:
                    self.refuse(line, bad[line], row)
                else:
                    self.result.skipped_rows += 1
                    self.sink.add(line, f"skipped: order {order.number} has a bad row at line {first} "
                                        f"({bad[first]})", row)
            return
        self.add_record(record)

    def add_record(self, record: OrderRecord) -> None:
        if record.number in self.ready:  # the same order twice (JSON lines): the later one wins
            self.flush()
        self.ready[record.number] = record
        if len(self.ready) >= CHUNK_ORDERS:
            self.flush()

    def flush(self) -> None:
        if not self.ready:
            return
        orders = list(self.ready.values())
        self.ready = {}
        with self.db.transaction() as session:
            numbers = [o.number for o in orders]
            existing = set(session.scalars(select(Order.number).where(
                Order.merchant_id == self.merchant_id, Order.number.in_(numbers))))
            upsert_orders(session, merchant_id=self.merchant_id, orders=orders)
        self.result.orders_updated += len(existing)
        self.result.orders_inserted += len(orders) - len(existing)
        self.result.lines += sum(len(o.lines) for o in orders)


# ---- UCI returns ---------------------------------------------------------------------------------------------

def open_uci_returns(db: Database, merchant_id: int, returns: list[_Return], stats: ReturnStats) -> None:
    """Matches 'C' lines to earlier purchases (most recent first) and opens each match as a completed return case."""
    from ..cases.models import Case, CaseLine
    from ..orders.models import Customer, OrderLine

    invoices = sorted({r.invoice for r in returns})
    customers = sorted({r.customer for r in returns if r.customer})
    with db.read() as session:
        done: set[str] = set()
        for chunk in _chunks(invoices, 1000):
            done.update(session.scalars(select(Case.external_ref).where(
                Case.merchant_id == merchant_id, Case.channel == "import", Case.external_ref.in_(chunk))))
        purchases: dict[tuple[str, str], list[list]] = defaultdict(list)
        for chunk in _chunks(customers, 1000):
            for cust, number, at, line_id, line_no, sku, delivered in session.execute(
                    select(Customer.external_id, Order.number, Order.ordered_at, OrderLine.id, OrderLine.line_no,
                           OrderLine.sku, OrderLine.delivered_quantity)
                    .join(Order, Order.customer_id == Customer.id).join(OrderLine, OrderLine.order_id == Order.id)
                    .where(Customer.merchant_id == merchant_id, Customer.external_id.in_(chunk))):
                purchases[(cust, sku)].append([at, number, line_no, line_id, delivered])
        claimed = dict(session.execute(
            select(CaseLine.order_line_id, func.sum(CaseLine.quantity)).join(Case, Case.id == CaseLine.case_id)
            .where(Case.merchant_id == merchant_id, Case.holds_quantity.is_(True))
            .group_by(CaseLine.order_line_id)).all())
    for items in purchases.values():
        items.sort(key=lambda p: (p[0], p[1], p[2]), reverse=True)  # most recent first
        for p in items:
            p[4] -= claimed.get(p[3], 0)  # what is still returnable

    # (invoice, order number) -> {line_no: [sku, quantity]}; cases open in the order the returns happened.
    cases: dict[tuple[str, str], dict[int, list]] = {}
    when: dict[str, datetime] = {}
    for r in sorted(returns, key=lambda r: (r.at, r.line)):
        earlier = [p for p in purchases.get((r.customer, r.sku), ()) if p[0] < r.at] if r.customer else []
        if earlier:
            stats.with_earlier_purchase += 1
        if r.invoice in done:
            continue
        if r.customer is None:
            stats.unmatched["no customer"] += 1
            continue
        if r.sku in NON_PRODUCT_CODES:
            stats.unmatched["non-product code"] += 1
            continue
        if not earlier:
            stats.unmatched["no earlier purchase"] += 1
            continue
        wanted = r.quantity
        for p in earlier:
            take = min(wanted, p[4])
            if take <= 0:
                continue
            p[4] -= take
            wanted -= take
            lines = cases.setdefault((r.invoice, p[1]), {})
            lines.setdefault(p[2], [r.sku, 0])[1] += take
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
    stats.invoices_already_opened = len(done)

    by_invoice: dict[str, list[tuple[str, dict[int, list]]]] = defaultdict(list)
    for (invoice, number), lines in cases.items():
        by_invoice[invoice].append((number, lines))
    ordered = sorted(by_invoice, key=lambda inv: (when[inv], inv))
    for chunk in _chunks(ordered, CASE_CHUNK):
        with db.transaction() as session:
            merchant = session.get(Merchant, merchant_id)  # held, so the identity map keeps it for open_case
            for invoice in chunk:
                for number, lines in by_invoice[invoice]:
                    _open_completed_return(session, merchant_id, invoice, when[invoice], number, lines)
                    stats.cases_opened += 1
            del merchant


def _open_completed_return(session, merchant_id: int, invoice: str, at: datetime, number: str,
                           lines: dict[int, list]) -> None:
    from ..cases.models import CaseType, Channel
    from ..cases.schemas import CaseCreate, CaseLineCreate
    from ..cases.service import open_case
    from ..cases.workflow import fire

    system = Actor(kind="system", role="system", merchant_id=merchant_id, name="import")
    warehouse = Actor(kind="system", role="warehouse", merchant_id=merchant_id, name="import")
    data = CaseCreate(order=number, type=CaseType.RETURN_REFUND, channel=Channel.IMPORT, external_ref=invoice,
                      description=f"Return invoice {invoice} (imported)", desired_outcome="refund",
                      lines=[CaseLineCreate(line_no=no, sku=sku, quantity=qty)
                             for no, (sku, qty) in sorted(lines.items())])
    case = open_case(session, actor=system, data=data, created_at=at)
    # The return happened on the invoice date: its whole history is dated then, not at import time.
    for action, actor in (("approve", system), ("receive", warehouse), ("inspect", warehouse),
                          ("resolve", system), ("close", system)):
        fire(session, case, action, actor, at=at)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---- presenting ----------------------------------------------------------------------------------------------

class _Progress:
    """A rich progress bar over the file's bytes on a terminal; nothing otherwise."""

    def __init__(self, console: Console, file: Path) -> None:
        self.console = console
        self.total = file.stat().st_size if file.is_file() else 0
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.console.is_terminal:
            return lambda _position: None
        self.bar = Progress(TextColumn("importing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                            TimeRemainingColumn(), console=self.console, transient=True)
        self.bar.start()
        task = self.bar.add_task("import", total=self.total)
        return lambda position: self.bar.update(task, completed=position)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def print_summary(console: Console, result: ImportResult, errors_file: Path | None) -> None:
    """The end-of-import table, the first refused rows, and what the exit code means."""
    table = Table(title=f"import ({result.format})", show_header=False)
    rate = result.rows / result.seconds if result.seconds else 0
    for label_, value in (("rows read", f"{result.rows:,}"), ("orders inserted", f"{result.orders_inserted:,}"),
                          ("orders updated", f"{result.orders_updated:,}"), ("order lines", f"{result.lines:,}"),
                          ("bad rows", f"{result.bad_rows:,}"), ("skipped rows (same order as a bad row)",
                                                                  f"{result.skipped_rows:,}"),
                          ("seconds (orders)", f"{result.seconds:.1f}"), ("rows/s", f"{rate:,.0f}")):
        table.add_row(label_, value)
    r = result.returns
    if r.lines:
        table.add_row("return lines ('C')", f"{r.lines:,} on {r.invoices:,} invoices")
        table.add_row("  matched fully / partly", f"{r.matched:,} / {r.partly_matched:,} "
                                                  f"({r.quantity_matched:,} units)")
        for why, count in sorted(r.unmatched.items()):
            table.add_row(f"  not matched: {why}", f"{count:,}")
        table.add_row("  with an earlier purchase (same customer, StockCode)", f"{r.with_earlier_purchase:,}")
        if r.invoices_already_opened:
            table.add_row("  invoices already opened before", f"{r.invoices_already_opened:,}")
        table.add_row("cases opened", f"{r.cases_opened:,}")
        table.add_row("seconds (cases)", f"{r.seconds:.1f}")
    console.print(table)
    for refused in result.refused[:10]:
        console.print(f"  line {refused.line}: {refused.reason}")
    if result.refused_rows:
        where = f"; all of them are in {errors_file}" if errors_file else "; add --errors-file to list them all"
        console.print(f"[yellow]{result.refused_rows:,} rows were refused[/yellow] ({result.bad_rows:,} bad, "
                      f"{result.skipped_rows:,} skipped with them){where}. Exit code 1.")
    else:
        console.print("[green]every row imported[/green]")
