#!/usr/bin/env python
"""Analytics speed on a generated history of 1,000,000 cases and ~5,000,000 events, on SQLite and PostgreSQL.

    .venv/bin/python bench/analytics.py [--cases N] [--runs N] [--fresh] [--only sqlite|postgres]

The history comes from bench/analytics_data.py. Generating it takes minutes, so it is made once and kept: SQLite
in <tmp>/returnflow-bench/analytics-<N>-v1.sqlite, PostgreSQL as the database rf_bench_analytics_<N>_v1 on
127.0.0.1:5432; later runs reuse them (--fresh makes them again). Then, through the HTTP API as a merchant's
admin (one merchant = 1/10 of the history) over the history's last 90 days (what the default filters show on the
day it was made; named as from/to, so a kept history reads the same rows on any later day; only the backlog's ages
and the SLA's "overdue now" are as of the moment they run, as in the product), it measures the dashboard (JSON and
the staff console's HTML page, signed in with the same token as its cookie) and every report (the money, SLA and
satisfaction ones included), --runs times each after one warm-up, and prints p50/p95 in ms; the platform's
all-merchant dashboard is measured too: computed now (`fresh=1`, as the worker computes its snapshot every few
minutes while someone looks) and as its readers get it, from the snapshot (analytics/snapshots.py). A kept history
is brought to the newest schema first, and gets the refunds, deadlines, surveys and follow-ups of
bench/analytics_data.py's add_outcomes if it lacks them, and its step, returned-lines and sold-lines summaries if
it has none. Target: dashboard p95 under 500 ms on both databases, a merchant's and the platform's.
"cpu ms" is this process's CPU time per request (median): on SQLite that is all the work, so it shows what an
idle machine would take when the box is shared; on PostgreSQL the server's work is not in it.
The last line is the headline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from sqlalchemy import func, select, text

from analytics_data import add_outcomes, generate
from returnflow.config import Settings
from returnflow.db import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 500
REPORTS = ("return_rate", "trend", "top_returns", "hotspots", "suppliers", "reasons", "reasons_by",
           "processing_times", "processing_agents", "processing_warehouse", "backlog", "customers", "money", "sla",
           "satisfaction")


def _pg_url(cases: int, fresh: bool) -> tuple[str, bool]:
    name = f"rf_bench_analytics_{cases}_v1"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", exists


def _sqlite_url(cases: int, fresh: bool) -> tuple[str, bool]:
    path = Path(tempfile.gettempdir()) / "returnflow-bench" / f"analytics-{cases}-v1.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        for extra in ("", "-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
    return f"sqlite:///{path}", path.exists()


def _complete(url: str, cases: int) -> bool:
    from returnflow.cases.models import Case

    db = Database(url)
    try:
        with db.read() as session:
            return (session.scalar(select(func.count()).select_from(Case)) or 0) == cases
    except Exception:  # noqa: BLE001 - a half-made cache is remade
        return False
    finally:
        db.dispose()


def _upgrade(url: str) -> None:
    from returnflow.schema import migrate

    db = Database(url)
    try:
        t = time.perf_counter()
        migrate(db)
        if time.perf_counter() - t > 1:
            # New tables and indexes on a bulk-loaded history: vacuumed and analysed as autovacuum would.
            if db.dialect == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            print(f"migrated the kept history to the newest schema in {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        db.dispose()


def _has_outcomes(url: str) -> bool:
    import returnflow.models  # noqa: F401 - every table, so the foreign keys resolve
    from returnflow.refunds.models import Refund

    db = Database(url)
    try:
        with db.read() as session:
            return session.scalar(select(Refund.id).limit(1)) is not None
    finally:
        db.dispose()


def _analyze(db: Database, table: str) -> None:
    """A table filled in bulk: vacuumed (PostgreSQL) and analysed, as autovacuum would, so the planner sees it."""
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {table}")


def _fill_steps(url: str) -> None:
    """A history generated in bulk has events but no step summary (migration 0013 filled it only for histories
    that existed before it): built here once, as `returnflow report rollup-rebuild` would, so the step-time
    report reads real rows."""
    import returnflow.models  # noqa: F401 - every table, so the foreign keys resolve
    from returnflow.analytics.rollup import STEPS_TABLE, rebuild

    db = Database(url)
    try:
        with db.read() as session:
            if session.scalar(select(STEPS_TABLE.c.case_id).limit(1)) is not None:
                return
        t = time.perf_counter()
        with db.transaction() as session:
            rows = rebuild(session)
        _analyze(db, "analytics_case_steps")
        print(f"filled the step summary ({rows:,} cases) from the events in {time.perf_counter() - t:.0f} s",
              flush=True)
    finally:
        db.dispose()


def _fill_summary(url: str, table: str, migration: str, what: str) -> None:
    """A line summary of a history generated in bulk (after `migration`, which filled it for what existed then):
    filled here once with the migration's own statement, as the product would have kept it."""
    from importlib import import_module

    import returnflow.models  # noqa: F401 - every table, so the foreign keys resolve
    from returnflow.db import Base

    lines = Base.metadata.tables[table]
    db = Database(url)
    try:
        with db.read() as session:
            if session.scalar(select(func.count()).select_from(select(lines).limit(1).subquery())):
                return
        t = time.perf_counter()
        with db.transaction() as session:
            session.execute(text(import_module(f"returnflow.migrations.versions.{migration}").FILL))
            rows = session.scalar(select(func.count()).select_from(lines))
        _analyze(db, table)
        print(f"filled the {what} summary ({rows:,} lines) in {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        db.dispose()


def _fill_returned(url: str) -> None:
    """The returned-lines summary (migration 0024), as the derivation step would have kept it."""
    _fill_summary(url, "analytics_returned_lines", "0024_returned_lines", "returned-lines")


def _fill_sold(url: str) -> None:
    """The sold-lines summary (migration 0027), as upsert_orders would have kept it."""
    _fill_summary(url, "analytics_sold_lines", "0027_sold_lines", "sold-lines")


def _window(db: Database) -> tuple[dict[str, str], str]:
    """The period every request asks for: the 90 days ending on the kept history's last order day (merchant-local,
    Asia/Shanghai), i.e. what the default filters show on the day the history was made. Named explicitly so the
    bench measures the same rows whatever day it runs on (a history kept for a month would otherwise leave the
    default "last 90 days" a third empty). Also the start of the 365-day report."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from returnflow.orders.models import Order

    with db.read() as session:
        last = session.scalar(select(func.max(Order.ordered_at)))
    if isinstance(last, str):
        last = datetime.fromisoformat(last)
    if last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    day = last.astimezone(ZoneInfo("Asia/Shanghai")).date()
    return {"from": (day - timedelta(days=89)).isoformat(), "to": day.isoformat()}, (day - timedelta(days=364)).isoformat()


def _tokens(db: Database) -> tuple[str, str]:
    from returnflow.auth.models import User
    from returnflow.auth.service import create_user, issue_token

    with db.transaction() as session:
        tokens = []
        for email, role, merchant in (("bench-admin@m1", "admin", 1), ("bench-platform@x", "platform", None)):
            user = session.scalar(select(User).where(User.email == email)) or create_user(
                session, email=email, name=email, role=role, merchant_id=merchant, password=None)
            tokens.append(issue_token(session, user=user, label="bench"))
    return tokens[0], tokens[1]


def _time(client, path: str, token: str, runs: int, *, console: bool = False, **params
          ) -> tuple[float, float, float, int]:
    # The API takes the bearer token; the console's pages take the same token as their sign-in cookie.
    headers = {"Cookie": f"rf_staff={token}"} if console else {"Authorization": f"Bearer {token}"}
    answer = client.get(path, headers=headers, params=params)  # warm-up (and a check that it answers)
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    samples, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        client.get(path, headers=headers, params=params)
        samples.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, -(-95 * len(samples) // 100) - 1)]
    return statistics.median(samples), p95, statistics.median(cpu), len(answer.content)


def bench(backend: str, cases: int, runs: int, fresh: bool) -> tuple[tuple[float, float], ...]:
    from fastapi.testclient import TestClient

    from returnflow.app import create_app

    url, exists = _pg_url(cases, fresh) if backend == "postgres" else _sqlite_url(cases, fresh)
    if not (exists and _complete(url, cases)):
        if exists:
            url, _ = _pg_url(cases, True) if backend == "postgres" else _sqlite_url(cases, True)
        print(f"{backend}: generating {cases:,} cases (kept for later runs) ...", flush=True)
        t = time.perf_counter()
        counts = generate(url, cases=cases, log=lambda m: print(m, flush=True))
        print(f"{backend}: generated {counts['cases']:,} cases, {counts['case_events']:,} events, "
              f"{counts['orders']:,} orders in {time.perf_counter() - t:.0f} s", flush=True)
    else:
        print(f"{backend}: reusing the generated history ({cases:,} cases)", flush=True)
    _upgrade(url)  # a history kept from an earlier run gets the indexes of newer migrations
    if not _has_outcomes(url):
        print(f"{backend}: adding refunds, deadlines, surveys and follow-ups (kept for later runs) ...", flush=True)
        t = time.perf_counter()
        counts = add_outcomes(url, log=lambda m: print(m, flush=True))
        print(f"{backend}: added {', '.join(f'{v:,} {k}' for k, v in counts.items())} in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
    _fill_steps(url)
    _fill_returned(url)
    _fill_sold(url)
    db = Database(url)
    merchant, platform = _tokens(db)
    period, year_from = _window(db)
    print(f"{backend}: the period measured: {period['from']} .. {period['to']} (the history's last 90 days)",
          flush=True)
    with TestClient(create_app(Settings(database_url=url, data_dir=Path(tempfile.mkdtemp())), db=db)) as client:
        rows = []
        dash = _time(client, "/api/v1/analytics/dashboard", merchant, runs, **period)
        rows.append(("dashboard (JSON, one merchant, 90 days)", dash))
        rows.append(("dashboard page (HTML, staff console)", _time(client, "/staff/analytics", merchant, runs,
                                                                   console=True, **period)))
        for name in REPORTS:
            params = {"by": "country"} if name == "return_rate" else {}
            rows.append((f"report {name}", _time(client, f"/api/v1/analytics/reports/{name}", merchant, runs,
                                                 **period, **params)))
        rows.append(("report return_rate by sku, 365 days",
                     _time(client, "/api/v1/analytics/reports/return_rate", merchant, max(runs // 3, 3),
                           by="sku", **{"from": year_from, "to": period["to"]})))
        # The platform's view over all 10 merchants: computed now (fresh=1: what the worker does every few minutes
        # while someone looks, and what a reader gets who asks for it), then as readers get it (from its snapshot).
        live = _time(client, "/api/v1/analytics/dashboard", platform, max(runs // 3, 3), fresh="1", **period)
        rows.append(("dashboard, platform: computed now (fresh=1)", live))
        whole = _time(client, "/api/v1/analytics/dashboard", platform, runs, **period)
        rows.append(("dashboard, platform: from its snapshot", whole))
        rows.append(("dashboard page, platform: from its snapshot", _time(client, "/staff/analytics", platform, runs,
                                                                        console=True, **period)))
    db.dispose()
    print(f"\n{backend}: {'what':45} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>8} {'bytes':>9}   "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for what, (p50, p95, cpu, size) in rows:
        print(f"{backend}: {what:45} {p50:8.1f} {p95:8.1f} {cpu:8.1f} {size:9,}")
    return (dash[0], dash[1]), (whole[0], whole[1]), (live[0], live[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    results = {}
    for backend in ("sqlite", "postgres"):
        if args.only and backend != args.only:
            continue
        if backend == "postgres":
            try:
                psycopg.connect(PG_ADMIN, connect_timeout=3).close()
            except psycopg.OperationalError:
                print("postgres: no server at 127.0.0.1:5432, skipped")
                continue
        started = time.perf_counter()
        results[backend] = bench(backend, args.cases, args.runs, args.fresh)
        print(f"{backend}: bench took {time.perf_counter() - started:.0f} s", flush=True)
    # The target covers a merchant's dashboard and the platform's over all merchants.
    # The platform's readers are served its snapshot (at most 5 minutes old); computing it is shown beside.
    print("analytics dashboard p50/p95 over {:,} cases: ".format(args.cases) + "; ".join(
        f"{b} {p50:.0f}/{p95:.0f} ms, platform {w50:.0f}/{w95:.0f} ms from its snapshot (computed now "
        f"{l50:.0f}/{l95:.0f} ms){' (target met)' if max(p95, w95) < TARGET_MS else ' (over the 500 ms target)'}"
        for b, ((p50, p95), (w50, w95), (l50, l95)) in results.items()))


if __name__ == "__main__":
    main()
