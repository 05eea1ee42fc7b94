"""WeChat Pay API v3 refunds against a fake WeChat Pay process on 127.0.0.1 that checks our request signatures and
signs (and encrypts) what it sends back: success by notification, duplicate, forged, stale and tampered
notifications, a lost or garbled answer settled by the query, refusals, a crash between sending and confirming —
each refund paid exactly once, with one settlement voucher."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select

from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.models import GatewayWebhook, RefundPayment
from tests.support.pay_providers import (
    case_state, configure, deliver, execute, keypair, request_refund, settlements, start_wechatpay, sync,
    wait_notifications,
)
from tests.support.world import make_shop


@pytest.fixture
def fake(tmp_path):
    provider = start_wechatpay(tmp_path)
    yield provider
    provider.stop()


@pytest.fixture
def pay(client, app):
    app.state.pay_settings = GatewaySettings(http_timeout=1.0)
    return client


def _notification(fake, *, key: str, refund: int, status: str = "SUCCESS", at: int | None = None,
                  event_id: str | None = None) -> dict:
    """A notification made and signed as the platform would (the test holds the platform key)."""
    plain = {"mchid": fake.settings["mchid"], "out_refund_no": key, "refund_id": "503000000001",
             "refund_status": status, "amount": {"total": refund, "refund": refund, "payer_total": refund,
                                                 "payer_refund": refund}}
    nonce = secrets.token_hex(6)
    sealed = AESGCM(fake.settings["api_v3_key"].encode()).encrypt(nonce.encode(), json.dumps(plain).encode(),
                                                                 b"refund")
    body = json.dumps({"id": event_id or secrets.token_hex(8), "event_type": f"REFUND.{status}",
                       "resource_type": "encrypt-resource",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(sealed).decode(),
                                    "associated_data": "refund", "nonce": nonce, "original_type": "refund"}}).encode()
    t, n = str(at or int(time.time())), secrets.token_hex(16)
    key_pem = serialization.load_pem_private_key(keypair("wechat-platform")[0].encode(), password=None)
    signature = base64.b64encode(key_pem.sign(f"{t}\n{n}\n".encode() + body + b"\n", padding.PKCS1v15(),
                                              hashes.SHA256())).decode()
    return {"body": body.decode(), "headers": {"Wechatpay-Timestamp": t, "Wechatpay-Nonce": n,
                                               "Wechatpay-Signature": signature,
                                               "Wechatpay-Serial": fake.settings["platform_serial"],
                                               "Content-Type": "application/json"}}


def test_credentials_are_masked_on_read_kept_when_sent_back_and_a_bad_key_is_refused_by_name(pay, db, fake):
    shop = make_shop(db)
    saved = configure(pay, shop, fake)["providers"]["wechatpay"]
    assert saved["private_key"] == saved["api_v3_key"] == "••••••" and saved["configured"] is True
    read = pay.get("/api/v1/money/settings", headers=shop.headers("finance"))
    assert "PRIVATE KEY" not in read.text and fake.settings["api_v3_key"] not in read.text
    assert read.json()["providers"]["wechatpay"]["mchid"] == fake.settings["mchid"]
    # The mask sent back keeps the stored secrets.
    kept = configure(pay, shop, fake, private_key="••••••", api_v3_key="••••••")["providers"]["wechatpay"]
    assert kept["configured"] is True
    for lang, word in (("en", "private key"), ("zh-CN", "私钥")):
        bad = pay.put("/api/v1/money/settings", headers={**shop.headers("admin"), "Accept-Language": lang},
                      json={"providers": {"wechatpay": {**fake.settings, "private_key": "not a key"}}})
        assert bad.status_code == 422 and word in bad.json()["error"]["message"], bad.text
        assert "not a key" not in bad.text
    short = pay.put("/api/v1/money/settings", headers=shop.headers("admin"),
                    json={"providers": {"wechatpay": {**fake.settings, "api_v3_key": "too-short"}}})
    assert short.status_code == 422 and "32" in short.json()["error"]["message"]
    env = pay.put("/api/v1/money/settings", headers=shop.headers("admin"),
                  json={"providers": {"wechatpay": {**fake.settings, "api_v3_key": "env:HOME"}}})
    assert env.status_code == 422
    assert pay.get("/api/v1/money/settings", headers=shop.headers()).json()["providers"]["wechatpay"][
        "configured"] is True  # nothing written by the refused changes


def test_a_refund_is_sent_signed_confirmed_by_notification_once_and_forged_and_repeated_ones_move_nothing(
        pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(duplicate_next=1, forge_next=1)
    leg = execute(pay, shop, refund)
    assert leg["gateway"] == "wechatpay" and leg["state"] == "sent" and leg["provider_ref"].startswith("503")
    sent = fake.stats()["refunds"]
    assert list(sent) == [f"{leg['number']}-a1"]
    assert sent[f"{leg['number']}-a1"]["amount"] == {**sent[f"{leg['number']}-a1"]["amount"], "refund": 10000,
                                                     "total": 10000, "currency": "CNY"}
    forged, real, again = wait_notifications(fake, 3)
    r = deliver(pay, shop, fake, forged, **{"Accept-Language": "zh-CN"})
    assert r.status_code == 401 and "签名" in r.json()["error"]["message"]
    assert settlements(db) == 0
    first = deliver(pay, shop, fake, real)
    assert first.status_code == 200 and first.json()["code"] == "SUCCESS" and first.json()["outcome"] == "applied"
    dup = deliver(pay, shop, fake, again)
    assert dup.status_code == 200 and dup.json()["outcome"] == "duplicate"
    assert settlements(db) == 1 and case_state(pay, shop, refund) == "completed"
    assert fake.stats()["created"] == 1 and fake.stats()["bad_signatures"] == 0
    again_exec = pay.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance"))
    assert again_exec.status_code == 409 and fake.stats()["posts"] == 1


def test_stale_tampered_unknown_and_wrong_amount_notifications_are_refused_and_logged(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    leg = execute(pay, shop, refund)
    key = f"{leg['number']}-a1"
    real = wait_notifications(fake)[0]
    stale = _notification(fake, key=key, refund=10000, at=int(time.time()) - 3600)
    tampered = {**real, "body": real["body"].replace('"nonce": "', '"nonce": "x')}
    unknown = _notification(fake, key="nope-a1", refund=10000)
    wrong = _notification(fake, key=key, refund=1)
    unsigned = {"body": real["body"], "headers": {"Content-Type": "application/json"}}
    for note, status in ((stale, 401), (tampered, 401), (unknown, 404), (wrong, 422), (unsigned, 401)):
        r = deliver(pay, shop, fake, note)
        assert r.status_code == status, r.text
        assert r.json()["error"]["message"]
    other = make_shop(db, "other")
    assert pay.post(f"/api/v1/money/webhooks/wechatpay/{other.code}", content=real["body"].encode(),
                    headers=real["headers"]).status_code == 404  # not configured there
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state)) == "sent"
        assert s.scalar(select(func.count()).select_from(GatewayWebhook).where(
            GatewayWebhook.outcome == "rejected")) == 6
    assert settlements(db) == 0
    assert deliver(pay, shop, fake, real).json()["outcome"] == "applied" and settlements(db) == 1


def test_a_lost_answer_leaves_the_leg_sent_and_the_query_settles_it_once(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(delay_next=1, response_delay=2.5)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "no answer" in leg["last_error"]
    wait_notifications(fake)  # the notification is lost on the way
    counts = sync(pay, shop)
    assert counts["succeeded"] == 1 and counts["resent"] == 0
    assert fake.stats()["queries"] == 1 and fake.stats()["created"] == 1
    assert settlements(db) == 1 and case_state(pay, shop, refund) == "completed"


def test_a_garbled_answer_is_never_guessed_the_query_decides(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(garbage_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "not verified" in leg["last_error"]
    assert settlements(db) == 0
    wait_notifications(fake)  # settled there; its notification never arrives here
    assert sync(pay, shop)["succeeded"] == 1 and settlements(db) == 1


def test_a_gateway_that_is_down_leaves_the_leg_pending_and_the_retry_pays_once(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(error_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "500" in leg["last_error"] and fake.stats()["created"] == 0
    counts = sync(pay, shop)  # the query finds nothing, so the same out_refund_no is sent again
    assert counts["resent"] == 1 and fake.stats()["created"] == 1
    deliver(pay, shop, fake, wait_notifications(fake)[0])
    assert settlements(db) == 1 and list(fake.stats()["refunds"]) == [f"{leg['number']}-a1"]


def test_a_refusal_fails_the_leg_and_the_retry_uses_a_new_refund_number(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(fail_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "failed" and "NOT_ENOUGH" in leg["last_error"]
    fake.config(decline_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and leg["attempt"] == 2
    assert deliver(pay, shop, fake, wait_notifications(fake)[0]).json()["state"] == "failed"  # REFUND.CLOSED
    leg = execute(pay, shop, refund)
    assert leg["attempt"] == 3
    assert deliver(pay, shop, fake, wait_notifications(fake)[0]).json()["state"] == "succeeded"
    done = [k for k, r in fake.stats()["refunds"].items() if r["status"] == "SUCCESS"]
    assert done == [f"{leg['number']}-a3"] and settlements(db) == 1


def test_an_abnormal_refund_stays_sent_saying_why_and_is_never_sent_under_a_new_number(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(decline_next=1, decline_as="ABNORMAL")
    leg = execute(pay, shop, refund)
    r = deliver(pay, shop, fake, wait_notifications(fake)[0])
    assert r.status_code == 200 and r.json()["state"] == "sent"
    detail = pay.get(f"/api/v1/refunds/{refund}", headers=shop.headers("finance")).json()["payments"][0]
    assert "merchant platform" in detail["last_error"]
    again = execute(pay, shop, refund)  # the same out_refund_no again: WeChat Pay answers with the ABNORMAL refund
    assert again["state"] == "sent" and again["attempt"] == 1
    assert sync(pay, shop)["succeeded"] == 0
    assert list(fake.stats()["refunds"]) == [f"{leg['number']}-a1"] and settlements(db) == 0


def test_a_refund_in_another_currency_is_refused_before_sending(pay, db, fake):
    from tests.support.money import paid_order, refund_only_case

    shop = make_shop(db, currency="USD")
    paid_order(db, shop, lines=(("SKU-A", "100.00", 1),), discount="0.00", shipping="0.00",
               payments=(("wechat", None),), currency="USD")
    configure(pay, shop, fake)
    case = refund_only_case(db, shop, "M-1")
    number = pay.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={}).json()["number"]
    leg = execute(pay, shop, number)
    assert leg["gateway"] == "wechatpay" and leg["state"] == "failed" and "CNY only" in leg["last_error"]
    assert fake.stats()["posts"] == 0 and settlements(db) == 0


CRASHER = """
import sys
from returnflow.actor import Actor
from returnflow.db import Database
from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.settle import execute
url, merchant, user, refund = sys.argv[1:]
execute(Database(url), GatewaySettings(http_timeout=30),
        actor=Actor(kind="staff", role="finance", merchant_id=int(merchant), user_id=int(user)), number=refund)
