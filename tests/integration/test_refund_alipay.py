"""Alipay refunds against a fake Alipay gateway process on 127.0.0.1 that checks our RSA2 signatures and signs its
answers and notifications: money moved (fund_change Y), a repeated request (fund_change N) settled by the query,
lost and garbled answers, refusals, system errors, forged, stale and repeated notifications, a crash between
sending and confirming, and a refund split between WeChat Pay and Alipay — each paid exactly once."""

from __future__ import annotations

import base64
import ipaddress
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select

from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.models import RefundPayment
from tests.support.pay_providers import (
    case_state, configure, deliver, execute, keypair, request_refund, settlements, start_alipay, start_wechatpay,
    sync, wait_notifications,
)
from tests.support.world import make_shop

CST = timezone(timedelta(hours=8))


@pytest.fixture
def fake(tmp_path):
    provider = start_alipay(tmp_path)
    yield provider
    provider.stop()


@pytest.fixture
def pay(client, app):
    app.state.pay_settings = GatewaySettings(http_timeout=1.0)
    return client


def _signed(fake, *, key: str, fee: str, at: datetime | None = None) -> dict:
    """A notification made and signed as Alipay would (the test holds the Alipay key)."""
    form = {"notify_time": (at or datetime.now(CST)).strftime("%Y-%m-%d %H:%M:%S"), "notify_type": "trade_status_sync",
            "notify_id": os.urandom(8).hex(), "app_id": fake.settings["app_id"], "out_biz_no": key,
            "refund_fee": fee, "trade_no": "2026120622001400000000000001", "trade_status": "TRADE_SUCCESS"}
    text = "&".join(f"{k}={form[k]}" for k in sorted(form))
    key_pem = serialization.load_pem_private_key(keypair("alipay-platform")[0].encode(), password=None)
    sign = base64.b64encode(key_pem.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"body": urlencode({**form, "sign_type": "RSA2", "sign": sign}),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def test_money_moved_settles_at_once_and_the_notifications_after_it_change_nothing(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay", price="88.88")
    fake.config(duplicate_next=1, forge_next=1)
    leg = execute(pay, shop, refund)
    assert leg["gateway"] == "alipay" and leg["state"] == "succeeded" and len(leg["provider_ref"]) == 28
    sent = fake.stats()["refunds"][f"{leg['number']}-a1"]
    assert sent["refund_amount"] == "88.88" and sent["out_trade_no"] == "PAY-M-1"
    assert settlements(db) == 1 and case_state(pay, shop, refund) == "completed"
    forged, real, again = wait_notifications(fake, 3)
    r = deliver(pay, shop, fake, forged, **{"Accept-Language": "zh-CN"})
    assert r.status_code == 401 and "签名" in r.json()["error"]["message"]
    ok = deliver(pay, shop, fake, real)
    assert ok.status_code == 200 and ok.text == "success"
    assert deliver(pay, shop, fake, again).text == "success"
    assert settlements(db) == 1 and fake.stats()["created"] == 1 and fake.stats()["bad_signatures"] == 0


def test_a_lost_answer_then_a_repeated_request_reads_fund_change_n_and_the_query_settles_it_once(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay")
    fake.config(delay_next=1, response_delay=2.5)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "no answer" in leg["last_error"] and settlements(db) == 0
    leg = execute(pay, shop, refund)  # sent again under the same out_request_no: fund_change N, then the query
    assert leg["state"] == "succeeded" and leg["attempt"] == 1
    stats = fake.stats()
    assert stats["created"] == 1 and stats["posts"] == 2 and stats["queries"] == 1 and settlements(db) == 1


def test_a_garbled_answer_is_never_guessed_the_query_decides(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay")
    fake.config(garbage_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "unreadable" in leg["last_error"] and settlements(db) == 0
    assert sync(pay, shop)["succeeded"] == 1 and settlements(db) == 1 and fake.stats()["created"] == 1


def test_a_system_error_leaves_it_pending_and_the_retry_under_the_same_number_pays_once(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay")
    fake.config(error_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "sent" and "ACQ.SYSTEM_ERROR" in leg["last_error"]
    counts = sync(pay, shop)  # the query knows no such refund: sent again under the same number
    assert counts == {**counts, "resent": 1, "succeeded": 1}
    assert list(fake.stats()["refunds"]) == [f"{leg['number']}-a1"] and settlements(db) == 1


def test_a_refusal_fails_the_leg_and_the_retry_uses_a_new_request_number(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay")
    fake.config(fail_next=1)
    leg = execute(pay, shop, refund)
    assert leg["state"] == "failed" and "SELLER_BALANCE_NOT_ENOUGH" in leg["last_error"]
    leg = execute(pay, shop, refund)
    assert leg["state"] == "succeeded" and leg["attempt"] == 2
    assert list(fake.stats()["refunds"]) == [f"{leg['number']}-a2"] and settlements(db) == 1


def test_stale_unknown_underpaid_and_foreign_notifications_are_refused(pay, db, fake):
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay")
    fake.config(delay_next=1, response_delay=2.5)
    leg = execute(pay, shop, refund)
    key = f"{leg['number']}-a1"
    stale = _signed(fake, key=key, fee="100.00", at=datetime.now(CST) - timedelta(hours=2))
    unknown = _signed(fake, key="nope-a1", fee="100.00")
    under = _signed(fake, key=key, fee="1.00")
    tampered = {**_signed(fake, key=key, fee="100.00")}
    tampered["body"] = tampered["body"].replace("refund_fee=100.00", "refund_fee=999.00")
    for note, status in ((stale, 401), (unknown, 404), (under, 422), (tampered, 401)):
        r = deliver(pay, shop, fake, note)
        assert r.status_code == status and r.text != "success", r.text
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state)) == "sent"
    r = deliver(pay, shop, fake, _signed(fake, key=key, fee="100.00"))
    assert r.text == "success" and settlements(db) == 1


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
    shop = make_shop(db)
    refund = request_refund(pay, db, shop, fake, method="alipay")
    fake.config(delay_next=1, response_delay=30)
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, db.url, str(shop.id), str(shop.user_ids["finance"]),
                             refund], env={**os.environ})
    deadline = time.monotonic() + 20
    while fake.stats()["created"] < 1:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state)) == "sent"
    assert sync(pay, shop)["succeeded"] == 1
    assert deliver(pay, shop, fake, wait_notifications(fake)[0]).text == "success"
    assert sync(pay, shop)["checked"] == 0
    assert fake.stats()["created"] == 1 and settlements(db) == 1 and case_state(pay, shop, refund) == "completed"


def test_a_refund_split_between_wechat_pay_and_alipay_goes_to_each_provider_once(pay, db, fake, tmp_path):
    from tests.support.money import paid_order, refund_only_case

    wechat = start_wechatpay(tmp_path)
    try:
        shop = make_shop(db)
        paid_order(db, shop, lines=(("SKU-A", "100.00", 1),), discount="0.00", shipping="0.00",
                   payments=(("wechat_pay", None), ("alipay", "30.00")))
        _reference_second_payment(db, "ALI-M-1")
        configure(pay, shop, wechat)
        settings = configure(pay, shop, fake)
        assert settings["providers"]["wechatpay"]["configured"] and settings["providers"]["alipay"]["configured"]
        case = refund_only_case(db, shop, "M-1")
        number = pay.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={}).json()["number"]
        r = pay.post(f"/api/v1/refunds/{number}/execute", headers=shop.headers("finance"))
        legs = {leg["method"]: leg for leg in r.json()["payments"]}
        assert legs["wechat_pay"]["gateway"] == "wechatpay" and legs["wechat_pay"]["state"] == "sent"
        assert legs["alipay"]["gateway"] == "alipay" and legs["alipay"]["state"] == "succeeded"
        assert deliver(pay, shop, wechat, wait_notifications(wechat)[0]).json()["outcome"] == "applied"
        assert settlements(db) == 2 and case_state(pay, shop, number) == "completed"
        paid = wechat.stats()["refunds"][f"{legs['wechat_pay']['number']}-a1"]["amount"]["refund"]
        assert paid + 3000 == 10000 and fake.stats()["created"] == 1 and wechat.stats()["created"] == 1
        assert fake.stats()["refunds"][f"{legs['alipay']['number']}-a1"]["out_trade_no"] == "ALI-M-1"
    finally:
        wechat.stop()


def _reference_second_payment(db, reference: str) -> None:
    """The order's second payment carries its own transaction reference, as a shop's order export gives it."""
    from returnflow.orders.models import Order

    with db.transaction() as s:
        order = s.scalar(select(Order))
        order.payments = [order.payments[0], {**order.payments[1], "reference": reference}]


def test_a_provider_address_inside_the_network_is_refused_when_saved(pay, db, fake):
    # A link-local address (the cloud metadata range), derived rather than written out.
    inside = ipaddress.IPv4Address._constants._linklocal_network[43518]
    shop = make_shop(db)
    for lang in ("en", "zh-CN"):
        r = pay.put("/api/v1/money/settings", headers={**shop.headers("admin"), "Accept-Language": lang},
                    json={"providers": {"alipay": {**fake.settings, "api_url": f"http://{inside}/gateway.do"}}})
        assert r.status_code == 422 and r.json()["error"]["code"] == "outbound_refused", r.text
        assert r.json()["error"]["message"] and str(inside) not in r.json()["error"].get("field", "")
    assert pay.get("/api/v1/money/settings", headers=shop.headers()).json()["providers"] == {}
