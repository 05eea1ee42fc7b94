"""Pickup (上门取件) booked through the fake Kuaidi100 and printed on the label; the AfterShip-style hook's HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pypdfium2
import pytest

from sqlalchemy import select

from returnflow.cases.models import Case
from returnflow.db import utcnow
from returnflow.errors import Conflict
from returnflow.flows import events, move
from returnflow.jobs.worker import Worker
from returnflow.logistics.flows import PICKUP_CLAIM
from returnflow.logistics.models import PickupClaim
from tests.support.kuaidi100 import configure, start_fake_kuaidi100, use_fake
from tests.support.returns import WAREHOUSE, case_awaiting_return, shop_with_warehouse

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

PICKUP = {"carrier": "SF", "day": "tomorrow", "start": "09:00", "end": "11:00",
          "address": "北京市朝阳区望京街 9 号 3 单元 501", "contact": "张三", "phone": "13800138000"}


@pytest.fixture
def fake(monkeypatch):
    provider = start_fake_kuaidi100()
    use_fake(monkeypatch, provider)
    yield provider
    provider.stop()


def label_text(client, shop, case) -> str:
    r = client.get(f"/api/v1/cases/{case['number']}/return-label.pdf", headers=shop.headers())
    assert r.status_code == 200
    return pypdfium2.PdfDocument(r.content)[0].get_textpage().get_text_range()


def test_a_pickup_is_booked_stored_on_the_parcel_and_printed_on_the_label(client, db, fake):
    shop = shop_with_warehouse(db, client)
    configure(client, shop, fake, pickup_enabled=True)
    case = case_awaiting_return(client, shop, db)
    info = client.get(f"/api/v1/cases/{case['number']}/return-instructions", headers=shop.headers()).json()
    assert info["pickup_available"] is True

    r = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(),
                    json={"version": case["version"], **PICKUP})
    assert r.status_code == 201, r.text
    booking = fake.stats()["bookings"]
    assert len(booking) == 1
    sent = booking[0]["param"]
    assert sent["kuaidicom"] == "shunfeng" and sent["dayType"] == "明天" and sent["pickupStartTime"] == "09:00"
    assert sent["sendManPrintAddr"] == PICKUP["address"] and sent["recManPrintAddr"] == WAREHOUSE["address"]
    assert sent["recManMobile"] == WAREHOUSE["phone"] and case["number"] in sent["remark"]

    shipment = r.json()["shipment"]
    assert shipment["tracking_number"] == booking[0]["kuaidinum"] and shipment["carrier"] == "SF"
    assert shipment["pickup"]["booking_ref"] == booking[0]["taskId"]
    assert shipment["pickup"]["waybill"] == booking[0]["kuaidinum"]
    assert r.json()["case"]["state"] == "return_in_transit"

    text = label_text(client, shop, case)
    assert booking[0]["kuaidinum"] in text and booking[0]["taskId"] in text and "上门取件" in text
    assert "09:00–11:00" in text

    Worker(db).run_once()  # the booked parcel is tracked like any return parcel
    assert booking[0]["kuaidinum"] in fake.stats()["subscriptions"]

    twice = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(),
                        json={"version": r.json()["case"]["version"], **PICKUP})
    assert twice.status_code == 409 and len(fake.stats()["bookings"]) == 1


def test_pickup_is_refused_clearly_where_it_is_not_offered_or_the_window_is_wrong(client, db, fake):
    shop = shop_with_warehouse(db, client)
    configure(client, shop, fake)  # Kuaidi100 set up, pickups not enabled
    case = case_awaiting_return(client, shop, db)
    r = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(**{"Accept-Language": "zh-CN"}),
                    json={"version": case["version"], **PICKUP})
    assert r.status_code == 409 and r.json()["error"]["code"] == "pickup_not_offered"
    assert "上门取件" in r.json()["error"]["message"]

    configure(client, shop, None, pickup_enabled=True)
    backwards = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(**{"Accept-Language": "en"}),
                            json={"version": case["version"], **PICKUP, "start": "15:00", "end": "11:00"})
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "end"

    fake.config(fail_next=1)
    down = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(**{"Accept-Language": "en"}),
                       json={"version": case["version"], **PICKUP})
    assert down.status_code == 503 and "drop the parcel off" in down.json()["error"]["message"]
    assert fake.stats()["bookings"] == []
    shipments = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert shipments == []


def _aftership(secret: str, ts: int, number: str = "SF1234567890123") -> tuple[bytes, str]:
    body = json.dumps({"event": "tracking_update", "ts": ts, "msg": {
        "slug": "sf-express", "tracking_number": number, "checkpoints": [
            {"checkpoint_time": "2026-11-25T09:00:00+08:00", "message": "Out for delivery", "tag": "OutForDelivery",
             "location": "Beijing"}]}}).encode()
    return body, base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_the_aftership_hook_checks_its_hmac_and_its_age(client, db):
    shop = shop_with_warehouse(db, client)
    secret = "aftership-webhook-secret-for-the-test"
    view = configure(client, shop, None, aftership_secret=secret)
    assert secret not in json.dumps(view) and view["aftership_secret"].endswith(secret[-4:])
    url = view["hooks"]["aftership"]
    case = case_awaiting_return(client, shop, db)
    client.post(f"/api/v1/cases/{case['number']}/return-shipment", headers=shop.headers(),
                json={"version": case["version"], "carrier": "SF", "tracking_number": "SF1234567890123"})

    body, sign = _aftership(secret, int(time.time()))
    ok = client.post(url, content=body, headers={"aftership-hmac-sha256": sign, "Content-Type": "application/json"})
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    shipments = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert shipments[0]["status"] == "out_for_delivery"

    _, wrong = _aftership("another-secret", int(time.time()))
    bad = client.post(url, content=body, headers={"aftership-hmac-sha256": wrong, "Accept-Language": "zh-CN"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "bad_signature"
    assert "签名" in bad.json()["error"]["message"]
    tampered = body.replace(b"Out for delivery", b"Delivered here")
    assert client.post(url, content=tampered, headers={"aftership-hmac-sha256": sign}).status_code == 401

    old_body, old_sign = _aftership(secret, int(time.time()) - 3600)  # signed right, but an hour old: replayed
    stale = client.post(url, content=old_body, headers={"aftership-hmac-sha256": old_sign})
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale_hook"

    wrong_token = client.post(url[:-4] + "abcd", content=body, headers={"aftership-hmac-sha256": sign})
    assert wrong_token.status_code == 401 and wrong_token.json()["error"]["code"] == "bad_hook_token"
    again = client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()
    assert len(again[0]["events"]) == 1  # nothing refused was stored


def test_tracking_settings_are_for_supervisors_and_name_bad_values(client, db):
    shop = shop_with_warehouse(db, client)
    agent = client.put("/api/v1/logistics/settings/tracking", headers=shop.headers("agent"),
                       json={"pickup_enabled": True})
    assert agent.status_code == 403
    bad = client.put("/api/v1/logistics/settings/tracking", headers=shop.headers("admin"),
                     json={"provider": "shunfeng"})
    assert bad.status_code == 422 and "provider" in bad.json()["error"]["message"]


def test_the_generic_format_at_the_merchants_url_needs_no_staff_token_but_the_right_one(client, db):
    shop = shop_with_warehouse(db, client)
    hooks = configure(client, shop, None)["hooks"]
    event = {"carrier": "SF", "tracking_number": "SF1234567890123",
             "events": [{"status": "in_transit", "occurred_at": "2026-11-25T01:00:00+00:00", "location": "上海"}]}
    ok = client.post(hooks["generic"], json=event)
    assert ok.status_code == 200 and ok.json()["accepted"] == 1 and ok.json()["unmatched"] == 1
    assert client.post(hooks["generic"], json=event).json()["duplicates"] == 1
    other = client.post(hooks["correios"].replace("/correios/", "/generic/"), json=event)  # another provider's token
    assert other.status_code == 401 and other.json()["error"]["code"] == "bad_hook_token"
    bad = client.post(hooks["generic"], json={**event, "carrier": "PIGEON"}, headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and "carrier" in bad.json()["error"]["message"]


def test_two_pickup_requests_at_once_book_the_courier_once(app, client, db, fake):
    """A double click, or a retry while the carrier is still booking: one booking, the other told why."""
    import threading

    from tests.support.asgi import TestClient

    shop = shop_with_warehouse(db, client)
    configure(client, shop, fake, pickup_enabled=True)
    case = case_awaiting_return(client, shop, db)
    fake.config(booking_delay=1.0)
    answers = []

    def ask():
        with TestClient(app) as own:
            answers.append(own.post(f"/api/v1/cases/{case['number']}/pickup",
                                    headers={**shop.headers(), "Accept-Language": "en"},
                                    json={"version": case["version"], **PICKUP}))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    fake.config(booking_delay=0)
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    assert refused["field"] == "pickup" and "being booked or was booked already" in refused["message"]
    assert len(fake.stats()["bookings"]) == 1


def test_a_pickup_the_carrier_could_not_book_may_be_asked_again(client, db, fake):
    shop = shop_with_warehouse(db, client)
    configure(client, shop, fake, pickup_enabled=True)
    case = case_awaiting_return(client, shop, db)
    fake.config(fail_next=1)
    down = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(),
                       json={"version": case["version"], **PICKUP})
    assert down.status_code == 503 and fake.stats()["bookings"] == []
    again = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(),
                        json={"version": case["version"], **PICKUP})
    assert again.status_code == 201, again.text
    assert len(fake.stats()["bookings"]) == 1
    twice = client.post(f"/api/v1/cases/{case['number']}/pickup", headers=shop.headers(),
                        json={"version": again.json()["case"]["version"], **PICKUP})
    assert twice.status_code == 409 and len(fake.stats()["bookings"]) == 1
    # The booking moved through its declared table (logistics/flows.PICKUP_CLAIM), one event row per move; the
    # refused third request moved nothing, and the table itself refuses booking it twice.
    with db.read() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == case["number"]))
        moved = [(e.action, e.from_state, e.to_state) for e in events(session, PICKUP_CLAIM.kind, case_id)]
    assert moved == [("claim", None, "booking"), ("fail", "booking", "failed"), ("reclaim", "failed", "booking"),
                     ("book", "booking", "booked")]
    with pytest.raises(Conflict), db.transaction() as session:
        move(session, PICKUP_CLAIM, session.get(PickupClaim, case_id), "book", by=shop.actors["agent"].ref,
             role="agent", at=utcnow())
