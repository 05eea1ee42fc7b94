"""The `returnflow` command: serve, migrate, demo, worker, import-orders, import-cases, import-reviews, cases, users, workflow;
the sub-commands of each area (money, merchants, marketplace, audit, outbox, tracking, report) live in their packages."""

from __future__ import annotations

import gc
import os

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
import json
import signal
import threading

from .analytics.cli import register as add_report_command
from .audit.cli import audit_app  # event chain, archives
from .bootstrap import bootstrap
from .config import get_settings
from .db import Database
from .onboarding.cli import merchants_app  # set up a merchant: country, time zone, preset
from .marketplace.cli import marketplace_app  # marketplace after-sales sync
from .logistics.cli import tracking_app  # carrier tracking files, carriers
from .notify.cli import outbox_app  # deliveries waiting, failed or dead; replay
from .refunds.cli import money_app  # refunds, vouchers, reconciliation
from .notify.config import get_delivery_settings
from .refunds.gateways import GatewaySettings
from .schema import migrate as run
from .demo import load
from .doorbell import address as doorbell_of
from .jobs.worker import start_in_background, start_process, Worker, lag as measure
from .importer import run_import
from .importer.history import run_history
from .importer.reviews import run_reviews
from .actor import Actor
from .merchants.clock import zone_of
from .merchants.models import Merchant
from .cases.service import list_cases, get_case
from .cases.views import STATE_LABELS, present
from .errors import NotFound, AppError
from .flow_docs import render_markdown, render_mermaid
from .auth.service import create_user, issue_token
from .auth.models import User

app = typer.Typer(help="returnflow — after-sales service desk (售后 / 退换货 / 退款).", no_args_is_help=True,
                  add_completion=False)
