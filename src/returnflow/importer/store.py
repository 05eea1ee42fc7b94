"""Storing complete orders in chunks, one transaction each, and recording the refused rows."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..db import Database
from ..merchants.models import Merchant
from ..sheets import row as safe_row
from ..orders.models import Order
from ..orders.records import OrderRecord
from ..orders.service import upsert_orders
from .outcome import ImportResult, OrderInvalid, PendingOrder, Refused, RowError, UnusableInput
from ..onboarding.setup import settle_imported

CHUNK_ORDERS = 2000


class ErrorSink:
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
            self.writer.writerow(safe_row([line, reason, text]))

    def close(self) -> None:
        if self.handle:
            self.handle.close()


def _csv_line(fields: list) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([f if isinstance(f, str) else str(f) for f in fields])
    return out.getvalue()


@dataclass
class NewMerchant:
    """A merchant --create-merchant asks for: created with the first orders written, so a failed import that
    writes no order leaves no merchant behind."""

    code: str
    currency: str
    country: str | None = None

    def create(self, session) -> int:
        merchant = Merchant(code=self.code, name=self.code, default_currency=self.currency, country=self.country)
        session.add(merchant)
        session.flush()
        settle_imported(session, merchant)  # the country's time zone and calendar, as merchant setup writes them
        return merchant.id


class OrderStore:
    """Collects complete orders and writes them CHUNK_ORDERS at a time: one transaction per chunk, or all in the
    caller's `session` (a mapped import: one transaction, rolled back whole if the import stops).

    A chunk's last steps (the statement that writes its lines from their stage, its products) and, in a
    transaction of its own, its commit run on a thread of their own (_Tail) while the file is read on: they take
    the database a second or so per chunk, during which neither SQLite's engine nor a PostgreSQL round trip holds
    the interpreter. The next chunk waits for them, so chunks are written one after the other, in order; `close`
    waits for the last, and whoever stops reading midway waits (`wait`) before going on."""

    def __init__(self, db: Database, merchant_id: int | None, result: ImportResult, sink: ErrorSink,
                 new_merchant: NewMerchant | None = None, session=None) -> None:
        self.db = db
        self.merchant_id = merchant_id
        self.new_merchant = new_merchant
        self.session = session
        self.result = result
        self.sink = sink
        self.ready: dict[str, OrderRecord] = {}
        self.tail: _Tail | None = None

    def refuse(self, line: int, reason: str, raw: Any) -> None:
        self.result.bad_rows += 1
        self.sink.add(line, reason, raw)

    def add(self, order: PendingOrder, finish: Callable[[PendingOrder], OrderRecord]) -> None:
        errors = order.errors
        if not errors:
            try:
                record = finish(order)
            except OrderInvalid as exc:
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
        """Writes the orders collected so far (their last steps may still be under way: `close`)."""
        if not self.ready:
            return
        orders = list(self.ready.values())
        self.ready = {}
        self.wait()
        if self.session is not None:
            later: list[Callable[[], None]] = []
            existing = self._write(self.session, orders, later)
            self.tail = _Tail(partial(self._rest, orders, existing, later))
            return
        chunk = self._chunk(orders)
        next(chunk)  # written up to its last steps; they and the commit go on beside the reading
        self.tail = _Tail(partial(next, chunk, None))

    def wait(self) -> None:
        """Waits for the chunk whose last steps are under way; raises what stopped them."""
        if self.tail is None:
            return
        self.tail.join()  # if interrupted (Ctrl-C), the tail is still there to wait for
        tail, self.tail = self.tail, None
        if tail.error is not None:
            raise tail.error

    def close(self) -> None:
        """Writes what is left and waits until it is written (committed, in a transaction of its own)."""
        self.flush()
        self.wait()

    def _chunk(self, orders: list[OrderRecord]) -> Iterator[None]:
        with self.db.transaction() as session:
            later: list[Callable[[], None]] = []
            existing = self._write(session, orders, later)
            yield
            for step in later:
                step()
        self._stored(orders, existing)

    def _rest(self, orders: list[OrderRecord], existing: set[str], later: list[Callable[[], None]]) -> None:
        for step in later:
            step()
        self._stored(orders, existing)

    def _stored(self, orders: list[OrderRecord], existing: set[str]) -> None:
        self.result.orders_updated += len(existing)
        self.result.orders_inserted += len(orders) - len(existing)
        self.result.lines += sum(len(o.lines) for o in orders)

    def _write(self, session, orders: list[OrderRecord], later: list[Callable[[], None]]) -> set[str]:
        if self.merchant_id is None:
            self.merchant_id = self.new_merchant.create(session)
        numbers = [o.number for o in orders]
        existing = set(session.scalars(select(Order.number).where(
            Order.merchant_id == self.merchant_id, Order.number.in_(numbers))))
        upsert_orders(session, merchant_id=self.merchant_id, orders=orders, later=later)
        return existing


class _Tail(threading.Thread):
    """Runs the rest of a chunk's writing, keeping what stopped it for the reader's thread to raise."""

    def __init__(self, rest: Callable[[], object]) -> None:
        super().__init__(name="order-import-tail", daemon=True)
        self.rest = rest
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.rest()
        except BaseException as exc:  # noqa: BLE001 - raised in the reader's thread (OrderStore.wait)
            self.error = exc
