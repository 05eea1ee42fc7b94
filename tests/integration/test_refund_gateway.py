"""The HTTP gateway against a fake provider process on 127.0.0.1: async confirmation by signed webhook, timeouts,
failures and retries, duplicate and forged webhooks, and a crash between "sent" and "confirmed" — every refund
ends exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from returnflow.refunds.gateways import GatewaySettings, sign
from returnflow.refunds.models import GatewayWebhook, RefundPayment, Voucher
from tests.support.money import paid_order, refund_only_case, start_fake_pay
from tests.support.world import make_shop


@pytest.fixture
def fake():
    provider = start_fake_pay()
    yield provider
    provider.stop()


@pytest.fixture
def pay(client, app, fake):
    app.state.pay_settings = GatewaySettings(http_url=fake.url, http_api_key=fake.api_key,
                                             http_webhook_secret=fake.secret, http_timeout=1.0)
    return client


def _refund(pay, db, amount_lines=(("SKU-A", "100.00", 1),)) -> tuple:
    shop = make_shop(db)
    paid_order(db, shop, lines=amount_lines, discount="0.00", shipping="0.00", payments=(("alipay", None),))
    assert pay.put("/api/v1/money/settings", headers=shop.headers("admin"),
                   json={"gateways": {"alipay": "http"}}).status_code == 200
    case = refund_only_case(db, shop, "M-1")
    r = pay.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={})
    assert r.status_code == 201, r.text
    return shop, case, r.json()["number"]


def _execute(pay, shop, refund) -> dict:
    r = pay.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance"))
    assert r.status_code == 200, r.text
    return r.json()["payments"][0]


def _wait_webhooks(fake, n: int = 1, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found += fake.webhooks()
        if len(found) >= n:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {n} webhooks, got {found}")


def _deliver(pay, hook: dict):
    return pay.post("/api/v1/money/webhooks/http", content=hook["body"].encode(), headers=hook["headers"])


def _settlements(db) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Voucher).where(Voucher.kind == "refund_settlement"))


def test_sent_then_confirmed_by_signed_webhook_and_a_duplicate_changes_nothing(pay, db, fake):
    shop, case, refund = _refund(pay, db)
    leg = _execute(pay, shop, refund)
    assert leg["state"] == "sent" and leg["provider_ref"] == "re_1" and leg["gateway"] == "http"
    hook = _wait_webhooks(fake)[0]
    first = _deliver(pay, hook)
    assert first.status_code == 200 and first.json()["outcome"] == "applied", first.text
    dup = _deliver(pay, hook)
    assert dup.status_code == 200 and dup.json()["outcome"] == "duplicate"
    assert _settlements(db) == 1
    detail = pay.get(f"/api/v1/cases/{case}", headers=shop.headers()).json()
    assert detail["state"] == "resolved" and detail["refunds"][0]["state"] == "completed"
    # executing again after success is refused and sends nothing
    again = pay.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "refund_state"
    assert fake.stats()["posts"] == 1
    recon = pay.get("/api/v1/money/reconciliation", params={"period": _period()}, headers=shop.headers("finance"))
    assert recon.json()["matched"] == 1 and recon.json()["mismatches"] == []


def test_a_timeout_leaves_it_sent_and_resending_under_the_same_key_pays_once(pay, db, fake):
    shop, case, refund = _refund(pay, db)
    fake.config(delay_next=1, response_delay=2.5)
    leg = _execute(pay, shop, refund)
    assert leg["state"] == "sent" and "no answer" in leg["last_error"]
    resent = _execute(pay, shop, refund)  # same idempotency key: the provider answers with the refund it has
    assert resent["state"] in ("sent", "succeeded") and resent["attempt"] == 1
    hooks = _wait_webhooks(fake)
    for hook in hooks:
        assert _deliver(pay, hook).status_code == 200
    assert fake.stats()["created"] == 1 and _settlements(db) == 1
    assert pay.get(f"/api/v1/cases/{case}", headers=shop.headers()).json()["state"] == "resolved"


def test_a_refused_refund_fails_and_a_retry_uses_a_new_key(pay, db, fake):
    shop, case, refund = _refund(pay, db)
    fake.config(fail_next=1)
    leg = _execute(pay, shop, refund)
    assert leg["state"] == "failed" and "402" in leg["last_error"]
    assert pay.get(f"/api/v1/cases/{case}", headers=shop.headers()).json()["state"] == "resolving"
    leg = _execute(pay, shop, refund)
    assert leg["state"] == "sent" and leg["attempt"] == 2
    assert leg["history"][-1]["retried"] is True
    _deliver(pay, _wait_webhooks(fake)[0])
    stats = fake.stats()
    assert stats["created"] == 1 and list(stats["refunds"])[0].endswith("-a2")
    assert _settlements(db) == 1


def test_an_async_decline_fails_the_leg_then_the_retry_succeeds(pay, db, fake):
    shop, case, refund = _refund(pay, db)
    fake.config(decline_next=1)
    _execute(pay, shop, refund)
    assert _deliver(pay, _wait_webhooks(fake)[0]).json()["state"] == "failed"
    leg = _execute(pay, shop, refund)
    assert leg["attempt"] == 2
    assert _deliver(pay, _wait_webhooks(fake)[0]).json()["state"] == "succeeded"
    succeeded = [r for r in fake.stats()["refunds"].values() if r["status"] == "succeeded"]
    assert len(succeeded) == 1 and _settlements(db) == 1


def test_forged_replayed_unknown_and_wrong_amount_webhooks_are_refused_logged_and_move_nothing(pay, db, fake):
    shop, case, refund = _refund(pay, db)
    leg = _execute(pay, shop, refund)
    real = _wait_webhooks(fake)[0]
    event = json.loads(real["body"])
    key = event["data"]["idempotency_key"]

    def signed(data: dict, timestamp=None) -> dict:
        body = json.dumps(data).encode()
        return {"body": body.decode(), "headers": {"Pay-Signature": sign(fake.secret, body, timestamp),
                                                   "Content-Type": "application/json"}}

    forged = {"body": real["body"].replace(str(event["data"]["amount"]), "1"), "headers": real["headers"]}
    wrong_amount = signed({**event, "id": "evt_x1", "data": {**event["data"], "amount": 1}})
    wrong_currency = signed({**event, "id": "evt_x2", "data": {**event["data"], "currency": "USD"}})
    unknown = signed({**event, "id": "evt_x3", "data": {**event["data"], "idempotency_key": "nope"}})
    replayed = signed(event, timestamp=int(time.time()) - 3600)
    unsigned = {"body": real["body"], "headers": {"Content-Type": "application/json"}}
    for hook, status in [(forged, 401), (wrong_amount, 422), (wrong_currency, 422), (unknown, 404), (replayed, 401),
                         (unsigned, 401)]:
        r = _deliver(pay, hook)
        assert r.status_code == status, (hook, r.text)
        assert r.json()["error"]["message"]
    zh = pay.post("/api/v1/money/webhooks/http", content=forged["body"].encode(),
                  headers={**forged["headers"], "Accept-Language": "zh-CN"})
    assert "签名" in zh.json()["error"]["message"]
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state).where(RefundPayment.idempotency_key == key)) == "sent"
        assert s.scalar(select(func.count()).select_from(GatewayWebhook).where(
            GatewayWebhook.outcome == "rejected")) == 7
    assert _settlements(db) == 0
    recon = pay.get("/api/v1/money/reconciliation", params={"period": _period()}, headers=shop.headers("finance"))
    assert len(recon.json()["mismatches"]) == 7
    assert _deliver(pay, real).json()["outcome"] == "applied" and leg["number"]


CRASHER = """
import sys
from returnflow.actor import Actor
from returnflow.db import Database
from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.settle import execute
url, pay_url, key, secret, merchant, user, refund = sys.argv[1:]
execute(Database(url), GatewaySettings(http_url=pay_url, http_api_key=key, http_webhook_secret=secret,
        http_timeout=30), actor=Actor(kind="staff", role="finance", merchant_id=int(merchant), user_id=int(user)),
        number=refund)
