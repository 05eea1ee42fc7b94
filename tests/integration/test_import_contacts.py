"""The importer checks customer contacts like the order API: phones kept in E.164 (the merchant's country, or
--country, for numbers without a country code), impossible phones and emails reported by line and column."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console
from sqlalchemy import select

from returnflow.merchants.models import Merchant
from returnflow.importer import import_file, run_import
from returnflow.orders.models import Customer, Order
from tests.support.asgi import TestClient
from tests.integration.test_import import csv_text, write
from tests.support.portal import find_order, last_code
from tests.support.world import make_shop

WHEN = "2026-11-01T10:00:00+08:00,,2026-11-04T15:00:00+08:00,"


def row(number: str, customer: str, email: str, phone: str, line: int = 1, sku: str = "SKU-A") -> str:
    return f"{number},{customer},Li Lei,{email},{phone},zh-CN,CN,CNY,,,,,{WHEN},{line},{sku},Kettle,home,99.90,1,,"


def phones(db) -> dict[str, str | None]:
    with db.read() as session:
        return dict(session.execute(select(Customer.external_id, Customer.phone)).all())


def test_csv_phones_are_stored_in_e164_and_bad_contacts_are_reported_by_line_and_column(app, db, tmp_path):
    shop = make_shop(db)
    text = csv_text(
        row("T-1", "C-1", "li@example.com", "138 0000 1111"),
        row("T-2", "C-2", "han@example.com", "12345"),
        row("T-3", "C-3", "han@@example.com", "13900002222"),
        row("T-3", "C-3", "han@@example.com", "13900002222", line=2, sku="SKU-B"),
        row("T-4", "C-4", "Mei@Example.COM", "+86 (139) 0000-3333"),
    )
    errors = tmp_path / "errors.csv"
    code = run_import(db, file=write(tmp_path, "orders.csv", text), merchant=shop.code, errors_file=errors,
                      console=Console(file=io.StringIO(), width=200))
    assert code == 1
    with errors.open(newline="") as handle:
        refused = {int(r["line"]): r["reason"] for r in csv.DictReader(handle)}
    assert sorted(refused) == [3, 4, 5]
    assert refused[3].startswith("customer_phone: '12345' is not a valid phone number")
    assert refused[4] == "customer_email: 'han@@example.com' is not a valid email address"
    assert refused[5].startswith("skipped: order T-3 has a bad row at line 4")
    assert phones(db) == {"C-1": "+8613800001111", "C-4": "+8613900003333"}
    with db.read() as session:
        assert sorted(session.scalars(select(Order.number))) == ["T-1", "T-4"]
        assert session.scalar(select(Customer.email).where(Customer.external_id == "C-4")) == "Mei@example.com"
    # The imported customer signs in to the portal with the number typed another way.
    web = TestClient(app, client=("127.0.0.1", 40000))
    assert find_order(web, "shop", "T-1", "+86 13800001111").status_code == 303
    assert last_code(db)[1]["to"] == "+8613800001111"


def test_jsonl_reports_an_impossible_phone_by_its_field(db, tmp_path):
    shop = make_shop(db)
    base = {"currency": "CNY", "lines": [{"sku": "SKU-A", "unit_price": "12.50", "quantity": 1}]}
    lines = [{**base, "number": "J-1", "customer": {"id": "C-1", "phone": "0086 138 0000 1111"}},
             {**base, "number": "J-2", "customer": {"id": "C-2", "phone": "138-0000-111"}}]
    result = import_file(db, file=write(tmp_path, "orders.jsonl", "\n".join(map(json.dumps, lines))),
                         merchant_id=shop.id)
    assert (result.orders_inserted, result.bad_rows) == (1, 1)
    assert result.refused[0].line == 2
    assert result.refused[0].reason.startswith("customer.phone: '138-0000-111' is not a valid phone number")
    assert phones(db) == {"C-1": "+8613800001111"}


def test_country_reads_local_numbers_and_is_kept_on_a_merchant_the_import_creates(db, tmp_path):
    console = Console(file=io.StringIO(), width=200)
    file = write(tmp_path, "uk.csv", csv_text(row("U-1", "C-1", "amy@example.com", "07400 123456")))
    assert run_import(db, file=file, merchant="uk", create_merchant=True, country="XX", console=console) == 2
    with db.read() as session:
        assert session.scalar(select(Merchant).where(Merchant.code == "uk")) is None
    assert run_import(db, file=file, merchant="uk", create_merchant=True, country="gb", console=console) == 0
    with db.read() as session:
        assert session.scalar(select(Merchant.country).where(Merchant.code == "uk")) == "GB"
    assert phones(db) == {"C-1": "+447400123456"}
    # Later imports into that merchant read local numbers as British without being told.
    again = write(tmp_path, "uk2.csv", csv_text(row("U-2", "C-2", "bea@example.com", "07400 654321")))
    assert run_import(db, file=again, merchant="uk", console=console) == 0
    assert phones(db)["C-2"] == "+447400654321"
