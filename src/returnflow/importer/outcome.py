"""What an import produces and the shapes passed between its readers, store and return matching."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    unmatched_kept: int = 0  # return lines (or their rest) kept as unmatched returns for the reports
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
class ReturnLine:
    """One UCI 'C' line, parsed."""

    line: int
    invoice: str
    sku: str
    quantity: int  # positive: how many came back
    at: datetime
    customer: str | None
    price: int | None = None  # the credit note's own unit price, minor units (None: the file gives none)
    currency: str | None = None  # the price's (None: the merchant's default)


@dataclass
class PendingOrder:
    """An order whose rows are still being read."""

    number: str
    head: dict[str, Any] | None = None
    lines: list = field(default_factory=list)
    rows: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


class OrderInvalid(Exception):
    """An order the API rules refuse: (line, reason) for each problem found."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__(errors)
        self.errors = errors
