"""Customers are told on the channels they chose (pushed with their orders), within what the merchant can reach."""

from __future__ import annotations

from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from tests.support.world import make_shop

ORDER = {"number": "O-CH", "currency": "CNY", "delivered_at": "2026-11-04T10:00:00+08:00",
         "lines": [{"sku": "SKU-A", "unit_price": "100.00", "quantity": 1}]}


def channels_of_opening(client, db, shop, customer: dict, number: str) -> list[str]:
    r = client.post("/api/v1/orders", headers=shop.headers(), json={**ORDER, "number": number, "customer": customer})
    assert r.status_code == 200, r.text
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": number, "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
    assert case.status_code == 201, case.text
    with db.read() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify")).all()
    return sorted(m.payload["channel"] for m in rows if m.payload.get("template") == "case_opened"
                  and m.case_id is not None and m.payload["data"]["number"] == case.json()["number"])


def test_customers_get_the_channels_they_chose_within_what_the_merchant_can_reach(client, db):
    shop = make_shop(db)
    assert client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json={"notify_sms": True}).status_code == 200
    default = {"id": "C-D", "email": "d@example.com", "phone": "13800000001"}
    assert channels_of_opening(client, db, shop, default, "O-1") == ["email", "in_app", "sms"]
    sms_only = {"id": "C-S", "email": "s@example.com", "phone": "13800000002", "channels": ["sms"]}
    assert channels_of_opening(client, db, shop, sms_only, "O-2") == ["in_app", "sms"]
    push = {"id": "C-P", "email": "p@example.com", "channels": ["push", "email"]}  # push is off at this merchant
    assert channels_of_opening(client, db, shop, push, "O-3") == ["email", "in_app"]
    # A later order without `channels` keeps the customer's choice.
    again = {"id": "C-S", "email": "s@example.com", "phone": "13800000002"}
    assert channels_of_opening(client, db, shop, again, "O-4") == ["in_app", "sms"]


def test_an_unknown_channel_is_refused_and_nothing_is_stored(client, db):
    shop = make_shop(db)
    r = client.post("/api/v1/orders", headers=shop.headers(), json={
        **ORDER, "customer": {"id": "C-X", "channels": ["pigeon"]}}, params={}, )
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("customer.channels")
    assert client.get("/api/v1/orders/O-CH", headers=shop.headers()).status_code == 404
