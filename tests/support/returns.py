"""A shop with return warehouses and cases brought to 'awaiting return' through the API."""

from __future__ import annotations

from returnflow.orders.models import Category
from tests.support.world import make_order, make_shop

WAREHOUSE = {"name": "上海退货仓", "contact": "李四", "phone": "021-12345678",
             "address": "上海市浦东新区张江路 100 号", "address_en": "100 Zhangjiang Rd, Pudong, Shanghai",
             "postcode": "201203", "carriers": ["SF", "YTO"], "is_default": True}


def shop_with_warehouse(db, client, *, auto_receive=False):
    shop = make_shop(db)
    with db.transaction() as session:
        session.add(Category(merchant_id=shop.id, code="electronics", name_zh="数码", name_en="Electronics",
                             attributes={"sanbao": True, "checklist": ["serial number", "CCC mark"]}))
    r = client.put("/api/v1/return-addresses/SH", headers=shop.headers("admin"),
                   json={**WAREHOUSE, "auto_receive_on_delivery": auto_receive})
    assert r.status_code == 200, r.text
    return shop


def case_awaiting_return(client, shop, db, order="O-1", lines=None, type_="return_refund", category="general",
                         claim=None, **extra):
    """A case on a new order `order` (lines: (sku, price, qty)); it claims `claim` [(line_no, qty)] or everything."""
    make_order(db, shop, order, category=category, **({"lines": lines} if lines else {}))
    claim = claim or ([(1, 2)] if not lines else [(i + 1, q) for i, (_, _, q) in enumerate(lines)])
    body = {"order": order, "type": type_, "channel": "portal",
            "lines": [{"line_no": no, "quantity": q} for no, q in claim], **extra}
    case = client.post("/api/v1/cases", headers=shop.headers(), json=body).json()
    case = client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                       json={"version": case["version"],
                             # the test orders are past the return window: approving overrides the policy
                             "payload": {"override_reason": "approved against the policy for the test"}}).json()
    assert case["state"] == "awaiting_return", case
    return case


def ship_back(client, shop, case, carrier="SF", number="SF1234567890123"):
    r = client.post(f"/api/v1/cases/{case['number']}/return-shipment", headers=shop.headers(),
                    json={"version": case["version"], "carrier": carrier, "tracking_number": number})
    assert r.status_code == 201, r.text
    return r.json()["case"]
