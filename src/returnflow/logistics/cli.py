"""`returnflow tracking`: feed carrier tracking events from a file (what a polling job fetched), list the carriers."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select as _select

from ..actor import Actor
from ..config import get_settings
from ..db import Database
from ..errors import AppError
from ..merchants.models import Merchant
from .carriers import CARRIERS
from .tracking import ingest

tracking_app = typer.Typer(help="Carrier tracking: feed events fetched by a polling job, list carriers.",
                           no_args_is_help=True)


def _console(ctx: typer.Context) -> Console:
    """The main command's console (one width and colour setting for every subcommand; cli.py hands it down)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Console) else Console()


def _db() -> Database:
    return Database(get_settings().resolved_database_url())


@tracking_app.command("ingest")
def tracking_ingest(ctx: typer.Context, path: Path = typer.Argument(..., exists=True, dir_okay=False,
                                                help="JSON body as the carrier sent it"),
                    fmt: str = typer.Option("generic", "--format", help="generic | aftership | correios"),
                    merchant: str = typer.Option(..., help="Merchant code")) -> None:
    """Stores tracking events from a file (e.g. what a polling job fetched), exactly like the webhook does."""
    console = _console(ctx)
    db = _db()
    try:
        with db.transaction() as session:
            merchant_id = session.scalar(_select(Merchant.id).where(Merchant.code == merchant))
            if merchant_id is None:
                raise typer.BadParameter(f"no merchant {merchant!r}", param_hint="--merchant")
            actor = Actor(kind="system", role="system", merchant_id=merchant_id, name="tracking poller")
            summary = ingest(session, actor=actor, fmt=fmt, body=orjson.loads(path.read_bytes()))
    except AppError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"accepted {summary['accepted']}, duplicates {summary['duplicates']}, "
                  f"unmatched {summary['unmatched']}, unknown to the carrier {len(summary['not_found'])}, "
                  f"cases moved {len(summary['cases_moved'])}")
    for ship in summary["shipments"]:
        console.print(f"  {ship['carrier']} {ship['tracking_number']}: {ship['status']}")


@tracking_app.command("carriers")
def tracking_carriers(ctx: typer.Context) -> None:
    """The carriers the desk knows and an example tracking number of each."""
    console = _console(ctx)
    table = Table("code", "name", "名称", "example", "check digit")
    for c in CARRIERS.values():
        table.add_row(c.code, c.name_en, c.name_zh, c.example, "yes" if c.check else "")
    console.print(table)
