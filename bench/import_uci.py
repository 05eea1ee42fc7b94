"""Imports the whole UCI Online Retail file into a fresh SQLite database, and into a fresh PostgreSQL one when the
server at 127.0.0.1:5432 answers; prints the order and return-case timings, the headline last. Wired as every
entry point is (returnflow/bootstrap.py), so the return cases' events are chained as `import-orders` chains them.

Run: .venv/bin/python bench/import_uci.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from returnflow.bootstrap import bootstrap
from returnflow.db import Database
from returnflow.importer import ensure_merchant, import_file
from returnflow.schema import migrate

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RETURNFLOW_UCI_FILE", ROOT.parent / "shared" / "datasets" / "uci_online_retail"
                           / "online_retail_I_2010-12_2011-12.csv.gz"))
PG_ADMIN = os.environ.get("RETURNFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def run(url: str, label: str) -> str:
    db = Database(url)
    try:
        migrate(db)
        merchant_id = ensure_merchant(db, "uci", create=True, currency="GBP")
        started = time.perf_counter()
        result = import_file(db, file=DATA, merchant_id=merchant_id, fmt="uci")
        total = time.perf_counter() - started
    finally:
        db.dispose()
    r = result.returns
    rate = result.rows / result.seconds
    print(f"{label}: orders  {result.rows:,} rows -> {result.orders_inserted:,} orders, {result.lines:,} lines, "
          f"{result.bad_rows:,} bad + {result.skipped_rows:,} skipped rows in {result.seconds:.1f} s "
          f"({rate:,.0f} rows/s)")
    print(f"{label}: returns {r.lines:,} C-lines on {r.invoices:,} invoices: {r.matched:,} matched, "
          f"{r.partly_matched:,} partly, unmatched {dict(r.unmatched)}; {r.with_earlier_purchase:,} have an earlier "
          f"purchase; {r.cases_opened:,} cases opened and closed in {r.seconds:.1f} s "
          f"({r.cases_opened / r.seconds:,.0f} cases/s)")
    print(f"{label}: total {total:.1f} s")
    return (f"{label}: {result.rows:,} rows in {result.seconds:.1f} s ({rate:,.0f} rows/s), "
            f"{r.cases_opened:,} return cases in {r.seconds:.1f} s")


def postgres_up() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def main() -> int:
    bootstrap()
    if not DATA.exists():
        print(f"the UCI file is not at {DATA}; set RETURNFLOW_UCI_FILE", file=sys.stderr)
        return 2
    parts = []
    with tempfile.TemporaryDirectory(prefix="rf_bench_") as folder:
        parts.append(run(f"sqlite:///{folder}/bench.db", "sqlite"))
    if postgres_up():
        name = f"rf_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            parts.append(run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "postgres"))
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        parts.append("postgres: not reachable at 127.0.0.1:5432, skipped")
    print("import uci " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
