"""The notifications settings page lists every kind of delivery row the code queues (in words, never a topic
code), and nothing is queued without a destination: a disposition with no webhook endpoint queues no webhook."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import func, select

from returnflow.cases.models import OutboxMessage
from returnflow.cases.models import WebhookEndpoint
from tests.support.asgi import TestClient
from tests.support.portal import sign_in_staff
from tests.support.returns import case_awaiting_return, shop_with_warehouse

OK = {"original_item": True, "signs_of_use": False, "accessories_complete": True, "packaging_intact": True,
      "defect_confirmed": None}


def admin(app, code="shop", lang="en") -> TestClient:
    web = TestClient(app, headers={"Accept-Language": lang})
    sign_in_staff(web, f"admin@{code}.test", "pw-admin")
    return web


def disposed(client, db, shop):
    """A case received, inspected and restocked through the warehouse API."""
    case = case_awaiting_return(client, shop, db)
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": case["number"]})
    assert r.status_code == 201, r.text
    line = case["lines"][0]["id"]
    r = client.post(f"/api/v1/cases/{case['number']}/inspections", headers=shop.headers("warehouse"),
                    json={"lines": [{"line_id": line, "checklist": OK, "grade": "A", "verdict": "accept"}]})
    assert r.status_code in (200, 201), r.text
    r = client.post(f"/api/v1/cases/{case['number']}/dispositions", headers=shop.headers("warehouse"),
                    json={"line_id": line, "kind": "restock", "units": [1]})
    assert r.status_code == 201, r.text
    return case


def topics(db) -> list[str]:
    with db.read() as s:
        return [m.topic for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_the_page_answers_after_a_disposition_and_no_webhook_is_queued_without_an_endpoint(app, client, db):
    shop = shop_with_warehouse(db, client)
    disposed(client, db, shop)
    assert "webhook" not in topics(db)
    web = admin(app)
    page = web.get("/staff/settings/notifications")
    assert page.status_code == 200
    assert "Inventory movement" in page.text
    assert "No webhook receivers are set" in page.text
    zh = admin(app, lang="zh-CN").get("/staff/settings/notifications")
    assert zh.status_code == 200


def test_every_kind_of_delivery_row_renders_in_words_in_both_languages(app, client, db):
    from returnflow.notify.outbox import HANDLERS

    shop = shop_with_warehouse(db, client)
    kinds = set(HANDLERS) | {"inventory_movement"}
    assert {"notify", "webhook", "customer_charge"} <= kinds
    payloads = {
        "notify": [{"channel": "email", "to": "customer:1", "locale": "en", "template": "case_opened", "data": {}},
                   {"channel": "in_app", "to": "user:1", "template": "no_such_template"}],
        "webhook": [{"endpoint_id": 1, "event": {"type": "case.approve"}},
                    {"event": "inventory.movement", "data": {}},  # written so before this fix: no endpoint
                    {"endpoint_id": 2, "event": {"type": "inventory.movement", "data": {}}}],
        "customer_charge": [{"charge": "C-1", "op": "hold"}],
        "inventory_movement": [{"sku": "SKU-A", "quantity": 1}],
    }
    t0 = datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc)
    with db.transaction() as s:
        for topic in sorted(kinds):
            for payload in payloads.get(topic, [{"unexpected": ["shape"]}]):
                s.add(OutboxMessage(merchant_id=shop.id, topic=topic, payload=payload, status="dead", attempts=3,
                                    available_at=t0, created_at=t0))
        s.add(OutboxMessage(merchant_id=shop.id, topic="something_new", payload={"x": 1}, status="pending",
                            attempts=0, available_at=t0, created_at=t0))
        s.add(OutboxMessage(merchant_id=shop.id, topic="notify", payload={"channel": "sms", "to": "customer:1",
              "template": "otp_code", "data": {"code": "123456"}}, status="sent", attempts=1, available_at=t0,
              created_at=t0, secret=True))
    for lang, words in (("en", ("Email: Request received", "Webhook: Approved", "Webhook: Inventory movement",
                                "Inventory movement (kept", "Other message", "Charge or hold")),
                        ("zh-CN", ())):
        page = admin(app, lang=lang).get("/staff/settings/notifications")
        assert page.status_code == 200, (lang, page.text[-500:])
        found = [cell.strip() for cell in re.findall(r"<td>([^<]*)</td>", page.text)]
        cells = " ".join(found)
        for code in kinds | {"something_new", "case.approve", "inventory.movement", "in_app", "123456"}:
            if lang == "en" and code.isalpha():  # a plain word (marketplace) may be a word of the English sentence
                assert code not in found, (lang, code)
            else:
                assert code not in cells, (lang, code)
        for text in words:
            assert text in page.text, (lang, text)
        # The log's columns say what is in them: the recipient is not headed as a date range's end.
        headers = re.findall(r'<th scope="col">([^<]*)</th>', page.text)
        recipient, message = ("Recipient", "Message sent") if lang == "en" else ("接收方", "发送的消息")
        assert recipient in headers and message in headers and "结束日期" not in headers, (lang, headers)


def test_a_disposition_goes_as_a_webhook_to_each_receiver_that_wants_it(app, client, db):
    shop = shop_with_warehouse(db, client)
    with db.transaction() as s:
        s.add(WebhookEndpoint(merchant_id=shop.id, url="http://127.0.0.1:9/all", secret="whsec_a", events=[]))
        s.add(WebhookEndpoint(merchant_id=shop.id, url="http://127.0.0.1:9/approve", secret="whsec_b",
                              events=["approve"]))
    disposed(client, db, shop)
    with db.read() as s:
        hooks = [m.payload for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "webhook"))
                 if (m.payload.get("event") or {}).get("type") == "inventory.movement"]
        endpoint = s.scalar(select(func.min(WebhookEndpoint.id)))
    assert [h["endpoint_id"] for h in hooks] == [endpoint] and hooks[0]["event"]["data"]["sku"] == "SKU-A"


def test_every_notification_kind_the_code_queues_has_its_template_and_a_name(db):
    """The refund's completion notice had no template (every one went dead): now each has wording and a name."""
    from returnflow.notify import templates
    from returnflow.pages import settings_words
    from tests.support.world import make_shop

    assert set(templates.BUILTIN) <= set(settings_words.TEMPLATES)
    shop = make_shop(db, "tpl", return_address=False)
    with db.read() as s:
        subject, body = templates.render(s, shop.id, "refund_completed", "en",
                                         {"case": "AS1", "refund": "RF1", "amount": "87.75", "currency": "CNY"})
    assert subject == "Refund completed: AS1" and "87.75 CNY" in body and "RF1" in body
