"""Exports are safe to open: text that a spreadsheet would run as a formula comes out quoted, amounts stay numbers
(analytics API CSV and XLSX, the console's export, the CLI, the order import's errors file)."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from rich.console import Console

from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.money import to_minor
from returnflow.importer import run_import
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from tests.support.asgi import TestClient
from tests.support.portal import sign_in_staff
from tests.support.processes import run_returnflow
from tests.support.world import make_shop

# What an attacker types as a SKU, a product description or a customer name, and how it must come out.
PAYLOADS = ["=1+1", "@SUM(1)", "+1", "-1+2", "\t=1"]
DEFUSED = {p: "'" + p for p in PAYLOADS}
OCT = {"from": "2026-10-01", "to": "2026-10-31"}
AT = datetime(2026, 10, 5, 10, tzinfo=timezone.utc)


@pytest.fixture
def world(db):
    """One order per payload: the payload is the SKU, the line's title and the customer's name; each is returned."""
    shop = make_shop(db)
    for i, payload in enumerate(PAYLOADS):
        record = OrderRecord(number=f"O-{i}", currency="CNY", country="CN", ordered_at=AT, shipped_at=AT,
                             delivered_at=AT, customer=CustomerRecord(external_id=f"C-{i}", name=payload),
                             lines=[LineRecord(line_no=1, sku=payload, title=payload, category="general",
                                               unit_price=to_minor(Decimal("12.50"), "CNY"), quantity=1,
                                               delivered_quantity=1)])
        with db.transaction() as session:
            upsert_orders(session, merchant_id=shop.id, orders=[record])
            open_case(session, actor=shop.actors["agent"], created_at=AT, data=CaseCreate(
                order=f"O-{i}", type="return_refund", reason="quality_issue",
                lines=[CaseLineCreate(line_no=1, quantity=1)]))
    return shop


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_analytics_csv_quotes_formula_text_and_keeps_amounts(client, world):
    answer = client.get("/api/v1/analytics/reports/return_rate", headers=world.headers(),
                        params={**OCT, "by": "sku", "format": "csv", "lang": "en"})
    assert answer.status_code == 200, answer.text
    header, *rows = csv_rows(answer.content)
    sku, title, value = header.index("SKU"), header.index("Title"), header.index("Value returned")
    assert sorted((r[sku], r[title]) for r in rows) == sorted((d, d) for d in DEFUSED.values())
    assert {r[value] for r in rows} == {"12.50"}  # an amount is written as the plain number it is


def test_analytics_xlsx_keeps_text_as_quoted_text_and_amounts_as_numbers(client, world):
    import openpyxl

    answer = client.get("/api/v1/analytics/reports/return_rate", headers=world.headers(),
                        params={**OCT, "by": "sku", "format": "xlsx", "lang": "en"})
    assert answer.status_code == 200, answer.text
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    header = [c.value for c in sheet[4]]
    rows = [{h: c for h, c in zip(header, r, strict=True)} for r in sheet.iter_rows(min_row=5)]
    assert sorted(r["SKU"].value for r in rows) == sorted(DEFUSED.values())
    # Not one cell of the workbook is a formula; the amounts are numeric cells.
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)
    assert {(r["Value returned"].data_type, r["Value returned"].value) for r in rows} == {("n", 12.5)}


def test_console_export_of_customer_names_is_defused(app, client, world):
    web = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(web, "supervisor@shop.test", "pw-supervisor")
    answer = web.get("/staff/analytics/export/customers", params={**OCT, "format": "csv"})
    assert answer.status_code == 200, answer.text
    header, *rows = csv_rows(answer.content)
    names = [r[header.index("Name")] for r in rows]
    assert sorted(names) == sorted(DEFUSED.values())
    assert {r[header.index("Value returned")] for r in rows} == {"12.50"}


def test_cli_csv_report_is_defused(db, world):
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url}
    out = run_returnflow(["report", "return_rate", "--merchant", "shop", "--from", OCT["from"], "--to", OCT["to"],
                          "--by", "sku", "--format", "csv"], env=env, timeout=120, text=False)
    assert out.returncode == 0, out.stderr
    header, *rows = csv_rows(out.stdout)
    assert sorted(r[0] for r in rows) == sorted(DEFUSED.values())


def test_import_errors_file_quotes_refused_rows_that_look_like_formulas(db, tmp_path):
    shop = make_shop(db)
    header = "order_number,ordered_at,currency,country,sku,unit_price,quantity,line_no"
    bad = [f'"{p}",yesterday,CNY,CN,SKU-A,10.00,1,1' for p in PAYLOADS]
    source = tmp_path / "orders.csv"
    source.write_text(header + "\n" + "\n".join(bad) + "\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    code = run_import(db, file=source, merchant=shop.code, errors_file=errors, console=Console(file=io.StringIO()))
    assert code == 1
    with errors.open(newline="", encoding="utf-8") as handle:
        refused = list(csv.DictReader(handle))
    assert len(refused) == len(PAYLOADS)
    assert all(r["row"].startswith("'") for r in refused), [r["row"] for r in refused]
    assert all(not r["reason"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in refused)
    assert [r["line"] for r in refused] == ["2", "3", "4", "5", "6"]  # line numbers stay numbers
