"""Helpers for the page tests: orders a customer can return now, and a browser-like client (cookies, CSRF)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text

from returnflow.db import Database, utcnow
from returnflow.money import to_minor
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders

def png(width: int = 96, height: int = 96) -> bytes:
    """A small real PNG (a striped swatch), so the evidence gallery shows something."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"".join(bytes((200, 70, 50) if (x // 12 + y // 12) % 2 else (240, 220, 200))
                                     for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = png()


def recent_order(db: Database, merchant_id: int, number: str, *, customer: str = "C-1",
                 email: str = "buyer@example.com", phone: str = "13800001111", days_ago: int = 2,
                 lines=(("COAT-M", "Wool coat M", "899.00", 2), ("MUG", "Mug", "35.50", 1)),
                 paid_total: int | None = 0) -> str:
    """A paid order delivered `days_ago` days ago, so the 7-day window is open. A coat is worth more than the
    policy approves by itself (cn-law: 500), so a return of it waits in the agents' queue. `paid_total=None`
    records the goods as paid (what a refund can give back)."""
    delivered = utcnow() - timedelta(days=days_ago)
    record = OrderRecord(
        number=number, currency="CNY",
        customer=CustomerRecord(external_id=customer, name=f"Customer {customer}", email=email, phone=phone,
                                locale="zh-CN"),
        ordered_at=delivered - timedelta(days=3), shipped_at=delivered - timedelta(days=2), delivered_at=delivered,
        signed_at=delivered, paid_total=paid_total,
        lines=[LineRecord(line_no=i + 1, sku=sku, title=title, category="apparel",
                          unit_price=to_minor(Decimal(price), "CNY"), quantity=qty, delivered_quantity=qty)
               for i, (sku, title, price, qty) in enumerate(lines)])
    with db.transaction() as session:
        upsert_orders(session, merchant_id=merchant_id, orders=[record])
    return number


def csrf_of(client) -> str:
    """The CSRF token the pages gave this browser (load any page first)."""
    token = client.cookies.get("rf_csrf")
    if not token:
        page = client.get("/staff/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return token


def last_code(db: Database) -> tuple[str, dict]:
    """The one-time code of the newest otp_code notification in the outbox, and its payload."""
    import orjson

    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE topic = 'notify' ORDER BY id DESC")).all()
    for (payload,) in rows:
        payload = orjson.loads(payload) if isinstance(payload, (str, bytes)) else payload
        if payload.get("template") == "otp_code":
            return payload["data"]["code"], payload
    raise AssertionError("no otp_code notification in the outbox")


def count(db: Database, table: str, where: str = "1=1") -> int:
    with db.engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}")).scalar_one()


def find_order(client, merchant: str, order: str, contact: str):
    return client.post(f"/p/{merchant}/find", data={"csrf": csrf_of(client), "order": order, "contact": contact},
                       follow_redirects=False)


def sign_in_customer(client, db: Database, merchant: str, order: str, contact: str) -> None:
    """Finds the order, reads the code from the outbox and enters it, like the customer would."""
    found = find_order(client, merchant, order, contact)
    assert found.status_code == 303, found.text
    challenge = found.headers["location"].split("c=", 1)[1]
    code, _ = last_code(db)
    done = client.post(f"/p/{merchant}/verify", data={"csrf": csrf_of(client), "challenge": challenge, "code": code},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/p/{merchant}/orders", done.text


def sign_in_staff(client, email: str, password: str) -> None:
    done = client.post("/staff/login", data={"csrf": csrf_of(client), "email": email, "password": password,
                                             "next": "/staff/"}, follow_redirects=False)
    assert done.status_code == 303, done.text
