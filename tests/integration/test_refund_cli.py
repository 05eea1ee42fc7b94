"""`returnflow money ...` as finance uses it, in a real process against the test database."""

from __future__ import annotations

import csv
import io
import os

from returnflow.db import utcnow
from returnflow.refunds.ledger import period_of
from tests.support.money import paid_order, refund_only_case
from tests.support.processes import run_returnflow
from tests.support.world import make_shop


def _cli(db, *args):
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}
    return run_returnflow(["money", *args], env=env, timeout=120)


def test_vouchers_export_and_reconcile_from_the_command_line(client, db, tmp_path):
    shop = make_shop(db)
    paid_order(db, shop, payments=(("alipay", None),))
    case = refund_only_case(db, shop, "M-1", line_no=2)
    refund = client.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers(), json={}).json()
    leg = refund["payments"][0]["number"]
    assert client.post(f"/api/v1/refund-payments/{leg}/mark-paid", headers=shop.headers("finance"),
                       json={"reference": "BANK-9"}).status_code == 200
    period = period_of(utcnow())
    out = tmp_path / "v.csv"
    result = _cli(db, "vouchers", "--merchant", "shop", "--period", period, "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff"))))
    assert [(r["account"], r["debit"], r["credit"]) for r in rows] == [
        ("sales_returns", "33.99", "0.00"), ("refund_payable", "0.00", "33.99"),
        ("refund_payable", "33.99", "0.00"), ("gateway_cash", "0.00", "33.99")]
    assert {r["case"] for r in rows} == {case}
    recon = _cli(db, "reconcile", "--merchant", "shop", "--period", period)
    assert recon.returncode == 0 and '"matched": 1' in recon.stdout, recon.stdout + recon.stderr
    bad = _cli(db, "vouchers", "--merchant", "shop", "--period", "11-2026")
    assert bad.returncode == 2 and "YYYY-MM" in bad.stdout


def test_audit_archive_from_the_command_line(client, db, tmp_path):
    import zipfile

    from tests.support.flows import run

    shop = make_shop(db)
    paid_order(db, shop, payments=(("wechat_pay", None),))
    case = refund_only_case(db, shop, "M-1", line_no=2)
    client.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers(), json={
        "route": "balance", "consent": {"channel": "phone", "statement": "fine"}})
    run(db, case, "close", shop.actors["agent"])
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "RETURNFLOW_DATA_DIR": str(tmp_path / "data")}
    result = run_returnflow(["audit", "archive", case, "--out", str(tmp_path)], env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    names = zipfile.ZipFile(tmp_path / f"{case}.zip").namelist()
    assert f"{case}/summary.pdf" in names and f"{case}/vouchers.json" in names