cases_app = typer.Typer(help="Find and read cases.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts and API tokens.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
app.add_typer(users_app, name="users")
app.add_typer(money_app, name="money")
app.add_typer(merchants_app, name="merchants")
app.add_typer(marketplace_app, name="marketplace")
app.add_typer(audit_app, name="audit")
app.add_typer(outbox_app, name="outbox")
app.add_typer(tracking_app, name="tracking")
console = Console()


@app.callback()
def _wired(ctx: typer.Context) -> None:
    """Every command runs with the whole wiring installed (returnflow/bootstrap.py), printing on `console`."""
    bootstrap()
    ctx.obj = console
    # What the command keeps for its whole life (modules, the wiring) leaves the garbage collector's view: a full
    # collection, and the one at exit, no longer walks it (~0.35 s of a short command's ~1.8 s).
    gc.freeze()


def _db() -> Database:
    return Database(get_settings().resolved_database_url())


add_report_command(app, _db)  # `returnflow report NAME ...` (returnflow/analytics/cli.py)


def _check_outbound() -> None:
    """Refuses to start when a configured provider or gateway URL points where outbound calls may not go."""
    problems = {**get_delivery_settings().problems_in("en"),
                **{name: en for name, (en, _zh) in GatewaySettings().problems().items()}}
    for name, why in problems.items():
        console.print(f"[red]{name} {why}[/red]")
    if problems:
        raise typer.Exit(2)


@app.command()
def migrate() -> None:
    """Bring the database (RETURNFLOW_DATABASE_URL, default SQLite under ./data) to the current schema."""
    db = _db()
    run(db)
    console.print(f"[green]schema is current[/green] on {db.dialect}")


@app.command()
def demo() -> None:
    """Load the demo merchants, staff, orders and cases (only into a database that has none)."""
    db = _db()
    run(db)
    result = load(db)
    if result.get("skipped"):
        console.print("demo data is already there")
        return
    console.print(f"[green]demo loaded[/green]: {len(result['cases'])} cases")
    console.print(f"sign in as any of {', '.join(result['users'])} with password [bold]{result['password']}[/bold]")
    console.print(f"an admin API token: [bold]{result['admin_token']}[/bold]")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Address to listen on"),
          port: int = typer.Option(8000, help="Port to listen on"),
          workers: int = typer.Option(1, help="Worker processes (use PostgreSQL for more than one machine)"),
          with_demo: bool = typer.Option(False, "--demo", help="Load the demo data first if the database is empty"),
          log_level: str = typer.Option("info", help="uvicorn log level"),
          forwarded_allow_ips: str = typer.Option(
              "127.0.0.1", envvar="FORWARDED_ALLOW_IPS",
              help="Reverse proxies whose X-Forwarded-For is trusted for the client's address (comma-separated)"),
          worker: bool = typer.Option(True, "--worker/--no-worker",
                                      help="Run the worker (derivation, timers, outbox) beside the API (off: run "
                                           "`returnflow worker`)"),
          ) -> None:
    """Migrate, then serve the API (health at /healthz, OpenAPI at /openapi.json, API under /api/v1)."""
    import uvicorn


    _check_outbound()
    db = _db()
    run(db)
    if with_demo:
        result = load(db)
        if not result.get("skipped"):
            console.print(f"demo loaded; password for demo users: [bold]{result['password']}[/bold]; "
                          f"admin token: [bold]{result['admin_token']}[/bold]")
        # The app (a factory, in uvicorn, perhaps in other processes) reads it from the environment.
        os.environ["RETURNFLOW_DEMO_INBOX"] = "1"
        get_settings.cache_clear()
    db.dispose()
    if worker:
        # A worker process of its own, woken by the API's commits (PostgreSQL: NOTIFY; SQLite: its doorbell). Where
        # SQLite has no doorbell (an in-memory database, not Linux), a thread beside the API that its commits wake.
        if db.dialect == "postgresql" or doorbell_of(db.url) is not None:
            start_process(db.url)
        else:
            start_in_background(db.url)
    console.print(f"returnflow on http://{host}:{port} ({db.dialect})")
    uvicorn.run("returnflow.app:served_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)


@app.command("import-orders")
def import_orders(
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="CSV, JSON lines (.jsonl), optionally .gz; with --mapping also XLSX"),
    merchant: str = typer.Option("demo", help="Merchant code the orders belong to"),
    mapping: str | None = typer.Option(None, help="A mapping file (TOML) or a shipped one: taobao, jd, pinduoduo, "
                                                  "douyin, shopify, uci (see docs/import.md)"),
    encoding: str | None = typer.Option(None, help="With --mapping: auto | utf-8 | gbk | gb18030 (default: the "
                                                   "mapping's, else detected)"),
    lang: str | None = typer.Option(None, help="Language of the messages: en, zh-CN, zh-Hant ... any language of the catalogs (default: from LANG)"),
    fmt: str = typer.Option("auto", "--format", help="auto | csv | jsonl | uci (the UCI Online Retail layout)"),
    create_merchant: bool = typer.Option(False, help="Create the merchant if it does not exist"),
    currency: str = typer.Option("", help="Currency when the file has none (uci: GBP)"),
    country: str = typer.Option("", help="Country (ISO code) of phone numbers without a country code; default: the "
                                         "merchant's, else CN; kept on a merchant this import creates"),
    open_returns: bool = typer.Option(True, help="uci: open the 'C' invoices as return cases"),
    errors_file: Path | None = typer.Option(None, help="Write every refused row here as CSV"),
) -> None:
    """Import orders; re-importing updates them. Bad rows are reported by line number; good rows still import.
    With --mapping, a file the mapping does not fit (a missing column, a date not in its format, an unmapped status,
    a currency the merchant does not use) stops the import before anything is written."""
    db = _db()

    run(db)
    raise typer.Exit(run_import(db, file=file, merchant=merchant, fmt=fmt, create_merchant=create_merchant,
                                currency=currency or None, country=country or None, open_returns=open_returns,
                                errors_file=errors_file, console=console, mapping=mapping, encoding=encoding,
                                lang=lang))


@app.command("import-cases")
def import_cases(
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="Past cases: CSV (one row per case line) or JSON lines (.jsonl, one case each)"),
    merchant: str = typer.Option(..., help="Merchant code the cases belong to (its orders must be imported)"),
    time_zone: str | None = typer.Option(None, help="Zone of times without a UTC offset (default: the merchant's)"),
    encoding: str | None = typer.Option(None, help="CSV: auto | utf-8 | gbk | gb18030"),
    lang: str | None = typer.Option(None, help="Language of the messages: en, zh-CN, zh-Hant ... any language of the catalogs (default: from LANG)"),
    errors_file: Path | None = typer.Option(None, help="Write the problem that stopped the import here as CSV"),
) -> None:
    """Import past cases with their own dates, states, lines, reasons, amounts and events; re-running skips the
    case ids already imported. History never notifies anyone. A bad cell stops it before anything is written."""
    db = _db()
    run(db)
    raise typer.Exit(run_history(db, file=file, merchant=merchant, time_zone=time_zone, encoding=encoding,
                                 lang=lang, errors_file=errors_file, console=console))


