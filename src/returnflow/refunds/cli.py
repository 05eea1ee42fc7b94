"""`returnflow money ...`: recover refunds without an outcome, export vouchers, reconcile a period."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console
from ..config import get_settings
from ..db import Database
from sqlalchemy import select
from ..actor import Actor
from ..merchants.models import Merchant
from ..errors import AppError
from .gateways import GatewaySettings
from .settle import sync as run
from .reports import vouchers as listing, vouchers_csv, reconciliation

money_app = typer.Typer(help="Refunds, finance vouchers and reconciliation.", no_args_is_help=True)
console = Console()


def _db():
    return Database(get_settings().resolved_database_url())


def _finance(db, merchant: str):
    with db.read() as session:
        found = session.scalar(select(Merchant.id).where(Merchant.code == merchant))
    if found is None:
        console.print(f"[red]no merchant {merchant}[/red]")
        raise typer.Exit(2)
    return Actor(kind="staff", role="finance", merchant_id=found, name="cli")


@money_app.command("sync")
def sync(older_than: int = typer.Option(300, help="Only payments sent at least this many seconds ago")) -> None:
    """Ask the HTTP gateway about refund payments sent without an outcome (lost answers, webhooks, crashes)."""
    counts = run(_db(), GatewaySettings(), older_than=timedelta(seconds=older_than))
    console.print(counts)


@money_app.command("vouchers")
def vouchers(merchant: str = typer.Option(..., help="Merchant code"),
             period: str = typer.Option(..., help="YYYY-MM"),
             out: Path | None = typer.Option(None, help="Write the CSV here (default: standard output)")) -> None:
    """Export a period's finance vouchers (财务凭证) as CSV, one row per line."""
    db = _db()
    try:
        with db.read() as session:
            text = vouchers_csv(listing(session, actor=_finance(db, merchant), period=period))
    except AppError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if out is None:
        typer.echo(text.lstrip("\ufeff"), nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")


@money_app.command("reconcile")
def reconcile(merchant: str = typer.Option(..., help="Merchant code"),
              period: str = typer.Option(..., help="YYYY-MM")) -> None:
    """Gateway confirmations against settlement vouchers; exits 1 when anything does not match."""
    db = _db()
    with db.read() as session:
        report = reconciliation(session, actor=_finance(db, merchant), period=period)
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    raise typer.Exit(1 if report["mismatches"] else 0)
