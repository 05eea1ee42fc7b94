"""Notifications and webhooks leave through real conversations with local processes: an SMTP server (aiosmtpd)
and fake HTTP providers. Failures wait, retry with backoff, show their error to admins and end dead-lettered."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from returnflow.cases.store import enqueue
from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from returnflow.notify.models import InAppMessage
from returnflow.notify.webhooks import SIGNATURE, verify
from tests.support.processes import fake_http, free_port, requests_seen, smtp_server
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.slow
T0 = datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc)  # after everything the tests write at the real now


def open_case(client, shop, **extra) -> dict:
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}], **extra})
    assert r.status_code == 201, r.text
    return r.json()


def messages(db, topic=None):
    with db.read() as s:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if topic:
            stmt = stmt.where(OutboxMessage.topic == topic)
        return list(s.scalars(stmt))


def test_the_customer_gets_an_email_on_the_receiving_smtp_server_and_an_in_app_message(client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    case = open_case(client, shop)
    with smtp_server(tmp_path / "mail") as (port, box):
        worker = Worker(db, DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="desk@shop.test"))
        done = worker.run_once(timers=False)
        assert done.messages == {"sent": 2}
        received = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in box]
    assert len(received) == 1
    mail = received[0]
    assert mail["To"] == "C-1@example.com" and mail["From"] == "desk@shop.test"
    assert mail["Subject"] == f"售后申请已受理：{case['number']}"
    assert f"售后单号 {case['number']}" in mail.get_content()
    with db.read() as s:
        inbox = s.scalars(select(InAppMessage)).all()
    assert [(m.recipient, m.template) for m in inbox] == [(f"customer:{inbox[0].recipient.split(':')[1]}",
                                                           "case_opened")]
    assert {m.status for m in messages(db)} == {"sent"}


def test_an_unreachable_smtp_server_keeps_the_message_waiting_with_its_error_shown_to_admins(client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    open_case(client, shop)
    port = free_port()  # nothing listens here yet
    settings = DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, outbox_backoff_seconds=60)
    worker = Worker(db, settings)
    assert worker.run_once(T0, timers=False).messages == {"sent": 1, "retry": 1}
    listed = client.get("/api/v1/outbox?status=pending", headers=shop.headers("admin")).json()
    assert len(listed) == 1 and listed[0]["payload"]["channel"] == "email"
    assert "unreachable" in listed[0]["last_error"] and listed[0]["attempts"] == 1
    assert worker.run_once(T0 + timedelta(seconds=59), timers=False).messages == {}  # backing off
    with smtp_server(tmp_path / "mail") as (real_port, box):
        settings.smtp_port = real_port
        assert worker.run_once(T0 + timedelta(seconds=60), timers=False).messages == {"sent": 1}
        assert len(list(box)) == 1
    attempts = client.get(f"/api/v1/outbox/{listed[0]['id']}/attempts", headers=shop.headers("admin")).json()
    assert [a["ok"] for a in attempts] == [False, True]


def test_a_webhook_receiver_failing_three_times_then_succeeding_gets_exactly_one_accepted_delivery(
        client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    log = tmp_path / "hook.jsonl"
    with fake_http(log, fail=3) as url:
        r = client.post("/api/v1/webhooks", headers=shop.headers("admin"), json={"url": f"{url}/erp/hook"})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        case = open_case(client, shop)
        worker = Worker(db, DeliverySettings(outbox_backoff_seconds=10))
        outcomes = []
        for minute in range(8):  # 10 s, 20 s, 40 s backoff: the 4th try is 70 s in
            outcomes.append(worker.run_once(T0 + timedelta(seconds=minute * 15), timers=False).messages
                            .get("sent", 0))
    seen = requests_seen(log)
    assert [x["status"] for x in seen] == [500, 500, 500, 200]
    assert len({x["headers"]["X-Returnflow-Delivery"] for x in seen}) == 1
    accepted = seen[-1]
    assert verify(secret, accepted["headers"][SIGNATURE], accepted["body"].encode())
    assert not verify("whsec_wrong", accepted["headers"][SIGNATURE], accepted["body"].encode())
    import json

    body = json.loads(accepted["body"])
    assert body["type"] == "case.open" and body["case"] == case["number"] and body["to_state"] == "pending_review"
    [hook] = messages(db, "webhook")
    assert hook.status == "sent" and hook.attempts == 4
    attempts = client.get(f"/api/v1/outbox/{hook.id}/attempts", headers=shop.headers("admin")).json()
    assert [a["status_code"] for a in attempts] == [500, 500, 500, 200]


def test_a_delivery_that_keeps_failing_is_dead_lettered_and_can_be_replayed(client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    log = tmp_path / "hook.jsonl"
    with fake_http(log, fail=2) as url:
        client.post("/api/v1/webhooks", headers=shop.headers("admin"), json={"url": url, "events": ["open"]})
        open_case(client, shop)
        worker = Worker(db, DeliverySettings(outbox_backoff_seconds=1, outbox_max_attempts=2))
        worker.run_once(T0, timers=False)
        worker.run_once(T0 + timedelta(seconds=5), timers=False)
        [hook] = messages(db, "webhook")
        assert hook.status == "dead"
        dead = client.get("/api/v1/outbox?status=dead&topic=webhook", headers=shop.headers("admin")).json()
        assert [d["id"] for d in dead] == [hook.id] and "HTTP 500" in dead[0]["last_error"]
        r = client.post("/api/v1/outbox/replay", headers=shop.headers("admin"), json={"ids": [hook.id]})
        assert r.json() == {"replayed": 1}
        assert worker.run_once(timers=False).messages.get("sent") == 1
    assert [x["status"] for x in requests_seen(log)] == [500, 500, 200]


def test_an_sms_provider_answering_garbage_is_a_failure_that_retries(client, db, tmp_path):
    shop = make_shop(db)
    log = tmp_path / "sms.jsonl"
    with db.transaction() as s:
        enqueue(s, merchant_id=shop.id, case_id=None, topic="notify", at=T0, payload={
            "channel": "sms", "to": "+8613800000000", "locale": "zh-CN", "template": "otp_code",
            "data": {"code": "123456", "minutes": 5}})
    with fake_http(log, answer="garbage") as url:
        worker = Worker(db, DeliverySettings(sms_url=f"{url}/sms", sms_token="t0ken"))
        assert worker.run_once(T0, timers=False).messages == {"retry": 1}
    [sent] = requests_seen(log)
    import json

    assert json.loads(sent["body"])["text"] == "您的验证码是 123456，5 分钟内有效。请勿告诉他人。"
    assert sent["headers"]["Authorization"] == "Bearer t0ken"
    listed = client.get("/api/v1/outbox", headers=shop.headers("admin")).json()
    assert "garbage" in listed[0]["last_error"]
    with fake_http(tmp_path / "sms2.jsonl") as url:
        worker = Worker(db, DeliverySettings(sms_url=f"{url}/sms"))
        assert worker.run_once(T0 + timedelta(hours=1), timers=False).messages == {"sent": 1}


def test_a_message_whose_data_lacks_a_placeholder_waits_with_the_missing_field_named(client, db):
    shop = make_shop(db)
    with db.transaction() as s:
        enqueue(s, merchant_id=shop.id, case_id=None, topic="notify", at=T0, payload={
            "channel": "in_app", "to": "user:1", "locale": "en", "template": "otp_code", "data": {"code": "1"}})
    assert Worker(db, DeliverySettings()).run_once(T0, timers=False).messages == {"retry": 1}
    [listed] = client.get("/api/v1/outbox", headers=shop.headers("admin")).json()
    assert listed["status"] == "pending" and "{minutes}" in listed["last_error"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_return_instructions_reach_the_customer_with_the_address_in_their_language(client, db, tmp_path,
                                                                                     locale):
    from returnflow.notify.templates import readable
    from tests.support.returns import WAREHOUSE, case_awaiting_return, shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, "O-1")
    with db.transaction() as s:  # the customer reads this language (the case keeps its customer's details)
        for m in s.scalars(select(OutboxMessage)):
            if m.payload.get("template") == "return_instructions":
                m.payload = {**m.payload, "locale": locale}
    with smtp_server(tmp_path / "mail") as (port, box):
        worker = Worker(db, DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="desk@shop.test"))
        done = worker.run_once(T0, timers=False)
        received = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in box]
    assert "retry" not in done.messages and "dead" not in done.messages, done.messages
    mails = [m for m in received if case["number"] in m["Subject"] and "100" in m.get_content()]
    assert len(mails) == 1, [m["Subject"] for m in received]
    text = mails[0].get_content()
    if locale == "en":
        assert mails[0]["Subject"] == f"Please send the item back: {case['number']}"
        assert (f"上海退货仓, {WAREHOUSE['address']} (100 Zhangjiang Rd, Pudong, Shanghai), 201203, "
                "李四 021-12345678") in text
    else:
        assert f"上海退货仓、{WAREHOUSE['address']}、201203、李四 021-12345678" in text
        assert "Zhangjiang" not in text
    assert f"{case['number']}" in text and "{" not in text and "'warehouse'" not in text
    # A message queued before the fix (the case number only as `case`, the address as data) reads the same.
    assert readable({"case": "AS1", "address": {"name": "A", "address": "B", "address_en": ""}}, "en") == {
        "case": "AS1", "number": "AS1", "address": "A, B"}