@app.command("import-reviews")
def import_reviews(
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="Reviews: CSV or JSON lines (.jsonl) with review_id, order, sku, rating, text, "
                                     "reviewed_at"),
    merchant: str = typer.Option(..., help="Merchant code the reviews belong to"),
    time_zone: str | None = typer.Option(None, help="Zone of times without a UTC offset (default: the merchant's)"),
    encoding: str | None = typer.Option(None, help="CSV: auto | utf-8 | gbk | gb18030"),
    lang: str | None = typer.Option(None, help="Language of the messages: en, zh-CN, zh-Hant ... any language of the catalogs (default: from LANG)"),
) -> None:
    """Import buyers' reviews (rating 1-5, text, date, order, SKU), not tied to a case; re-running updates the same
    reviews. A bad cell stops it before anything is written."""
    db = _db()
    run(db)
    raise typer.Exit(run_reviews(db, file=file, merchant=merchant, time_zone=time_zone, encoding=encoding,
                                 lang=lang, console=console))


def _cli_actor(merchant: str | None):
    if not merchant:
        return Actor(kind="staff", role="platform", name="cli")
    with _db().read() as session:
        m = session.scalar(select(Merchant).where(Merchant.code == merchant))
    if m is None:
        console.print(f"[red]no merchant {merchant}[/red]")
        raise typer.Exit(2)
    return Actor(kind="staff", role="admin", merchant_id=m.id, name="cli")


