#!/usr/bin/env python
"""Receiving-desk scans against 1,000,000 open cases.

    .venv/bin/python bench/receiving.py

1. builds a fresh SQLite database (a temporary folder) with N open return cases, each with its order, order line,
   case line and registered return parcel, by bulk inserts (ids assigned up front, one transaction per chunk);
2. times SCANS scans through the desk's own service (`warehouse.receiving.scan`: one read transaction per scan,
   the same work as GET /api/v1/receiving/scan), the codes a random mix of case numbers, tracking numbers
   (typed in lower case) and order numbers, plus 1 in 20 that match nothing;
3. checks every scan found exactly the case it should (a miss or a wrong match fails the run);
4. times RECEIVES parcels recorded at the desk (`receive_parcel`: match, receipt, per-line quantities and the
   workflow's `receive`, one write transaction each) on the same database.

Environment: RF_BENCH_CASES=1000000, RF_BENCH_SCANS=20000, RF_BENCH_RECEIVES=1000, RF_BENCH_DIR=<folder to keep>.
The last line is the headline; exit status 1 if any check failed or p99 is 20 ms or more.
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
N_SCANS = int(os.environ.get("RF_BENCH_SCANS", "20000"))
N_RECEIVES = int(os.environ.get("RF_BENCH_RECEIVES", "1000"))
CHUNK = 50_000
TARGET_P99_MS = 20.0


def log(text: str) -> None:
    print(text, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def case_number(i: int) -> str:
    return f"AS2611{i:08d}"


def tracking(i: int) -> str:
    return f"SF{1000000000000 + i}"


def order_number(i: int) -> str:
    return f"BO-{i:08d}"


def build(db, n: int) -> tuple[int, int]:
    """Bulk-inserts n open return cases with everything a scan touches; returns (merchant id, warehouse user id)."""
    from returnflow.auth.service import create_user
    from returnflow.merchants.models import Merchant
    from returnflow.orders.models import Customer

    with db.transaction() as session:
        merchant = Merchant(code="bench", name="Bench shop", default_currency="CNY")
        session.add(merchant)
        session.flush()
        customer = Customer(merchant_id=merchant.id, external_id="C-1", name="Bench customer",
                            email="c1@example.com")
        session.add(customer)
        user = create_user(session, email="desk@bench.test", name="desk", role="warehouse",
                           merchant_id=merchant.id, password="pw-desk")
        session.flush()
        merchant_id, customer_id, user_id = merchant.id, customer.id, user.id

    # Dated relative to the run (a month ago), so no window or deadline the desk reads depends on the calendar.
    when = (datetime.now(timezone.utc) - timedelta(days=30)).replace(tzinfo=None).isoformat(sep=" ")
    states = ("awaiting_return", "return_in_transit")
    started = time.perf_counter()
    for lo in range(1, n + 1, CHUNK):
        hi = min(n, lo + CHUNK - 1)
        ids = range(lo, hi + 1)
        with db.engine.begin() as conn:
            raw = conn.connection.driver_connection
            raw.executemany(
                "INSERT INTO orders (id, merchant_id, number, customer_id, currency, goods_total, discount, "
                "shipping_fee, paid_total, payments, country, ordered_at, delivered_at, imported_at) "
                "VALUES (?, ?, ?, ?, 'CNY', 10000, 0, 0, 10000, '[]', 'CN', ?, ?, ?)",
                ((i, merchant_id, order_number(i), customer_id, when, when, when) for i in ids))
            raw.executemany(
                "INSERT INTO order_lines (id, order_id, line_no, sku, title, category, unit_price, quantity, "
                "delivered_quantity, discount, paid_amount) VALUES (?, ?, 1, ?, 'Bench item', 'general', 5000, 2, 2, "
                "0, 10000)", ((i, i, f"SKU-{i % 997}") for i in ids))
            raw.executemany(
                "INSERT INTO cases (id, merchant_id, number, order_id, customer_id, type, channel, state, "
                "description, desired_outcome, advance, needs_return, holds_quantity, escalation_level, "
                "reopen_count, currency, claimed_amount, version, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'return_refund', 'portal', ?, '', 'refund', 0, 1, 1, 0, 0, 'CNY', 10000, "
                "2, 'bench', ?, ?)",
                ((i, merchant_id, case_number(i), i, customer_id, states[i % 2], when, when) for i in ids))
            raw.executemany(
                "INSERT INTO case_lines (id, case_id, order_line_id, quantity, received_quantity, accepted_quantity, "
                "inspection) VALUES (?, ?, ?, 2, 0, 0, '{}')", ((i, i, i) for i in ids))
            raw.executemany(
                "INSERT INTO shipments (id, merchant_id, case_id, direction, purpose, carrier, tracking_number, "
                "status, pickup, items, created_by, created_at) VALUES (?, ?, ?, 'inbound', 'return', 'SF', ?, "
                "'in_transit', '{}', '[]', 'bench', ?)", ((i, merchant_id, i, tracking(i), when) for i in ids))
        if hi % 200_000 == 0 or hi == n:
            log(f"  built {hi:,} cases ({time.perf_counter() - started:.0f} s)")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return merchant_id, user_id


def main() -> int:
    from returnflow.actor import Actor
    from returnflow.bootstrap import bootstrap
    from returnflow.db import Database
    from returnflow.schema import migrate
    from returnflow.warehouse import receiving

    bootstrap()  # every side effect, as in the server (returnflow/bootstrap.py)

    keep = os.environ.get("RF_BENCH_DIR")
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="rf-bench-receiving-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "receiving.db"
    if db_path.exists():
        db_path.unlink()
    db = Database(f"sqlite:///{db_path}")
    failures: list[str] = []
    try:
        migrate(db)
        log(f"building {N_CASES:,} open return cases (SQLite, {db_path.name}) ...")
        started = time.perf_counter()
        merchant_id, user_id = build(db, N_CASES)
        log(f"built in {time.perf_counter() - started:.1f} s")
        desk = Actor(kind="staff", role="warehouse", merchant_id=merchant_id, user_id=user_id, name="desk")

        rng = random.Random(5)
        codes = []
        for _ in range(N_SCANS):
            i = rng.randint(1, N_CASES)
            kind = rng.random()
            if kind < 0.05:
                codes.append((f"UNKNOWN-{i}", None))
            elif kind < 0.37:
                codes.append((case_number(i), i))
            elif kind < 0.69:
                codes.append((tracking(i).lower(), i))
            else:
                codes.append((order_number(i), i))
        for code, _ in codes[:200]:  # warm the caches and the statement cache
            with db.read() as session:
                receiving.scan(session, actor=desk, code=code)

        times, cpu = [], []
        t0 = time.perf_counter()
        for code, want in codes:
            s, c = time.perf_counter(), time.process_time()
            with db.read() as session:
                found = receiving.scan(session, actor=desk, code=code)
            times.append((time.perf_counter() - s) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            expected_number = case_number(want) if want else None
            got = found["case"]["number"] if found["matched"] else None
            if got != expected_number:
                failures.append(f"scan {code!r}: expected {expected_number}, got {got}")
        elapsed = time.perf_counter() - t0
        rate = len(codes) / elapsed
        matched = sum(1 for _, want in codes if want)
        log(f"scan: {len(codes):,} scans ({matched:,} matching a case) in {elapsed:.2f} s = {rate:,.0f} scans/s; "
            f"p50 {pct(times, 50):.2f} ms, p90 {pct(times, 90):.2f} ms, p99 {pct(times, 99):.2f} ms, "
            f"max {max(times):.2f} ms; own CPU time per scan p50 {pct(cpu, 50):.2f} ms, p99 {pct(cpu, 99):.2f} ms "
            f"(the rest is waiting for a core)")

        rtimes = []
        picks = rng.sample(range(1, N_CASES + 1), min(N_RECEIVES, N_CASES))
        t1 = time.perf_counter()
        for j, i in enumerate(picks):
            code = (case_number(i), tracking(i), order_number(i))[j % 3]
            s = time.perf_counter()
            with db.transaction() as session:
                status, _receipt, case = receiving.receive_parcel(
                    session, actor=desk, code=code, condition="intact", arrived_at=None, note="", photos=[],
                    lines=None)
            rtimes.append((time.perf_counter() - s) * 1000)
            if status != "matched" or case.number != case_number(i) or case.state != "received":
                failures.append(f"receive {code}: {status} {case.number if case else None}")
        relapsed = time.perf_counter() - t1
        log(f"receive: {len(picks):,} parcels recorded in {relapsed:.2f} s = {len(picks) / relapsed:,.0f}/s; "
            f"p50 {pct(rtimes, 50):.2f} ms, p99 {pct(rtimes, 99):.2f} ms")
        for failure in failures[:10]:
            log(f"FAIL {failure}")
        p99 = pct(times, 99)
        verdict = "ok" if not failures and p99 < TARGET_P99_MS else "FAILED"
        log(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        log(f"receiving: {rate:,.0f} scans matched/s against {N_CASES:,} open cases (SQLite), "
            f"p99 {p99:.2f} ms (target < {TARGET_P99_MS:.0f} ms), receive p99 {pct(rtimes, 99):.2f} ms — {verdict}")
        return 0 if verdict == "ok" else 1
    finally:
        db.dispose()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
