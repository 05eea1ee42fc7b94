"""`returnflow audit ...`: verify the hash-chained event logs; export a closed case's archive."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from ..config import get_settings
from ..db import Database
from ..actor import Actor
from ..errors import AppError
from ..pages.customer_copy import build as customer_copy
from ..storage import make_store
from .chain import verify as run
from .archive import build as staff_copy

audit_app = typer.Typer(help="Audit: verify the event log chain, export case archives (归档).", no_args_is_help=True)
console = Console()


def _db():
    return Database(get_settings().resolved_database_url())


@audit_app.command("verify")
def verify(case: str | None = typer.Option(None, "--case", help="Only this case number")) -> None:
    """Recompute every case's event hash chain; exits 1 and names each tampered event when anything differs."""
    cases = events = 0
    problems = []
    with _db().read() as session:
        for _number, checked, found in run(session, number=case):
            cases += 1
            events += checked
            problems += found
    for p in problems:
        console.print(f"[red]TAMPERED[/red] case {p.case} event {p.seq if p.seq is not None else '-'}: {p.problem}")
    if case and cases == 0:
        console.print(f"[red]no case {case}[/red]")
        raise typer.Exit(2)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/red] in {cases} case(s), {events} events checked")
        raise typer.Exit(1)
    console.print(f"[green]chain intact[/green]: {cases} case(s), {events} events")


@audit_app.command("archive")
def archive(case: str = typer.Argument(..., help="A closed case's number"),
            out: Path = typer.Option(Path("."), help="Folder to write <case>.zip into"),
            customer: bool = typer.Option(False, "--customer",
                                          help="The customer's copy: only what the customer may see")) -> None:
    """Export a closed case as one archive: PDF summary (zh-CN + en), evidence, events, refunds and vouchers
    (internal items marked); with --customer, the customer's copy instead (<case>-customer.zip)."""
    build = customer_copy if customer else staff_copy

    db = _db()
    try:
        with db.read() as session:
            data = build(session, make_store(get_settings()), actor=Actor(kind="staff", role="platform", name="cli"),
                         number=case)
    except AppError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{case}{'-customer' if customer else ''}.zip"
    target.write_bytes(data)
    console.print(f"wrote {target} ({len(data)} bytes)")