def _on_clock(at: datetime, zone: ZoneInfo) -> datetime:
    """An instant on the merchant's clock, as every page and export shows it (stored times are UTC)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).astimezone(zone)


@cases_app.command("list")
def cases_list(merchant: str | None = typer.Option(None, help="Only this merchant"),
               state: list[str] = typer.Option([], help="Filter by state (repeatable)"),
               type: str | None = typer.Option(None, help="Filter by type"),
               q: str | None = typer.Option(None, help="Text search: number, order, customer, description"),
               limit: int = typer.Option(50, help="How many")) -> None:
    """List cases, newest first."""
    actor = _cli_actor(merchant)
    with _db().read() as session:
        rows, total = list_cases(session, actor=actor, state=state or None, type=type, q=q, limit=limit)
        table = Table(title=f"{total} cases")
        table.add_column("number", no_wrap=True)
        for col in ("type", "channel", "state", "reason", "lines", "created"):
            table.add_column(col)
        for c in rows:
            table.add_row(c.number, c.type, c.channel, f"{c.state} {STATE_LABELS[c.state]['zh-CN']}",
                          c.reason_code or "", str(sum(line.quantity for line in c.lines)),
                          _on_clock(c.created_at, zone_of(session, c.merchant_id)).strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@cases_app.command("show")
def cases_show(number: str, merchant: str | None = typer.Option(None, help="Merchant code")) -> None:
    """Show one case with its lines and timeline."""
    actor = _cli_actor(merchant)
    with _db().read() as session:
        try:
            case = get_case(session, actor=actor, number=number)
        except NotFound:
            console.print(f"[red]case {number} not found[/red]")
            raise typer.Exit(1) from None
        body = present(session, [case], actor, detail=True)[0]
        zone = zone_of(session, case.merchant_id)
    console.print(f"[bold]{body['number']}[/bold]  {body['type']}  {body['state']} "
                  f"({body['state_label']['zh-CN']} / {body['state_label']['en']})  order {body['order']}  "
                  f"version {body['version']}")
    console.print(f"channel {body['channel']}, reason {body['reason']}, claimed {body['claimed_amount']} "
                  f"{body['currency']}: {body['description']}")
    lines = Table(title="lines")
    for col in ("line", "sku", "title", "qty", "received", "accepted"):
        lines.add_column(col)
    for line in body["lines"]:
        lines.add_row(str(line["line_no"]), line["sku"], line["title"], str(line["quantity"]),
                      str(line["received_quantity"]), str(line["accepted_quantity"]))
    console.print(lines)
    events = Table(title="timeline")
    for col in ("#", "at", "action", "from → to", "by", "payload"):
        events.add_column(col)
    for e in body["timeline"]:
        events.add_row(str(e["seq"]), _on_clock(e["at"], zone).strftime("%Y-%m-%d %H:%M:%S"), e["action"],
                       f"{e['from_state'] or '-'} → {e['to_state']}", e["actor"]["name"] or e["actor"]["id"],
                       str(e["payload"])[:60])
    console.print(events)


@app.command()
def workflow(fmt: str = typer.Option("markdown", "--format", help="markdown | mermaid")) -> None:
    """Print the case workflow and every other record's table (refunds, legs, charges, compensations, balance
    spends, plans, hand-offs, parcels, pickup bookings, parcels at the desk, repair work orders, follow-ups), drawn
    from the real transition tables (for training material and docs/workflow.md)."""
    typer.echo(render_mermaid() if fmt == "mermaid" else render_markdown())


@users_app.command("create")
def users_create(email: str = typer.Option(...), name: str = typer.Option(...),
                 role: str = typer.Option(..., help="agent | warehouse | finance | supervisor | admin | platform"),
                 merchant: str | None = typer.Option(None, help="Merchant code (none for platform)"),
                 password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:
    """Create a staff account."""
    with _db().transaction() as session:
        merchant_id = None
        if merchant:
            merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == merchant))
            if merchant_id is None:
                console.print(f"[red]no merchant {merchant}[/red]")
                raise typer.Exit(2)
        try:
            user = create_user(session, email=email, name=name, role=role, merchant_id=merchant_id, password=password)
        except AppError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        console.print(f"created user {user.id} ({role})")


@users_app.command("token")
def users_token(email: str = typer.Option(...), label: str = typer.Option("integration")) -> None:
    """Issue an API token for an integration (printed once)."""
    with _db().transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            console.print(f"[red]no user {email}[/red]")
            raise typer.Exit(2)
        console.print(issue_token(session, user=user, label=label))


# ---- worker, outbox and SLA (issue 6) ------------------------------------------------------------------------


@app.command("worker")
def worker_cmd(once: bool = typer.Option(False, "--once", help="One round, then exit"),
               lag: bool = typer.Option(False, "--lag",
                                        help="Print the lag (events to derive, due timers, outbox backlog) and exit"),
               report_every: float = typer.Option(30.0, help="Seconds between lag reports while running"),
               timers: bool = typer.Option(True, "--timers/--no-timers", help="Fire due timers"),
               deliveries: bool = typer.Option(True, "--outbox/--no-outbox", help="Deliver outbox messages"),
               derivation: bool = typer.Option(True, "--derive/--no-derive",
                                               help="Derive what new case events set off")) -> None:
    """Derive what case events set off, fire due timers and deliver outbox messages (as many of these processes as
    you like, on PostgreSQL)."""
    db = _db()
    if lag:
        typer.echo(json.dumps(measure(db)))
        return

    _check_outbound()
    run(db)
    w = Worker(db, timers=timers, messages=deliveries, derivation=derivation)
    if once:
        r = w.run_once(timers=timers, messages=deliveries, derivation=derivation)
        typer.echo(json.dumps({"derived": r.derived, "derive_lag_p99": r.derive_lag_p99,
                               "timers_fired": r.timers_fired, "timers_moot": r.timers_moot,
                               "messages": r.messages, "lag": measure(db)}))
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: w.stop.set())
    thread = threading.Thread(target=w.run, name="returnflow-worker")
    thread.start()
    console.print(f"worker {w.name} on {db.dialect}")
    while not w.stop.wait(report_every):
        console.print(f"lag {json.dumps(measure(db))}")
    thread.join()


def _schema_missing(exc: DBAPIError) -> bool:
    """The database has none of returnflow's tables (never migrated): SQLite's "no such table", PostgreSQL's
    undefined_table (42P01)."""
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "42P01"


def main() -> None:
    """The console script: the commands above, and a database that was never migrated said in words with the way on
    (instead of a traceback ending in "no such table")."""
    try:
        app()
    except DBAPIError as exc:
        if not _schema_missing(exc):
            raise
        console.print("[red]This database has no returnflow tables yet.[/red] Run [bold]returnflow migrate[/bold] "
                      "(or [bold]returnflow demo[/bold] for the demo data), then try again.")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
