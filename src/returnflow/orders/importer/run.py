"""The import run: format and merchant checks, reading, storing, then the UCI returns; timed for the summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from phonenumbers import SUPPORTED_REGIONS
from rich.console import Console
from sqlalchemy import select

from ...db import Database
from ...merchants.models import Merchant
from ...money import is_currency
from ..contacts import region_of
from .formats import detect_format, read_jsonl, read_rows
from .outcome import ImportResult, ReturnLine, UnusableInput
from .returns import open_uci_returns
from .store import ErrorSink, OrderStore
from .summary import ImportProgress, print_summary


def run_import(db: Database, *, file: Path, merchant: str, fmt: str = "auto", create_merchant: bool = False,
               currency: str | None = None, country: str | None = None, open_returns: bool = True,
               errors_file: Path | None = None, console: Console | None = None) -> int:
    """The `import-orders` command: imports, prints the summary and returns the exit code (0, 1 or 2)."""
    console = console or Console()
    try:
        fmt = detect_format(file, fmt)
        merchant_id = ensure_merchant(db, merchant, create=create_merchant,
                                      currency=currency or ("GBP" if fmt == "uci" else None), country=country)
        with ImportProgress(console, file) as progress:
            result = import_file(db, file=file, merchant_id=merchant_id, fmt=fmt, currency=currency,
                                 country=country, open_returns=open_returns, errors_file=errors_file,
                                 on_progress=progress.file_read, on_cases=progress.cases_opened)
    except UnusableInput as exc:
        console.print(f"[red]cannot import {file}:[/red] {exc}")
        return 2
    print_summary(console, result, errors_file)
    return result.exit_code


def import_file(db: Database, *, file: Path, merchant_id: int, fmt: str = "auto", currency: str | None = None,
                country: str | None = None, open_returns: bool = True, errors_file: Path | None = None,
                on_progress: Callable[[int], None] | None = None,
                on_cases: Callable[[int, int | None], None] | None = None) -> ImportResult:
    """Imports `file` into the merchant; raises UnusableInput when nothing can be read.

    `on_progress` gets the bytes read so far; `on_cases` the return cases opened so far and how many there are.
    """
    fmt = detect_format(file, fmt)
    if currency is not None and not is_currency(currency.upper()):
        raise UnusableInput(f"--currency: unknown currency {currency!r}")
    _check_country(country)
    with db.read() as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None:
            raise UnusableInput(f"no merchant with id {merchant_id}")
        default_currency = (currency or ("GBP" if fmt == "uci" else merchant.default_currency)).upper()
        merchant_code = merchant.code
        region = country.upper() if country else region_of(merchant)
    result = ImportResult(format=fmt)
    started = time.perf_counter()
    sink = ErrorSink(errors_file, result)
    try:
        store = OrderStore(db, merchant_id, result, sink)
        returns: list[ReturnLine] = []
        if fmt == "jsonl":
            read_jsonl(file, store, merchant_code, on_progress, region)
        else:
            read_rows(file, fmt, store, default_currency, returns, on_progress, region)
        store.flush()
        result.seconds = time.perf_counter() - started
        if fmt == "uci":
            result.returns.lines = len(returns)
            result.returns.invoices = len({r.invoice for r in returns})
            if open_returns and returns:
                t0 = time.perf_counter()
                open_uci_returns(db, merchant_id, returns, result.returns, on_progress=on_cases)
                result.returns.seconds = time.perf_counter() - t0
    finally:
        sink.close()
    return result


def _check_country(country: str | None) -> None:
    if country is not None and country.upper() not in SUPPORTED_REGIONS:
        raise UnusableInput(f"--country: {country!r} is not a country code such as CN or GB")


def ensure_merchant(db: Database, code: str, *, create: bool, currency: str | None, country: str | None = None) -> int:
    """The merchant's id; creates it with --create-merchant, otherwise an unknown code is unusable input."""
    _check_country(country)
    with db.transaction() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == code))
        if merchant_id is not None:
            return merchant_id
        if not create:
            raise UnusableInput(f"--merchant: no merchant {code!r} (add --create-merchant to create it)")
        merchant = Merchant(code=code, name=code, default_currency=(currency or "CNY").upper(),
                            country=country.upper() if country else None)
        session.add(merchant)
        session.flush()
        return merchant.id
