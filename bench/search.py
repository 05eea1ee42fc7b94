#!/usr/bin/env python
"""Case search (`q`, as GET /api/v1/cases and the staff queue) against 1,000,000 cases.

    .venv/bin/python bench/search.py

1. builds a fresh SQLite database (a temporary folder) with N cases, each with its order, order line and case line,
   over N/10 customers, by bulk inserts, then fills the FTS5 trigram tables in one pass ('rebuild') and restores
   their triggers;
   descriptions are Chinese and English, SKUs and titles repeat;
2. times SEARCHES searches through `cases.service.list_cases` (one read transaction each: the page of 50 and the
   total), the queries a random mix of a case number's tail, an order number, a customer's name or phone, a
   batch code in a description (Chinese) and a literal "%" code — each selective (a handful of cases);
3. checks each search found the case it should (a miss fails the run);
4. times a few unselective searches (a phrase in 1 of 10 descriptions; a two-character query, which has no
   trigram and reads every row) and reports them apart.

With RF_BENCH_PG_CASES=N (0 by default: the SQLite run alone takes most of five minutes on a busy 2-core
machine) it then does the same on PostgreSQL (RF_BENCH_PG, default the local server at 127.0.0.1:5432, user
postgres; a fresh database, dropped after), loaded by COPY with the pg_trgm indexes in place.

Environment: RF_BENCH_CASES=1000000, RF_BENCH_SEARCHES=2000, RF_BENCH_DIR=<folder to keep>, RF_BENCH_PG_CASES=0.
The last line is the headline; exit status 1 if any check failed.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

N_CASES = int(os.environ.get("RF_BENCH_CASES", "1000000"))
N_SEARCHES = int(os.environ.get("RF_BENCH_SEARCHES", "2000"))
N_PG = int(os.environ.get("RF_BENCH_PG_CASES", "0"))
PG_ADMIN = os.environ.get("RF_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CHUNK = 50_000
PHRASES = ("屏幕碎了，开机有划痕", "尺码偏小，想换大一号", "收到时外箱破损", "颜色和图片不一样", "质量问题：拉链坏了",
           "wrong size, too small", "arrived damaged in transit", "not as described", "changed my mind",
           "stopped working after a week")


def log(text: str) -> None:
    print(text, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def case_number(i: int) -> str:
    return f"AS2611{i:08d}"


def order_number(i: int) -> str:
    return f"BO-{i:08d}"


def customer_name(c: int) -> str:
    return f"顾客{c:06d}号"


def phone(c: int) -> str:
    return f"139{c:08d}"


def description(i: int) -> str:
    return f"{PHRASES[i % len(PHRASES)]} 批次P{i:07d}" + (f" 折扣{i % 100}% off" if i % 7 == 0 else "")


def build(db, n: int) -> int:
    from returnflow.merchants.models import Merchant

    with db.transaction() as session:
        merchant = Merchant(code="bench", name="Bench shop", default_currency="CNY")
        session.add(merchant)
        session.flush()
        merchant_id = merchant.id
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    customers = max(n // 10, 1)
    started = time.perf_counter()
    # A bulk load indexes in one pass at the end (FTS5 'rebuild'), as an import would, then restores the triggers
    # that keep the index in step with every later write.
    with db.engine.begin() as conn:
        found = list(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name GLOB '*_fts_a[idu]'"))
        triggers = [sql for _name, sql in found]
        for name, _sql in found:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    with db.engine.begin() as conn:
        conn.connection.driver_connection.executemany(
            "INSERT INTO customers (id, merchant_id, external_id, name, email, phone, locale) "
            "VALUES (?, ?, ?, ?, ?, ?, 'zh-CN')",
            ((c, merchant_id, f"C-{c}", customer_name(c), f"c{c}@example.com", phone(c))
             for c in range(1, customers + 1)))
    for lo in range(1, n + 1, CHUNK):
        ids = range(lo, min(n, lo + CHUNK - 1) + 1)
        with db.engine.begin() as conn:
            raw = conn.connection.driver_connection
            when = {i: (base + timedelta(seconds=20 * i)).replace(tzinfo=None).isoformat(sep=" ") for i in ids}
            raw.executemany(
                "INSERT INTO orders (id, merchant_id, number, customer_id, currency, goods_total, discount, "
                "shipping_fee, paid_total, payments, country, ordered_at, delivered_at, imported_at) "
                "VALUES (?, ?, ?, ?, 'CNY', 10000, 0, 0, 10000, '[]', 'CN', ?, ?, ?)",
                ((i, merchant_id, order_number(i), i % customers + 1, when[i], when[i], when[i]) for i in ids))
            raw.executemany(
                "INSERT INTO order_lines (id, order_id, line_no, sku, title, category, unit_price, quantity, "
                "delivered_quantity, discount, paid_amount) VALUES (?, ?, 1, ?, ?, 'general', 5000, 2, 2, 0, 10000)",
                ((i, i, f"SKU-{i % 997:04d}", f"商品 Item {i % 997}") for i in ids))
            raw.executemany(
                "INSERT INTO cases (id, merchant_id, number, order_id, customer_id, type, channel, state, "
                "description, desired_outcome, advance, needs_return, holds_quantity, escalation_level, "
                "reopen_count, currency, claimed_amount, version, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'return_refund', 'portal', 'pending_review', ?, 'refund', 0, 1, 1, 0, 0, "
                "'CNY', 10000, 1, 'bench', ?, ?)",
                ((i, merchant_id, case_number(i), i, i % customers + 1, description(i), when[i], when[i])
                 for i in ids))
            raw.executemany(
                "INSERT INTO case_lines (id, case_id, order_line_id, quantity, received_quantity, accepted_quantity, "
                "inspection) VALUES (?, ?, ?, 1, 0, 0, '{}')", ((i, i, i) for i in ids))
        if ids[-1] % 200_000 == 0 or ids[-1] == n:
            log(f"  built {ids[-1]:,} cases ({time.perf_counter() - started:.0f} s)")
    log("  indexing (FTS5 trigram rebuild) ...")
    with db.engine.begin() as conn:
        for table in ("cases", "orders", "customers", "order_lines"):
            conn.exec_driver_sql(f"INSERT INTO {table}_fts({table}_fts) VALUES ('rebuild')")
        for sql in triggers:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql("ANALYZE")
    log(f"  indexed ({time.perf_counter() - started:.0f} s), {len(triggers)} triggers restored")
    return merchant_id


def build_pg(db, n: int) -> int:
    """The same rows as `build`, by COPY (the trigram indexes are kept up to date as rows arrive)."""
    from returnflow.merchants.models import Merchant

    with db.transaction() as session:
        merchant = Merchant(code="bench", name="Bench shop", default_currency="CNY")
        session.add(merchant)
        session.flush()
        merchant_id = merchant.id
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    customers = max(n // 10, 1)
    started = time.perf_counter()
    tables = {
        "customers": ("id, merchant_id, external_id, name, email, phone, locale", lambda ids: (
            (c, merchant_id, f"C-{c}", customer_name(c), f"c{c}@example.com", phone(c), "zh-CN") for c in ids)),
        "orders": ("id, merchant_id, number, customer_id, currency, goods_total, discount, shipping_fee, paid_total, "
                   "payments, country, ordered_at, delivered_at, imported_at", lambda ids: (
            (i, merchant_id, order_number(i), i % customers + 1, "CNY", 10000, 0, 0, 10000, "[]", "CN",
             base + timedelta(seconds=20 * i), base, base) for i in ids)),
        "order_lines": ("id, order_id, line_no, sku, title, category, unit_price, quantity, delivered_quantity, "
                        "discount, paid_amount", lambda ids: (
            (i, i, 1, f"SKU-{i % 997:04d}", f"商品 Item {i % 997}", "general", 5000, 2, 2, 0, 10000) for i in ids)),
        "cases": ("id, merchant_id, number, order_id, customer_id, type, channel, state, description, "
                  "desired_outcome, advance, needs_return, holds_quantity, escalation_level, reopen_count, currency, "
                  "claimed_amount, version, created_by, created_at, updated_at", lambda ids: (
            (i, merchant_id, case_number(i), i, i % customers + 1, "return_refund", "portal", "pending_review",
             description(i), "refund", False, True, True, 0, 0, "CNY", 10000, 1, "bench",
             base + timedelta(seconds=20 * i), base + timedelta(seconds=20 * i)) for i in ids)),
        "case_lines": ("id, case_id, order_line_id, quantity, received_quantity, accepted_quantity, inspection",
                       lambda ids: ((i, i, i, 1, 0, 0, "{}") for i in ids)),
    }
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            for table, (columns, rows) in tables.items():
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows(range(1, (customers if table == "customers" else n) + 1)):
                        copy.write_row(row)
                log(f"  copied {table} ({time.perf_counter() - started:.0f} s)")
            for table in tables:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    return merchant_id


def measure(db, merchant_id: int, n: int, label: str, failures: list[str]) -> list[float]:
    from returnflow.actor import Actor
    from returnflow.cases import service

    agent = Actor(kind="staff", role="agent", merchant_id=merchant_id, user_id=None, name="bench")

    def search(q: str):
        with db.read() as session:
            rows, total = service.list_cases(session, actor=agent, q=q, limit=50)
            return {r.id for r in rows}, total

    mix = queries(random.Random(14), n)
    for q, _ in mix[:50]:  # warm the caches
        search(q)
    times = []
    for q, want in mix:
        s = time.perf_counter()
        found, total = search(q)
        times.append((time.perf_counter() - s) * 1000)
        if want not in found and total <= 50:
            failures.append(f"{label} search {q!r}: case {want} not found ({total} found)")
    log(f"{label} selective: {len(mix):,} searches, p50 {pct(times, 50):.1f} ms, p90 {pct(times, 90):.1f} ms, "
        f"p99 {pct(times, 99):.1f} ms, max {max(times):.1f} ms")
    for q in ("开机有划痕", "not as described", "屏幕", "%"):
        s = time.perf_counter()
        _found, total = search(q)
        log(f"{label} unselective {q!r}: {total:,} cases in {(time.perf_counter() - s) * 1000:.0f} ms")
    return times


def run_pg(n: int, failures: list[str]) -> str:
    import uuid

    import psycopg

    from returnflow.db import Database
    from returnflow.schema import migrate

    name = f"rf_bench_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    try:
        migrate(db)
        log(f"building {n:,} cases (PostgreSQL, COPY, pg_trgm GIN indexes) ...")
        started = time.perf_counter()
        merchant_id = build_pg(db, n)
        log(f"built in {time.perf_counter() - started:.1f} s")
        times = measure(db, merchant_id, n, "postgres", failures)
        return f"; search postgres: p50 {pct(times, 50):.1f} ms, p99 {pct(times, 99):.0f} ms over {n:,} cases"
    finally:
        db.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def queries(rng: random.Random, n: int) -> list[tuple[str, int]]:
    """(q, a case id the result must hold)."""
    customers = max(n // 10, 1)
    out = []
    for _ in range(N_SEARCHES):
        i = rng.randint(1, n)
        kind = rng.randrange(6)
        if kind == 0:
            out.append((case_number(i)[-8:], i))
        elif kind == 1:
            out.append((order_number(i), i))
        elif kind == 2:
            out.append((customer_name(i % customers + 1), i))
        elif kind == 3:
            out.append((phone(i % customers + 1), i))
        elif kind == 4:
            out.append((f"批次P{i:07d}", i))
        else:
            j = i - i % 7 or 7
            out.append((f"P{j:07d} 折扣{j % 100}%", j))
    return out


def main() -> int:
    from returnflow.db import Database
    from returnflow.schema import migrate

    keep = os.environ.get("RF_BENCH_DIR")
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="rf-bench-search-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "search.db"
    if db_path.exists():
        db_path.unlink()
    db = Database(f"sqlite:///{db_path}")
    failures: list[str] = []
    try:
        migrate(db)
        log(f"building {N_CASES:,} cases (SQLite, {db_path.name}, bulk inserts + FTS5 rebuild) ...")
        started = time.perf_counter()
        merchant_id = build(db, N_CASES)
        log(f"built in {time.perf_counter() - started:.1f} s")
        times = measure(db, merchant_id, N_CASES, "sqlite", failures)
        db.dispose()
        pg = run_pg(N_PG, failures) if N_PG else ""
        for failure in failures[:10]:
            log(f"FAIL {failure}")
        log(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        verdict = "ok" if not failures else "FAILED"
        log(f"search sqlite: p50 {pct(times, 50):.1f} ms, p99 {pct(times, 99):.0f} ms over {N_CASES:,} cases"
            f"{pg} — {verdict}")
        return 0 if not failures else 1
    finally:
        db.dispose()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
