"""Money test helpers: orders with discounts, shipping and mixed payments; cases brought to a refundable state
through the workflow; the fake payment provider process."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from returnflow.db import Database
from returnflow.money import to_minor
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from tests.support.flows import open_for, run
from tests.support.world import Shop

FAKE = Path(__file__).with_name("fake_pay.py")


def paid_order(db: Database, shop: Shop, number: str = "M-1", *, lines=(("SKU-A", "100.00", 2), ("SKU-B", "35.50", 1)),
               discount: str = "10.00", shipping: str = "8.00", payments=(("alipay", None), ("points", "20.00")),
               currency: str = "CNY", customer: str = "C-1", when: datetime | None = None) -> int:
    """A delivered order (ordered at `when`, by default 2026-11-01 10:00 UTC); the first payment takes what the
    others leave of the paid total. Returns paid_total."""
    when = when or datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
    recs = [LineRecord(line_no=i + 1, sku=sku, title=sku, category="general", unit_price=to_minor(Decimal(p), currency),
                       quantity=q, delivered_quantity=q) for i, (sku, p, q) in enumerate(lines)]
    goods = sum(r.unit_price * r.quantity for r in recs)
    paid = goods - to_minor(discount, currency) + to_minor(shipping, currency)
    others = [(m, to_minor(a, currency)) for m, a in payments[1:]]
    pays = [{"method": payments[0][0], "amount": paid - sum(a for _, a in others), "reference": f"PAY-{number}"}]
    pays += [{"method": m, "amount": a} for m, a in others]
    record = OrderRecord(number=number, currency=currency,
                         customer=CustomerRecord(external_id=customer, name=customer, email=f"{customer}@example.com"),
                         discount=to_minor(discount, currency), shipping_fee=to_minor(shipping, currency),
                         paid_total=paid, payments=pays, ordered_at=when, shipped_at=when + timedelta(days=1),
                         delivered_at=when + timedelta(days=3), lines=recs)
    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[record])
    return paid


def inspected_case(db: Database, shop: Shop, order: str, line_no: int = 1, quantity: int = 1,
                   accepted: int | None = None, deduction: str | None = None) -> str:
    """A return_refund case, approved, returned, received and inspected (optionally with a damage deduction)."""
    number = open_for(db, shop.actors["agent"], order, "return_refund", line_no=line_no, quantity=quantity)
    run(db, number, "approve", shop.actors["agent"])
    run(db, number, "ship_return", shop.actors["agent"])
    case = run(db, number, "receive", shop.actors["warehouse"], {})
    item = {"line_id": case.lines[0].id, "quantity": quantity if accepted is None else accepted, "verdict": "ok"}
    if deduction is not None:
        item["deduction"] = deduction
    run(db, number, "inspect", shop.actors["warehouse"], {"lines": [item]})
    return number


def refund_only_case(db: Database, shop: Shop, order: str, line_no: int = 1, quantity: int = 1) -> str:
    number = open_for(db, shop.actors["agent"], order, "refund_only", line_no=line_no, quantity=quantity)
    run(db, number, "approve", shop.actors["agent"])
    return number


@dataclass
class FakePay:
    """The fake provider process and its test controls."""

    process: subprocess.Popen
    url: str
    api_key: str
    secret: str

    def _call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def config(self, **values) -> dict:
        return self._call("POST", "/_test/config", values)

    def webhooks(self, drain: bool = True) -> list[dict]:
        return self._call("GET", "/_test/webhooks" + ("?drain=1" if drain else ""))

    def stats(self) -> dict:
        return self._call("GET", "/_test/stats")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_fake_pay(webhook_url: str | None = None) -> FakePay:
    api_key, secret = secrets.token_hex(8), secrets.token_hex(16)
    args = [sys.executable, str(FAKE), "--api-key", api_key, "--secret", secret]
    if webhook_url:
        args += ["--webhook-url", webhook_url]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"fake provider did not start: {line!r}")
    return FakePay(process, f"http://127.0.0.1:{int(line.split()[1])}", api_key, secret)
