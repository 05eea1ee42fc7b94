"""Imports the whole UCI Online Retail file into fresh SQLite databases twice: through the built-in UCI layout
(the floor) and through the shipped mapping file `uci` (importer/mappings/uci.toml, the same columns, zone
and currency, plus line kinds), and prints how fast the mapping is against the built-in layout, the headline last.
Return cases are not opened in either run: this measures reading and storing the orders.

Run: .venv/bin/python bench/import_mapping.py   (target: the mapping at >= 80% of the built-in layout's speed)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from returnflow.db import Database
from returnflow.importer import ensure_merchant, import_file, import_mapped
from returnflow.importer.mapping import load
from returnflow.schema import migrate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = Path(os.environ.get("RETURNFLOW_UCI_FILE", SHARED / "datasets" / "uci_online_retail"
                           / "online_retail_I_2010-12_2011-12.csv.gz"))


def run(folder: str, label: str, mapped: bool):
    db = Database(f"sqlite:///{folder}/{label}.db")
    try:
        migrate(db)
        merchant_id = ensure_merchant(db, "uci", create=True, currency="GBP")
        if mapped:
            result = import_mapped(db, file=DATA, mapping=load("uci"), merchant=merchant_id, open_returns=False)
        else:
            result = import_file(db, file=DATA, merchant_id=merchant_id, fmt="uci", open_returns=False)
    finally:
        db.dispose()
    print(f"{label}: {result.rows:,} rows -> {result.orders_inserted:,} orders, {result.lines:,} lines, "
          f"{result.bad_rows:,} bad + {result.skipped_rows:,} skipped rows, {result.returns.lines:,} return lines, "
          f"in {result.seconds:.1f} s")
    return result


def main() -> int:
    if not DATA.exists():
        print(f"skipped: the UCI file is not at {DATA} (it comes with ../shared/datasets; see its SOURCE.md), "
              "or set RETURNFLOW_UCI_FILE")
        return 0
    with tempfile.TemporaryDirectory(prefix="rf_bench_") as folder:
        floor = run(folder, "built-in uci layout", mapped=False)
        mapped = run(folder, "mapping uci.toml", mapped=True)
    share = floor.seconds / mapped.seconds if mapped.seconds else 0
    print(f"import mapping sqlite: {mapped.rows:,} rows in {mapped.seconds:.1f} s = {share:.0%} of built-in "
          f"({floor.seconds:.1f} s)")
    return 0 if share >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
