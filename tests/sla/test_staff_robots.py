"""Staff alerts reach 企业微信 and 钉钉 group robots, per merchant and per kind of event, against local fake robots
that check the request shape and DingTalk's signature as the real ones do. A robot answering an error is recorded
and retried, and an alert is sent once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from returnflow.db import utcnow
from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from returnflow.notify.models import DeliveryAttempt
from tests.support.portal import recent_order
from tests.support.processes import fake_cn, requests_seen
from tests.support.world import make_shop

pytestmark = pytest.mark.slow
EN = {"Accept-Language": "en"}
SECRET = "SECtest0123456789"


@pytest.fixture
def shop(db):
    shop = make_shop(db, "rb")
    recent_order(db, shop.id, "O-1")
    return shop


def alerts(db) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "alert").order_by(OutboxMessage.id)))


def open_case(client, shop) -> dict:
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    return r.json()


def test_robot_settings_are_validated_and_kept_per_merchant(client, db, shop):
    other = make_shop(db, "other")
    bad = client.post("/api/v1/notify/robots", headers=shop.headers("admin", **EN), json={
        "kind": "dingtalk", "url": "http://127.0.0.1:1/robot/send?access_token=T", "secret": "nope",
        "events": ["escalation"]})
    assert bad.status_code == 422 and "starts with SEC" in bad.json()["error"]["message"]
    unknown = client.post("/api/v1/notify/robots", headers=shop.headers("admin"), json={
        "kind": "wecom", "url": "http://127.0.0.1:1/cgi-bin/webhook/send?key=K", "events": ["lunch"]})
    assert unknown.status_code == 422 and "提醒只能用于" in unknown.json()["error"]["message"]
    agent = client.post("/api/v1/notify/robots", headers=shop.headers("agent"), json={
        "kind": "wecom", "url": "http://127.0.0.1:1/cgi-bin/webhook/send?key=K", "events": ["escalation"]})
    assert agent.status_code == 403
    made = client.post("/api/v1/notify/robots", headers=shop.headers("admin"), json={
        "kind": "wecom", "url": "http://127.0.0.1:1/cgi-bin/webhook/send?key=K-secret", "events": ["escalation"]})
    assert made.status_code == 201 and "K-secret" not in made.text  # the key in the URL is not shown back
    assert len(client.get("/api/v1/notify/robots", headers=shop.headers("admin")).json()) == 1
    assert client.get("/api/v1/notify/robots", headers=other.headers("admin")).json() == []
    # Another merchant's robots neither alert for this merchant nor can be changed by it.
    assert client.delete(f"/api/v1/notify/robots/{made.json()['id']}",
                         headers=other.headers("admin")).status_code == 404


def test_escalations_and_approvals_reach_a_signed_dingtalk_robot_and_breaches_a_wecom_robot(client, db, shop,
                                                                                            tmp_path):
    wecom_log, ding_log = tmp_path / "wecom.jsonl", tmp_path / "ding.jsonl"
    with fake_cn("wecom", wecom_log, "--key", "K1") as wecom, \
            fake_cn("dingtalk", ding_log, "--token", "T1", "--secret", SECRET) as ding:
        for body in ({"kind": "dingtalk", "url": f"{ding}/robot/send?access_token=T1", "secret": SECRET,
                      "events": ["escalation", "refund_approval"]},
                     {"kind": "wecom", "url": f"{wecom}/cgi-bin/webhook/send?key=K1", "events": ["sla_breach"]}):
            assert client.post("/api/v1/notify/robots", headers=shop.headers("admin"), json=body).status_code == 201
        case = open_case(client, shop)
        escalated = client.post(f"/api/v1/cases/{case['number']}/actions/escalate", headers=shop.headers("agent"),
                                json={"version": case["version"], "payload": {"reason": "customer called twice"}})
        assert escalated.status_code == 200, escalated.text
        assert [a.payload["event"] for a in alerts(db)] == ["escalation"]
        worker = Worker(db, DeliverySettings())
        worker.run_once(timers=False)
        # Far past every deadline of the case: the SLA timers fire, and the breach goes to WeCom only.
        worker.run_once(utcnow() + timedelta(days=30))
        worker.run_once(utcnow() + timedelta(days=30), timers=False)
    assert {a.payload["event"] for a in alerts(db)} >= {"escalation", "sla_breach"}
    assert all(a.status == "sent" for a in alerts(db)), [(a.payload, a.status) for a in alerts(db)]
    [sent] = requests_seen(ding_log)
    assert sent["answer"] == {"errcode": 0, "errmsg": "ok"}  # the fake checked timestamp and sign
    markdown = json.loads(sent["body"])["markdown"]
    assert case["number"] in markdown["text"] and "customer called twice" in markdown["text"]
    breaches = requests_seen(wecom_log)
    assert breaches and all(r["answer"]["errcode"] == 0 for r in breaches)
    assert case["number"] in json.loads(breaches[0]["body"])["markdown"]["content"]


def test_a_robot_answering_an_error_is_retried_and_each_alert_is_sent_once(client, db, shop, tmp_path):
    log = tmp_path / "wecom.jsonl"
    with fake_cn("wecom", log, "--key", "K2", "--fail", "1") as wecom:
        assert client.post("/api/v1/notify/robots", headers=shop.headers("admin"), json={
            "kind": "wecom", "url": f"{wecom}/cgi-bin/webhook/send?key=K2",
            "events": ["dead_letter"]}).status_code == 201
        open_case(client, shop)
        # The customer's email cannot go out (no mail server) and, allowed one try, dies: a dead letter.
        Worker(db, DeliverySettings(outbox_max_attempts=1)).run_once(timers=False)
        dead = alerts(db)
        assert dead and {a.payload["event"] for a in dead} == {"dead_letter"}
        assert "email is not configured" in dead[0].payload["lines"][1]
        worker = Worker(db, DeliverySettings(outbox_backoff_seconds=1))
        worker.run_once(timers=False)
        with db.read() as s:
            errors = s.scalars(select(DeliveryAttempt.error).where(DeliveryAttempt.outbox_id == dead[0].id)).all()
        assert errors[0].startswith("WeCom robot answered errcode 45009")  # recorded, and waiting to retry
        for _ in range(3):  # past the backoff, and again: nothing is sent twice
            worker.run_once(utcnow() + timedelta(minutes=5), timers=False)
    assert [a.status for a in alerts(db)] == ["sent"] * len(dead)  # an alert is never itself alerted on
    ok = [json.loads(r["body"])["markdown"]["content"] for r in requests_seen(log) if r["answer"]["errcode"] == 0]
    assert len(ok) == len(dead) == len(set(ok))
    assert sum(1 for r in requests_seen(log) if r["answer"]["errcode"] != 0) == 1


def test_a_case_sent_up_for_approval_alerts_only_the_robots_that_asked_for_it(client, db, shop, tmp_path):
    log = tmp_path / "ding.jsonl"
    other = make_shop(db, "rb2")
    with fake_cn("dingtalk", log, "--token", "T3", "--secret", SECRET) as ding:
        for who, events in ((shop, ["refund_approval"]), (shop, ["sla_breach"]), (other, ["refund_approval"])):
            assert client.post("/api/v1/notify/robots", headers=who.headers("admin"), json={
                "kind": "dingtalk", "url": f"{ding}/robot/send?access_token=T3", "secret": SECRET,
                "events": events}).status_code == 201
        case = open_case(client, shop)
        sent_up = client.post(f"/api/v1/cases/{case['number']}/actions/require_approval",
                              headers=shop.headers("agent"), json={"version": case["version"], "payload": {}})
        assert sent_up.status_code == 200, sent_up.text
        [alert] = alerts(db)
        assert alert.payload["event"] == "refund_approval" and alert.merchant_id == shop.id
        Worker(db, DeliverySettings()).run_once(timers=False)
    [seen] = requests_seen(log)
    assert seen["answer"]["errcode"] == 0 and case["number"] in json.loads(seen["body"])["markdown"]["text"]
    assert "待审批" in json.loads(seen["body"])["markdown"]["title"]


def test_a_dingtalk_robot_signed_with_the_wrong_secret_refuses_and_the_alert_waits(client, db, shop, tmp_path):
    log = tmp_path / "ding.jsonl"
    with fake_cn("dingtalk", log, "--token", "T4", "--secret", SECRET) as ding:
        assert client.post("/api/v1/notify/robots", headers=shop.headers("admin"), json={
            "kind": "dingtalk", "url": f"{ding}/robot/send?access_token=T4", "secret": "SECnot-the-one",
            "events": ["escalation"]}).status_code == 201
        case = open_case(client, shop)
        assert client.post(f"/api/v1/cases/{case['number']}/actions/escalate", headers=shop.headers("agent"),
                           json={"version": case["version"], "payload": {"reason": "x"}}).status_code == 200
        Worker(db, DeliverySettings()).run_once(timers=False)
    [seen] = requests_seen(log)
    assert seen["answer"]["errcode"] == 310000
    [alert] = alerts(db)
    assert alert.status == "pending"  # retried later (a corrected secret applies to it)
    listed = client.get("/api/v1/outbox", headers=shop.headers("admin", **EN)).json()
    assert any("DingTalk robot answered errcode 310000" in (m["last_error"] or "") for m in listed)
