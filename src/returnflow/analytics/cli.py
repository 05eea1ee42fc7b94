"""`returnflow report NAME ...`: the same figures as the API, as a table, JSON, CSV or XLSX."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from ..errors import AppError
from .report import words
from ..actor import Actor
from . import REPORTS, export, returned, sold
from .api import with_links
from .filters import parse
from .sql import prepare
from .rollup import differences, rebuild as rebuild_steps
from .export import table

OUTPUTS = ("table", "json", "csv", "xlsx")


def register(app: typer.Typer, make_db) -> None:
    """Adds the `report` command to the returnflow CLI."""

    @app.command("report")
    def report(
        name: str = typer.Argument(..., help="Report name, or 'list' to see them all"),
        merchant: str = typer.Option("", help="Merchant code (default: every merchant)"),
        start: str = typer.Option("", "--from", help="First day, e.g. 2011-01-01 (default: 90 days ago)"),
        end: str = typer.Option("", "--to", help="Last day, inclusive (default: today)"),
        by: str = typer.Option("", help="Grouping: sku, category, supplier, country, channel, period"),
        granularity: str = typer.Option("", help="auto, day, week or month"),
        limit: str = typer.Option("", help="Rows to show (1-10000, default 50)"),
        category: str = typer.Option("", help="Only this category"),
        sku: str = typer.Option("", help="Only this SKU"),
        supplier: str = typer.Option("", help="Only this supplier"),
        country: str = typer.Option("", help="Only this country/region"),
        channel: str = typer.Option("", help="Only this sales channel"),
        reason: str = typer.Option("", help="Only returns with this reason"),
        output: str = typer.Option("table", "--format", help="table, json, csv or xlsx"),
        out: Path | None = typer.Option(None, help="Write to this file (needed for xlsx)"),
        lang: str = typer.Option("en", help="en or zh-CN for labels"),
    ) -> None:
        """Return rates, trends, top returns, reasons, hot spots, suppliers, step times, backlog, customers."""
        console = Console()
        name = name.replace("-", "_")
        if name == "list":
            for d in REPORTS.values():
                console.print(f"{d.name:22} {words(d.title, lang)}")
            return
        if name in ("rollup_check", "rollup_rebuild"):
            _rollup(console, make_db, name == "rollup_rebuild")
            return
        if name not in REPORTS:
            console.print(f"[red]report: {name!r} is not a report; known: {', '.join(REPORTS)}[/red]")
            raise typer.Exit(2)
        if output not in OUTPUTS or (output == "xlsx" and out is None):
            console.print(f"[red]--format: {output!r}; allowed: {', '.join(OUTPUTS)} (xlsx needs --out)[/red]")
            raise typer.Exit(2)
        params = {"merchant": merchant, "from": start, "to": end, "by": by, "granularity": granularity,
                  "limit": limit, "category": category, "sku": sku, "supplier": supplier, "country": country,
                  "channel": channel, "reason": reason}
        actor = Actor(kind="staff", role="platform", name="cli")
        db = make_db()
        try:
            with db.read() as session:
                prepare(session)
                filters = parse(session, actor, {k: v for k, v in params.items() if v})
                result = REPORTS[name].run(session, filters)
        except AppError as exc:
            console.print(f"[red]{exc.render(lang)['message']}[/red]")
            raise typer.Exit(2) from None
        finally:
            db.dispose()
        if output == "json":
            data = orjson.dumps(with_links(result, filters), option=orjson.OPT_INDENT_2, default=str)
        elif output == "csv":
            data = export.to_csv(result, lang)
        elif output == "xlsx":
            data = export.to_xlsx(result, filters, lang)
        else:
            _table(console, result, filters, lang)
            return
        if out is not None:
            out.write_bytes(data)
            console.print(f"wrote {out} ({len(result.rows)} rows, {result.status})")
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()


def _rollup(console: Console, make_db, rebuild: bool) -> None:
    """`report rollup-check`: compares the step summary with the events, the returned-lines summary with the
    cases, orders and refunds and the sold-lines summary with the orders (exit 1 on a difference); `report
    rollup-rebuild`: recomputes all three."""
    db = make_db()
    try:
        if rebuild:
            with db.transaction() as session:
                console.print(f"rebuilt the step summary: {rebuild_steps(session):,} cases")
                console.print(f"rebuilt the returned-lines summary: {returned.rebuild(session):,} lines")
                console.print(f"rebuilt the sold-lines summary: {sold.rebuild(session):,} lines")
            return
        with db.read() as session:
            wrong = differences(session)
            wrong_lines = returned.differences(session)
            wrong_sold = sold.differences(session)
    finally:
        db.dispose()
    if wrong:
        console.print(f"[red]{len(wrong):,} cases differ from their events, e.g. case ids {wrong[:10]}; "
                      "run `returnflow report rollup-rebuild`[/red]")
    if wrong_lines:
        console.print(f"[red]{len(wrong_lines):,} cases differ in the returned-lines summary, e.g. case ids "
                      f"{wrong_lines[:10]}; run `returnflow report rollup-rebuild`[/red]")
    if wrong_sold:
        console.print(f"[red]{len(wrong_sold):,} orders differ in the sold-lines summary, e.g. order ids "
                      f"{wrong_sold[:10]}; run `returnflow report rollup-rebuild`[/red]")
    if wrong or wrong_lines or wrong_sold:
        raise typer.Exit(1)
    console.print("the step summary equals the events")
    console.print("the returned-lines summary equals the cases, orders and refunds")
    console.print("the sold-lines summary equals the orders")


def _table(console: Console, result, filters, lang: str) -> None:
    header, rows = table(result, lang)
    title = words(result.title, lang, result.title_params)
    grid = Table(title=f"{title} · {filters.first_day} – {filters.last_day}")
    for name in header:
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(*[str(v) for v in row])
    console.print(grid)
    if result.note:
        console.print(words(result.note, lang))
