"""`returnflow outbox`: notifications and webhook deliveries waiting, failed or dead, and sending them again."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ..cases.models import OutboxMessage
from ..config import get_settings
from ..db import Database
from ..merchants.models import Merchant
from .models import DeliveryAttempt
from .outbox import replay

outbox_app = typer.Typer(help="Notifications and webhook deliveries waiting, failed or dead.", no_args_is_help=True)


def _console(ctx: typer.Context) -> Console:
    """The main command's console (one width and colour setting for every subcommand; cli.py hands it down)."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Console) else Console()


def _db() -> Database:
    return Database(get_settings().resolved_database_url())


@outbox_app.command("list")
def outbox_list(ctx: typer.Context, status: str = typer.Option("dead", help="pending | leased | sent | dead"),
                topic: str | None = typer.Option(None, help="notify | webhook | ..."),
                limit: int = typer.Option(50)) -> None:
    """Messages by status, with their last error."""
    console = _console(ctx)
    table = Table(title=f"outbox: {status}")
    for col in ("id", "topic", "attempts", "available", "last error"):
        table.add_column(col)
    with _db().read() as session:
        stmt = select(OutboxMessage).where(OutboxMessage.status == status)
        if topic:
            stmt = stmt.where(OutboxMessage.topic == topic)
        for m in session.scalars(stmt.order_by(OutboxMessage.id).limit(limit)):
            last = session.scalar(select(DeliveryAttempt.error).where(DeliveryAttempt.outbox_id == m.id)
                                  .order_by(DeliveryAttempt.id.desc()).limit(1))
            table.add_row(str(m.id), m.topic, str(m.attempts), m.available_at.isoformat(), (last or "")[:80])
    console.print(table)


@outbox_app.command("replay")
def outbox_replay(ctx: typer.Context, ids: list[int] = typer.Argument(None, help="Message ids (dead or sent) to send again"),
                  dead: bool = typer.Option(False, "--dead", help="Every dead message"),
                  merchant: str | None = typer.Option(None, help="Only this merchant's (with --dead)")) -> None:
    """Queue dead-lettered (or sent) webhook deliveries and notifications again."""
    console = _console(ctx)

    if not ids and not dead:
        console.print("[red]name message ids, or pass --dead[/red]")
        raise typer.Exit(2)
    merchant_id = None
    if merchant:
        with _db().read() as session:
            merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == merchant))
        if merchant_id is None:
            console.print(f"[red]no merchant {merchant}[/red]")
            raise typer.Exit(2)
    console.print(f"replayed {replay(_db(), ids=ids or None, dead=dead, merchant_id=merchant_id)}")
