"""The import run: format and merchant checks, reading, storing, then the UCI returns; timed for the summary.

A merchant that --create-merchant asks for is created with the first orders written (store.NewMerchant): an
import that writes nothing leaves nothing behind. A mapped import (--mapping) runs in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from zoneinfo import ZoneInfo

from phonenumbers import SUPPORTED_REGIONS
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select

from ..db import Database
from ..merchants.models import Merchant
from ..money import is_currency
from ..orders.contacts import DEFAULT_REGION, region_of
from .formats import detect_format, read_jsonl, read_rows
from ..i18n import lang_of
from .messages import Problem, say
from .outcome import ImportResult, ReturnLine, UnusableInput
from .returns import open_uci_returns
from .store import ErrorSink, NewMerchant, OrderStore
from .summary import ImportProgress, print_summary
from ..merchants.clock import zone_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


def run_import(db: Database, *, file: Path, merchant: str, fmt: str = "auto", create_merchant: bool = False,
               currency: str | None = None, country: str | None = None, open_returns: bool = True,
               errors_file: Path | None = None, console: Console | None = None, mapping: str | None = None,
               encoding: str | None = None, lang: str | None = None) -> int:
    """The `import-orders` command: imports, prints the summary and returns the exit code (0, 1 or 2)."""
    console = console or Console()
    lang = lang_of(lang)
    try:
        if mapping is not None:
            from .mapping import load

            chosen = load(mapping)
            target = resolve_merchant(db, merchant, create=create_merchant,
                                      currency=currency or chosen.currency, country=country)
            fmt = f"mapping {chosen.name}"
        else:
            fmt = detect_format(file, fmt)
            target = resolve_merchant(db, merchant, create=create_merchant,
                                      currency=currency or ("GBP" if fmt == "uci" else None), country=country)
        with ImportProgress(console, file) as progress:
            if mapping is not None:
                result = import_mapped(db, file=file, mapping=chosen, merchant=target, encoding=encoding,
                                       open_returns=open_returns, errors_file=errors_file, lang=lang,
                                       on_cases=progress.cases_opened, console=console)
            else:
                result = import_file(db, file=file, merchant_id=target if isinstance(target, int) else None,
                                     new_merchant=target if isinstance(target, NewMerchant) else None, fmt=fmt,
                                     currency=currency, country=country, open_returns=open_returns,
                                     errors_file=errors_file, on_progress=progress.file_read,
                                     on_cases=progress.cases_opened)
    except Problem as exc:
        console.print(f"[red]{escape(str(file))}:[/red] {escape(exc.text(lang))}", highlight=False)
        console.print(say("stopped", lang), highlight=False)
        return 2
    except UnusableInput as exc:
        console.print(f"[red]cannot import {file}:[/red] {exc}")
        return 2
    print_summary(console, result, errors_file)
    return result.exit_code


def import_file(db: Database, *, file: Path, merchant_id: int | None, fmt: str = "auto", currency: str | None = None,
                country: str | None = None, open_returns: bool = True, errors_file: Path | None = None,
                on_progress: Callable[[int], None] | None = None,
                on_cases: Callable[[int, int | None], None] | None = None,
                new_merchant: NewMerchant | None = None) -> ImportResult:
    """Imports `file` into the merchant (or the `new_merchant`, created with the first orders written); raises
    UnusableInput when nothing can be read.

    `on_progress` gets the bytes read so far; `on_cases` the return cases opened so far and how many there are.
    """
    fmt = detect_format(file, fmt)
    if currency is not None and not is_currency(currency.upper()):
        raise UnusableInput(f"--currency: unknown currency {currency!r}")
    _check_country(country)
    if new_merchant is not None:
        default_currency = (currency or new_merchant.currency).upper()
        merchant_code = new_merchant.code
        region = (country or new_merchant.country or DEFAULT_REGION).upper()
    else:
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
        store = OrderStore(db, merchant_id, result, sink, new_merchant=new_merchant)
        returns: list[ReturnLine] = []
        try:
            if fmt == "jsonl":
                read_jsonl(file, store, merchant_code, on_progress, region)
            else:
                read_rows(file, fmt, store, default_currency, returns, on_progress, region)
        except BaseException:
            with suppress(Exception):  # the reading's error is the one to tell; the chunk before it still commits
                store.wait()
            raise
        store.close()
        result.seconds = time.perf_counter() - started
        if fmt == "uci":
            _open_returns(db, store.merchant_id, returns, result, open_returns, on_cases)
    finally:
        sink.close()
    refresh_statistics(db)
    return result


def import_mapped(db: Database, *, file: Path, mapping, merchant: int | NewMerchant, encoding: str | None = None,
                  open_returns: bool = True, errors_file: Path | None = None, lang: str = "en",
                  on_cases: Callable[[int, int | None], None] | None = None,
                  console: Console | None = None) -> ImportResult:
    """Imports `file` read through `mapping` in one transaction; a Problem stops it and nothing is written.

    The problem is also the one line of --errors-file then."""
    from .mapped import open_rows, read_mapped

    read_as, _ = open_rows(file, mapping, encoding)  # checks the encoding before anything else
    result = ImportResult(format=f"mapping {mapping.name}")
    sink = ErrorSink(errors_file, result)
    started = time.perf_counter()
    returns: list[ReturnLine] = []
    try:
        with db.transaction() as session:
            target = _target(session, merchant, mapping)
            if console is not None:
                console.print(escape(say("read_as", lang, encoding=read_as, layout=mapping.name,
                                             zone=target.zone.key)), highlight=False)
            store = OrderStore(db, merchant if isinstance(merchant, int) else None, result, sink,
                               new_merchant=merchant if isinstance(merchant, NewMerchant) else None, session=session)
            try:
                read_mapped(lambda: open_rows(file, mapping, encoding)[1], mapping, target, store, returns)
            except BaseException:
                with suppress(Exception):  # the transaction rolls back once nothing writes in it any more
                    store.wait()
                raise
            store.close()
    except Problem as exc:
        if sink.writer:
            sink.writer.writerow([exc.row or "", exc.text(lang), ""])
        raise
    finally:
        sink.close()
    result.seconds = time.perf_counter() - started
    if returns and store.merchant_id is not None:
        _open_returns(db, store.merchant_id, returns, result, open_returns, on_cases)
    refresh_statistics(db)
    return result


STATISTICS = ("orders", "order_lines", "customers", "cases", "case_lines", "return_credits", "unmatched_returns")


def refresh_statistics(db: Database) -> None:
    """On PostgreSQL, brings the planner's statistics up to date after a bulk import.

    Until autovacuum gets to it, freshly filled tables look empty to the planner; the reports' joins over the
    period's orders and their returns are then planned as loops over "one row" and run for minutes instead of
    seconds on a file like UCI's (measured). A few milliseconds on small tables."""
    with db.transaction() as session:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE " + ", ".join(STATISTICS))


