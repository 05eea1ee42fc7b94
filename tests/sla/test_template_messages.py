"""Template messages: the portal's one-time code and customer notices go out as the merchant's approved Aliyun SMS
and WeChat templates, against local fake services that check the request shape and Aliyun's RPC signature as the
real ones do. Without an approved template the portal does not offer the channel and the settings say so; a
parameter longer than the provider takes, or a template the provider refuses, is recorded with the reason, never
sent cut short, and surfaced to staff."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from returnflow.jobs.worker import Worker
from returnflow.notify import wechat
from returnflow.notify.config import DeliverySettings, get_delivery_settings
from returnflow.notify.models import DeliveryAttempt
from tests.support.asgi import TestClient
from tests.support.portal import count, find_order, last_code, recent_order, sign_in_staff
from tests.support.processes import fake_cn, requests_seen
from tests.support.world import make_shop

pytestmark = pytest.mark.slow
EN = {"Accept-Language": "en"}
ALIYUN = ["--key-id", "AK-test", "--key-secret", "sk-test/+=*~", "--sign", "退货服务",
          "--template", "SMS_100:code,min", "--template", "SMS_300:no,why"]


def aliyun(url: str = "http://127.0.0.1:9", **more) -> DeliverySettings:
    return DeliverySettings(sms_provider="aliyun", aliyun_sms_url=url + "/", aliyun_access_key_id="AK-test",
                            aliyun_access_key_secret="sk-test/+=*~", **more)


@pytest.fixture
def shop(db):
    shop = make_shop(db, "tm")
    recent_order(db, shop.id, "O-1", email="buyer@example.com", phone="13800001111")
    return shop


def put(client, shop, channel, key, **body):
    return client.put(f"/api/v1/notify/provider-templates/{channel}/{key}", json=body,
                      headers=shop.headers("admin", **EN))


def notices(db, template: str, channel: str) -> list[OutboxMessage]:
    with db.read() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify").order_by(OutboxMessage.id))
        return [m for m in rows if m.payload.get("template") == template and m.payload.get("channel") == channel]


def last_error(db, outbox_id: int) -> str:
    with db.read() as s:
        return s.scalars(select(DeliveryAttempt.error).where(DeliveryAttempt.outbox_id == outbox_id)
                         .order_by(DeliveryAttempt.id.desc())).first()


def test_the_portal_code_goes_out_as_the_approved_aliyun_template_signed_as_aliyun_checks(app, client, db, shop,
                                                                                          tmp_path):
    app.state.delivery_settings = aliyun()
    web = TestClient(app, headers=EN)
    # No approved template for the code: the portal does not offer text messages, and writes nothing.
    refused = find_order(web, "tm", "O-1", "13800001111")
    assert refused.status_code == 409 and "Enter the email address used for the order instead" in refused.text
    assert count(db, "portal_codes") == 0
    admin = TestClient(app, headers=EN)
    sign_in_staff(admin, "admin@tm.test", "pw-admin")
    page = admin.get("/staff/settings/notifications").text
    assert "No approved template for this channel: Text messages (Aliyun SMS)." in page
    assert "The portal does not offer sign-in codes on it." in page

    # Bad input is refused in the user's words, nothing stored.
    bad = put(client, shop, "sms", "otp_code", template_id="123", sign_name="退货服务", params={"code": "code"})
    assert bad.status_code == 422 and "SMS_123456789" in bad.json()["error"]["message"]
    zh = client.put("/api/v1/notify/provider-templates/sms/otp_code", headers=shop.headers("admin"),
                    json={"template_id": "SMS_100", "sign_name": "退货服务", "params": {"code": "order_total"}})
    assert zh.status_code == 422 and "只能取本模板的字段" in zh.json()["error"]["message"]
    assert put(client, shop, "sms", "otp_code", template_id="SMS_100", sign_name="",
               params={"code": "code"}).status_code == 422
    assert client.get("/api/v1/notify/provider-templates", headers=shop.headers("admin")).json() == []

    ok = put(client, shop, "sms", "otp_code", template_id="SMS_100", sign_name="退货服务",
             params={"code": "code", "min": "minutes"})
    assert ok.status_code == 200 and ok.json()["provider"] == "aliyun"
    assert "The portal does not offer sign-in codes on it." not in admin.get("/staff/settings/notifications").text

    found = find_order(web, "tm", "O-1", "13800001111")
    assert found.status_code == 303, found.text
    code, payload = last_code(db)
    assert payload["channel"] == "sms"
    log = tmp_path / "aliyun.jsonl"
    with fake_cn("aliyun", log, *ALIYUN) as url:
        assert Worker(db, aliyun(url)).run_once(timers=False).messages == {"sent": 1}
    [seen] = requests_seen(log)
    assert seen["answer"]["Code"] == "OK", seen["answer"]
    params = dict(parse_qsl(seen["body"]))
    assert (params["PhoneNumbers"], params["SignName"], params["TemplateCode"]) == ("13800001111", "退货服务",
                                                                                     "SMS_100")
    assert json.loads(params["TemplateParam"]) == {"code": code, "min": "10"}
    assert last_code(db)[1]["data"]["code"] is None  # delivered: the code left the database


def test_a_refused_template_and_a_too_long_parameter_are_recorded_and_never_sent_cut_short(app, client, db, shop,
                                                                                           tmp_path):
    assert client.put("/api/v1/sla/settings", headers=shop.headers("admin"),
                      json={"notify_sms": True}).status_code == 200
    assert put(client, shop, "sms", "case_opened", template_id="SMS_999", sign_name="退货服务",
               params={"no": "number"}).status_code == 200  # not approved at Aliyun
    assert put(client, shop, "sms", "case_rejected", template_id="SMS_300", sign_name="退货服务",
               params={"no": "number", "why": "reason"}).status_code == 200
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
    assert case.status_code == 201, case.text
    number = case.json()["number"]
    assert case.json()["state"] == "pending_review", case.json()["state"]
    why = "The mug arrived in one piece according to the courier's photo."  # 63 characters: over Aliyun's 35
    rejected = client.post(f"/api/v1/cases/{number}/actions/reject", headers=shop.headers("supervisor"),
                           json={"version": case.json()["version"], "payload": {"reason": why}})
    assert rejected.status_code == 200, rejected.text
    log = tmp_path / "aliyun.jsonl"
    with fake_cn("aliyun", log, *ALIYUN) as url:
        Worker(db, aliyun(url)).run_once(timers=False)
    [opened] = notices(db, "case_opened", "sms")
    [declined] = notices(db, "case_rejected", "sms")
    assert opened.status == "dead" and declined.status == "dead"  # no retry can help either
    assert "not approved" in last_error(db, opened.id) and "SMS_999" in last_error(db, opened.id)
    assert "more than the 35" in last_error(db, declined.id) and "not sent" in last_error(db, declined.id)
    # Aliyun was asked once (the refused template); the too long reason never left, whole or cut.
    assert [dict(parse_qsl(r["body"]))["TemplateCode"] for r in requests_seen(log)] == ["SMS_999"]
    # Staff see why on the outbox, in plain words.
    listed = client.get("/api/v1/outbox", headers=shop.headers("admin", **EN)).json()
    assert any("more than the 35" in (m["last_error"] or "") for m in listed)


def test_wechat_subscribe_messages_use_the_pushed_openid_and_a_cached_access_token(app, client, db, shop, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setenv("RETURNFLOW_WECHAT_APPID", "wx-app")
    # The deployment names WeChat's API base (the fake's own address is given to the worker below).
    monkeypatch.setenv("RETURNFLOW_WECHAT_API_URL", "http://127.0.0.1:9")
    get_delivery_settings.cache_clear()
    wechat.forget_tokens()
    try:
        assert put(client, shop, "wechat", "case_opened", template_id="TPL-opened-0001",
                   params={"character_string1": "number", "thing2": "state_label"}).status_code == 200
        wrong = put(client, shop, "wechat", "case_opened", template_id="TPL-opened-0001", params={"foo": "number"})
        assert wrong.status_code == 422 and "not a parameter name" in wrong.json()["error"]["message"]
        pushed = client.post("/api/v1/orders", headers=shop.headers(), json={
            "number": "W-1", "currency": "CNY", "delivered_at": "2026-11-04T10:00:00+08:00",
            "customer": {"id": "C-W", "phone": "13800002222", "wechat_openid": "oOPENID_w1"},
            "lines": [{"sku": "SKU-A", "unit_price": "100.00", "quantity": 1}]})
        assert pushed.status_code == 200, pushed.text
        for _ in range(2):
            r = client.post("/api/v1/cases", headers=shop.headers(), json={
                "order": "W-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
            assert r.status_code == 201, r.text
            client.post(f"/api/v1/cases/{r.json()['number']}/actions/cancel", headers=shop.headers(),
                        json={"version": r.json()["version"], "payload": {"reason": "twice"}})
        log = tmp_path / "wechat.jsonl"
        with fake_cn("wechat", log, "--appid", "wx-app", "--secret", "wx-secret",
                     "--template", "TPL-opened-0001:character_string1,thing2") as url:
            settings = DeliverySettings(wechat_api_url=url, wechat_appid="wx-app", wechat_secret="wx-secret")
            Worker(db, settings).run_once(timers=False)
        sent = notices(db, "case_opened", "wechat")
        assert [m.status for m in sent] == ["sent", "sent"]
        seen = requests_seen(log)
        assert [r["path"] for r in seen].count("/cgi-bin/token") == 1  # fetched once, then kept
        sends = [json.loads(r["body"]) for r in seen if r["path"] == "/cgi-bin/message/subscribe/send"]
        assert len(sends) == 2 and all(r["answer"].get("errcode", 0) == 0 for r in seen)
        assert {s["touser"] for s in sends} == {"oOPENID_w1"} and sends[0]["template_id"] == "TPL-opened-0001"
        assert set(sends[0]["data"]) == {"character_string1", "thing2"}
    finally:
        get_delivery_settings.cache_clear()
        wechat.forget_tokens()


def test_a_wrong_access_key_secret_is_caught_by_the_signature_check_and_retried(app, client, db, shop, tmp_path):
    app.state.delivery_settings = aliyun()
    assert put(client, shop, "sms", "otp_code", template_id="SMS_100", sign_name="退货服务",
               params={"code": "code", "min": "minutes"}).status_code == 200
    assert find_order(TestClient(app, headers=EN), "tm", "O-1", "13800001111").status_code == 303
    code, _ = last_code(db)
    log = tmp_path / "aliyun.jsonl"
    with fake_cn("aliyun", log, *ALIYUN) as url:
        wrong = aliyun(url).model_copy(update={"aliyun_access_key_secret": "sk-test"})
        assert Worker(db, wrong).run_once(timers=False).messages == {"retry": 1}
    [seen] = requests_seen(log)
    assert seen["answer"]["Code"] == "SignatureDoesNotMatch"
    [message] = client.get("/api/v1/outbox", headers=shop.headers("admin", **EN)).json()
    assert "SignatureDoesNotMatch" in message["last_error"] and code not in message["last_error"]
    assert last_code(db)[1]["data"]["code"] == code  # kept for the retry, which a corrected key will pass
