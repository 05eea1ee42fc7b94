"""`returnflow marketplace ...`: pull a merchant's marketplace requests now, list what needs staff."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from sqlalchemy import select

from ..config import get_settings
from ..db import Database
from ..errors import AppError
from ..i18n import N_, gettext
from ..merchants.models import Merchant
from ..notify.config import get_delivery_settings
from ..i18n import lang_of
from ..schema import migrate
from .sync import pull

marketplace_app = typer.Typer(help="Marketplace after-sales sync (Taobao/Tmall refunds).", no_args_is_help=True)


def _console(ctx: typer.Context) -> Console:
    """The main command's console (cli.py hands it down), else a plain one."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Console) else Console()


@marketplace_app.command("pull")
def pull_cmd(ctx: typer.Context, merchant: str = typer.Option(..., help="Merchant code"),
             platform: str = typer.Option("taobao", help="Platform of the connector"),
             lang: str = typer.Option(None, "--lang", help="Language of the messages (default: from LANG)")) -> None:
    """Pull the platform's new and changed after-sales requests now (the worker also pulls on its schedule)."""
    console = _console(ctx)
    said = lang_of(lang)
    db = Database(get_settings().resolved_database_url())
    migrate(db)
    with db.read() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == merchant))
    if merchant_id is None:
        text = gettext(said, N_("no merchant {merchant}")).format(merchant=merchant)
        console.print(f"[red]{text}[/red]")
        raise typer.Exit(2)
    try:
        result = pull(db, merchant_id, platform, allowed=get_delivery_settings().allowed())
    except AppError as exc:
        console.print(f"[red]{exc.render(said)['message']}[/red]")
        raise typer.Exit(2) from None
    console.print_json(json.dumps(result.as_dict(), ensure_ascii=False))
    if result.error:
        raise typer.Exit(1)