def _target(session, merchant: int | NewMerchant, mapping):
    from .mapped import Target

    if isinstance(merchant, NewMerchant):
        currency = (mapping.currency or merchant.currency).upper()
        return Target(merchant.code, currency, frozenset({currency}), mapping.time_zone or SHANGHAI,
                      (merchant.country or DEFAULT_REGION).upper())
    row = session.get(Merchant, merchant)
    currencies = {row.default_currency.upper()}
    extra = (row.settings or {}).get("currencies") if isinstance(row.settings, dict) else None
    currencies.update(str(c).upper() for c in extra or ())

    return Target(row.code, (mapping.currency or row.default_currency).upper(), frozenset(currencies),
                  mapping.time_zone or zone_of(session, merchant), region_of(row))


def _open_returns(db, merchant_id, returns, result, open_returns, on_cases) -> None:
    result.returns.lines = len(returns)
    result.returns.invoices = len({r.invoice for r in returns})
    if open_returns and returns and merchant_id is not None:
        t0 = time.perf_counter()
        open_uci_returns(db, merchant_id, returns, result.returns, on_progress=on_cases)
        result.returns.seconds = time.perf_counter() - t0


def _check_country(country: str | None) -> None:
    if country is not None and country.upper() not in SUPPORTED_REGIONS:
        raise UnusableInput(f"--country: {country!r} is not a country code such as CN or GB")


def resolve_merchant(db: Database, code: str, *, create: bool, currency: str | None,
                     country: str | None = None) -> int | NewMerchant:
    """The merchant's id, or with --create-merchant the NewMerchant to create once something is written."""
    _check_country(country)
    if currency is not None and not is_currency(currency.upper()):
        raise UnusableInput(f"--currency: unknown currency {currency!r}")
    with db.read() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == code))
    if merchant_id is not None:
        return merchant_id
    if not create:
        raise Problem("no_merchant", value=code)
    return NewMerchant(code, (currency or "CNY").upper(), country.upper() if country else None)


def ensure_merchant(db: Database, code: str, *, create: bool, currency: str | None, country: str | None = None) -> int:
    """The merchant's id, created at once if asked (callers that write regardless, such as tests and benches)."""
    found = resolve_merchant(db, code, create=create, currency=currency, country=country)
    if isinstance(found, int):
        return found
    with db.transaction() as session:
        return found.create(session)
