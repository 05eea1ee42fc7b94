"""Orders pushed by a signed webhook: the body of POST /api/v1/orders, signed with the merchant's secret over the
timestamp and the raw body. Forged, stale and replayed pushes are refused in plain words and write nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from tests.support.portal import count
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

ORDER = {"number": "S-1", "currency": "CNY", "delivered_at": "2026-11-04T10:00:00+08:00",
         "customer": {"id": "C-S", "phone": "13800003333", "wechat_openid": "oSIGNED_1"},
         "lines": [{"sku": "SKU-A", "unit_price": "100.00", "quantity": 1}]}


def signed(secret: str, body: bytes, *, at: int | None = None, delivery: str | None = None) -> dict:
    stamp = str(at if at is not None else int(time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Returnflow-Timestamp": stamp, "X-Returnflow-Signature": f"sha256={mac}",
               "Content-Type": "application/json", "Accept-Language": "en"}
    if delivery:
        headers["X-Returnflow-Delivery"] = delivery
    return headers


def test_a_signed_push_creates_the_order_once_and_forged_stale_or_replayed_ones_write_nothing(client, db):
    shop = make_shop(db, "sg")
    body = json.dumps(ORDER).encode()
    off = client.post("/api/v1/orders/signed/sg", content=body, headers=signed("whatever", body))
    assert off.status_code == 401 and "signing secret" in off.json()["error"]["message"]
    assert client.post("/api/v1/order-signing-secret", headers=shop.headers("agent")).status_code == 403
    made = client.post("/api/v1/order-signing-secret", headers=shop.headers("admin"))
    assert made.status_code == 201 and made.json()["url"] == "/api/v1/orders/signed/sg"
    secret = made.json()["secret"]

    forged = client.post("/api/v1/orders/signed/sg", content=body, headers=signed("not-the-secret", body))
    assert forged.status_code == 401 and "signature does not match" in forged.json()["error"]["message"]
    tampered = json.dumps({**ORDER, "number": "S-2"}).encode()
    assert client.post("/api/v1/orders/signed/sg", content=tampered,
                       headers=signed(secret, body)).status_code == 401  # a signature of another body
    stale = client.post("/api/v1/orders/signed/sg", content=body,
                        headers={**signed(secret, body, at=int(time.time()) - 3600), "Accept-Language": "zh-CN"})
    assert stale.status_code == 401 and "5 分钟" in stale.json()["error"]["message"]
    unsigned = client.post("/api/v1/orders/signed/sg", content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    far = client.post("/api/v1/orders/signed/sg", content=body, headers=signed(secret, body, at=999_999_999_999))
    assert far.status_code == 401  # a timestamp thousands of years away is stale, not a crash
    assert count(db, "orders") == 0 and count(db, "order_hook_seen") == 0

    ok = client.post("/api/v1/orders/signed/sg", content=body, headers=signed(secret, body, delivery="d-1"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["number"] == "S-1" and ok.json()["paid_total"] == "100.00"
    replayed = client.post("/api/v1/orders/signed/sg", content=body, headers=signed(secret, body, delivery="d-1"))
    assert replayed.status_code == 409 and "already received" in replayed.json()["error"]["message"]
    # The same delivery id with a fresh signature (a re-signed retry) is the same push.
    again = client.post("/api/v1/orders/signed/sg", content=body,
                        headers=signed(secret, body, at=int(time.time()) - 1, delivery="d-1"))
    assert again.status_code == 409
    assert count(db, "orders") == 1
    assert count(db, "customers", "wechat_openid = 'oSIGNED_1'") == 1
    got = client.get("/api/v1/orders/S-1", headers=shop.headers())
    assert got.status_code == 200 and got.json()["lines"][0]["sku"] == "SKU-A"


def test_a_signed_push_with_a_bad_body_says_which_field_and_writes_nothing(client, db):
    shop = make_shop(db, "sb")
    secret = client.post("/api/v1/order-signing-secret", headers=shop.headers("admin")).json()["secret"]
    body = json.dumps({**ORDER, "currency": "XXX"}).encode()
    r = client.post("/api/v1/orders/signed/sb", content=body, headers=signed(secret, body))
    assert r.status_code == 422 and "currency" in r.json()["error"]["field"]
    assert count(db, "orders") == 0 and count(db, "order_hook_seen") == 0  # the push may be corrected and sent
    other = make_shop(db, "sc")
    body = json.dumps({**ORDER, "merchant": other.code}).encode()
    r = client.post("/api/v1/orders/signed/sb", content=body, headers=signed(secret, body))
    assert r.status_code == 422 and count(db, "orders") == 0
