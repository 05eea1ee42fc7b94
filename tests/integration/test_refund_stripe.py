"""Stripe refunds for a cross-border merchant against a fake Stripe process on 127.0.0.1: Idempotency-Key per leg,
asynchronous outcome by signed webhook (Stripe-Signature), lost answers settled by the query, refusals, system
errors, forged, stale and repeated events, and a crash between sending and confirming — each paid exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.models import RefundPayment
from returnflow.refunds.providers.stripe import signature
from tests.support.pay_providers import (
    case_state, deliver, execute, settlements, start_stripe, sync, wait_notifications,
)
from tests.support.world import make_shop


@pytest.fixture
def fake(tmp_path):
    provider = start_stripe(tmp_path)
    yield provider
    provider.stop()


@pytest.fixture
def pay(client, app):
    app.state.pay_settings = GatewaySettings(http_timeout=1.0)
    return client


def _refund(pay, db, fake) -> tuple:
    from tests.support.money import paid_order, refund_only_case

    shop = make_shop(db, currency="USD")
    paid_order(db, shop, lines=(("SKU-A", "100.00", 1),), discount="0.00", shipping="0.00",
               payments=(("card", None),), currency="USD")
    r = pay.put("/api/v1/money/settings", headers=shop.headers("admin"),
                json={"gateways": {"card": "stripe"}, "providers": {"stripe": fake.settings}})
    assert r.status_code == 200, r.text
    shown = r.json()["providers"]["stripe"]
    assert shown["secret_key"] == shown["webhook_secret"] == "••••••" and fake.settings["secret_key"] not in r.text
    case = refund_only_case(db, shop, "M-1")
    r = pay.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={})
    assert r.status_code == 201, r.text
    return shop, r.json()["number"]


def test_a_gateway_cannot_be_chosen_before_its_credentials_are_given(pay, db, fake):
    shop = make_shop(db, currency="USD")
    for lang, word in (("en", "not configured"), ("zh-CN", "尚未配置")):
        r = pay.put("/api/v1/money/settings", headers={**shop.headers("admin"), "Accept-Language": lang},
                    json={"gateways": {"card": "stripe"}})
        assert r.status_code == 422 and word in r.json()["error"]["message"], r.text


def test_sent_with_its_key_confirmed_by_a_signed_event_once_and_forged_and_repeated_events_move_nothing(
        pay, db, fake):
    shop, refund = _refund(pay, db, fake)
    fake.config(duplicate_next=1, forge_next=1)
    leg = execute(pay, shop, refund)
    assert leg["gateway"] == "stripe" and leg["state"] == "sent" and leg["provider_ref"].startswith("re_")
    forged, real, again = wait_notifications(fake, 3)
    assert deliver(pay, shop, fake, forged).status_code == 401 and settlements(db) == 0
    assert deliver(pay, shop, fake, real).json()["outcome"] == "applied"
    assert deliver(pay, shop, fake, again).json()["outcome"] == "duplicate"
    event = json.loads(real["body"])
    stale = json.dumps({**event, "id": "evt_stale"}).encode()
    r = pay.post(f"/api/v1/money/webhooks/stripe/{shop.code}", content=stale, headers={
        "Stripe-Signature": signature(fake.settings["webhook_secret"], stale, int(time.time()) - 3600)})
    assert r.status_code == 401
    pending = json.dumps({**event, "id": "evt_pending", "type": "refund.created",
                          "data": {"object": {**event["data"]["object"], "status": "pending"}}}).encode()
    r = pay.post(f"/api/v1/money/webhooks/stripe/{shop.code}", content=pending,
                 headers={"Stripe-Signature": signature(fake.settings["webhook_secret"], pending)})
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"  # acknowledged, not final, moves nothing
    assert settlements(db) == 1 and case_state(pay, shop, refund) == "completed"
    stats = fake.stats()
    assert stats["created"] == 1 and list(stats["refunds"]) == [f"{leg['number']}-a1"]


def test_a_lost_answer_is_settled_by_the_query_and_a_resend_replays_the_same_refund(pay, db, fake):
    shop, refund = _refund(pay, db, fake)
    fake.config(delay_next=1, response_delay=2.5)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "no answer" in leg["last_error"]
    again = execute(pay, shop, refund)  # the same Idempotency-Key: Stripe replays its first answer
    assert again["attempt"] == 1 and fake.stats()["created"] == 1
    wait_notifications(fake)  # lost
    assert sync(pay, shop)["succeeded"] == 1 and settlements(db) == 1 and fake.stats()["queries"] == 1


def test_a_system_error_or_garbage_leaves_it_sent_and_the_query_decides(pay, db, fake):
    shop, refund = _refund(pay, db, fake)
    fake.config(error_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "500" in leg["last_error"] and fake.stats()["created"] == 0
    assert sync(pay, shop)["resent"] == 1  # the query finds nothing under the key: sent again with it
    deliver(pay, shop, fake, wait_notifications(fake)[0])
    assert settlements(db) == 1 and fake.stats()["created"] == 1


def test_a_refusal_fails_the_leg_and_the_retry_uses_a_new_key(pay, db, fake):
    shop, refund = _refund(pay, db, fake)
    fake.config(fail_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "failed" and "charge_already_refunded" in leg["last_error"]
    fake.config(decline_next=1)
    execute(pay, shop, refund)
    assert deliver(pay, shop, fake, wait_notifications(fake)[0]).json()["state"] == "failed"
    leg = execute(pay, shop, refund)
    assert deliver(pay, shop, fake, wait_notifications(fake)[0]).json()["state"] == "succeeded"
    assert leg["attempt"] == 3 and settlements(db) == 1


CRASHER = """
import sys
from returnflow.actor import Actor
from returnflow.db import Database
from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.settle import execute
url, merchant, user, refund = sys.argv[1:]
execute(Database(url), GatewaySettings(http_timeout=30),
        actor=Actor(kind="staff", role="finance", merchant_id=int(merchant), user_id=int(user)), number=refund)
"""


def test_a_crash_between_sending_and_confirming_is_settled_by_the_query_exactly_once(pay, db, fake):
    shop, refund = _refund(pay, db, fake)
    fake.config(delay_next=1, response_delay=30)
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, db.url, str(shop.id), str(shop.user_ids["finance"]),
                             refund], env={**os.environ})
    deadline = time.monotonic() + 20
    while fake.stats()["created"] < 1:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    late = wait_notifications(fake)
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state)) == "sent"
    assert sync(pay, shop)["succeeded"] == 1
    assert deliver(pay, shop, fake, late[0]).json()["outcome"] == "duplicate"
    assert fake.stats()["created"] == 1 and settlements(db) == 1