print("finished")
"""


def test_a_crash_between_sending_and_confirming_is_settled_by_the_query_exactly_once(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    fake.config(delay_next=1, response_delay=30)
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, db.url, str(shop.id), str(shop.user_ids["finance"]),
                             refund], stdout=subprocess.PIPE, env={**os.environ})
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
    assert sync(pay, shop)["checked"] == 0
    assert fake.stats()["created"] == 1 and settlements(db) == 1 and case_state(pay, shop, refund) == "completed"


def test_keys_named_by_environment_reference_are_used_and_shown_only_as_the_reference(pay, db, fake, monkeypatch):
    monkeypatch.setenv("RETURNFLOW_PAY_TEST_WX_KEY", fake.settings["private_key"])
    monkeypatch.setenv("RETURNFLOW_PAY_TEST_WX_V3", fake.settings["api_v3_key"])
    fake.settings = {**fake.settings, "private_key": "env:RETURNFLOW_PAY_TEST_WX_KEY",
                     "api_v3_key": "env:RETURNFLOW_PAY_TEST_WX_V3"}
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="wechat")
    shown = pay.get("/api/v1/money/settings", headers=shop.headers()).json()["providers"]["wechatpay"]
    assert shown["private_key"] == "env:RETURNFLOW_PAY_TEST_WX_KEY" and shown["configured"] is True
    execute(pay, shop, refund)
    assert deliver(pay, shop, fake, wait_notifications(fake)[0]).json()["outcome"] == "applied"
    assert settlements(db) == 1 and fake.stats()["bad_signatures"] == 0
    # The key behind the reference goes bad: nothing is sent, the leg waits saying why, never a 500.
    monkeypatch.setenv("RETURNFLOW_PAY_TEST_WX_KEY", "garbage")
    from tests.support.money import paid_order, refund_only_case

    paid_order(db, shop, "M-2", lines=(("SKU-A", "50.00", 1),), discount="0.00", shipping="0.00",
               payments=(("wechat", None),))
    case = refund_only_case(db, shop, "M-2")
    number = pay.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={}).json()["number"]
    leg = execute(pay, shop, number)
    assert leg["state"] == "sent" and "private key" in leg["last_error"] and fake.stats()["posts"] == 1


def test_finance_sees_the_route_the_providers_refund_number_and_its_last_answer_on_the_case(pay, app, db, fake):
    from tests.support.asgi import TestClient

    from tests.support.money import paid_order, refund_only_case
    from tests.support.portal import sign_in_staff

    shop = make_shop(db)
    paid_order(db, shop, lines=(("SKU-A", "100.00", 1),), discount="0.00", shipping="0.00",
               payments=(("wechat", None),))
    configure(pay, shop, fake)
    case = refund_only_case(db, shop, "M-1")
    number = pay.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={}).json()["number"]
    fake.config(garbage_next=1)
    leg = execute(pay, shop, number)
    web = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(web, f"finance@{shop.code}.test", "pw-finance")
    page = web.get(f"/staff/finance/cases/{case}").text
    assert "Through WeChat Pay" in page and "not verified" in page
    wait_notifications(fake)
    sync(pay, shop)
    page = web.get(f"/staff/finance/cases/{case}").text
    assert pay.get(f"/api/v1/refunds/{number}", headers=shop.headers()).json()["payments"][0]["provider_ref"] in page
    assert leg["number"] in page