print("finished")
"""


def test_a_crash_between_sent_and_confirmed_ends_exactly_once(pay, db, fake):
    shop, case, refund = _refund(pay, db)
    # The provider takes the refund but answers slowly; our process dies while waiting, and the webhook is lost.
    fake.config(delay_next=1, response_delay=30)
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, db.url, fake.url, fake.api_key, fake.secret,
                             str(shop.id), str(shop.user_ids["finance"]), refund], stdout=subprocess.PIPE,
                            env={**os.environ})
    deadline = time.monotonic() + 20
    while fake.stats()["created"] < 1:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    lost = _wait_webhooks(fake)
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state)) == "sent"  # decided and sent; the outcome never recorded
    # Recovery asks the provider by idempotency key: succeeded there, so succeeded here — once.
    r = pay.post("/api/v1/money/sync", params={"older_than_seconds": 0}, headers=shop.headers("finance"))
    assert r.status_code == 200 and r.json()["succeeded"] == 1, r.text
    assert _deliver(pay, lost[0]).json()["outcome"] == "duplicate"  # the lost webhook turns up late
    assert pay.post("/api/v1/money/sync", params={"older_than_seconds": 0},
                    headers=shop.headers("finance")).json()["checked"] == 0
    assert fake.stats()["created"] == 1 and _settlements(db) == 1
    assert pay.get(f"/api/v1/cases/{case}", headers=shop.headers()).json()["state"] == "resolved"


def test_a_crash_before_the_call_is_recovered_by_resending_under_the_same_key(pay, db, fake):
    from returnflow.refunds.settle import begin

    shop, case, refund = _refund(pay, db)
    with db.transaction() as session:  # the leg is marked sent, then the process dies before calling out
        begin(session, actor=shop.actors["finance"], number=refund)
    r = pay.post("/api/v1/money/sync", params={"older_than_seconds": 0}, headers=shop.headers("finance"))
    assert r.json()["resent"] == 1
    _deliver(pay, _wait_webhooks(fake)[0])
    assert fake.stats()["created"] == 1 and _settlements(db) == 1


def _period() -> str:
    from returnflow.db import utcnow
    from returnflow.refunds.ledger import period_of

    return period_of(utcnow())
