"""The shopper chooses drop-off or a courier pickup (上门取件) on the case page, where the shop offers pickups."""

from __future__ import annotations

import pytest

from tests.support.asgi import TestClient
from tests.support.kuaidi100 import configure, start_fake_kuaidi100, use_fake
from tests.support.portal import csrf_of, recent_order, sign_in_customer
from tests.support.world import make_shop

EN = {"Accept-Language": "en-GB,en;q=0.8"}
FORM = {"carrier": "SF", "day": "tomorrow", "window": "13:00-15:00", "address": "北京市朝阳区望京街 9 号",
        "contact": "张三", "phone": "13800138000"}


@pytest.fixture
def fake(monkeypatch):
    provider = start_fake_kuaidi100()
    use_fake(monkeypatch, provider)
    yield provider
    provider.stop()


def test_the_shopper_books_a_pickup_only_where_the_shop_offers_it(app, client, db, fake):
    shop = make_shop(db, "pu")
    recent_order(db, shop.id, "O-100")
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-100", "type": "return_refund", "channel": "portal",
        "lines": [{"line_no": 1, "quantity": 1}]}).json()
    case = client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                       json={"version": case["version"], "payload": {"override_reason": "goodwill"}}).json()
    assert case["state"] == "awaiting_return"
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "pu", "O-100", "buyer@example.com")
    url = f"/p/pu/cases/{case['number']}"
    assert f'{url}/pickup"' not in web.get(url).text  # drop-off only: the shop has not enabled pickups

    refused = web.post(f"{url}/pickup", data={"csrf": csrf_of(web), **FORM})
    assert refused.status_code == 409 and "does not offer courier pickup" in refused.text
    assert fake.stats()["bookings"] == []

    configure(client, shop, fake, pickup_enabled=True)
    page = web.get(url).text
    assert f'{url}/pickup"' in page and "Or have a courier collect the parcel" in page and "13:00–15:00" in page

    missing = web.post(f"{url}/pickup", data={"csrf": csrf_of(web), **FORM, "address": ""})
    assert missing.status_code == 422 and "Enter the address where the courier collects the parcel" in missing.text
    assert 'value="13800138000"' in missing.text and fake.stats()["bookings"] == []  # what was typed stays

    booked = web.post(f"{url}/pickup", data={"csrf": csrf_of(web), **FORM})
    assert booked.status_code == 200, booked.text
    stats = fake.stats()["bookings"]
    assert len(stats) == 1 and stats[0]["param"]["pickupStartTime"] == "13:00"
    assert stats[0]["param"]["sendManMobile"] == "13800138000"
    assert "Courier pickup" in booked.text and stats[0]["taskId"] in booked.text
    assert stats[0]["kuaidinum"] in booked.text and "13:00–15:00" in booked.text
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["state"] == \
        "return_in_transit"
