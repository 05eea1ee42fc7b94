"""The SLA and notification settings through the API: clear refusals in zh-CN and en, nothing changed by bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from returnflow.notify.models import FollowUpTask
from tests.support.flows import open_for, run
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

FUTURE = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_sla_settings_refuse_an_auto_action_the_system_may_not_take_in_both_languages(client, db):
    shop = make_shop(db)
    body = {"steps": {"review": {"hours": 24, "auto_action": "close"}}}
    en = client.put("/api/v1/sla/settings", headers=shop.headers("admin", **{"Accept-Language": "en"}), json=body)
    zh = client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json=body)
    assert en.status_code == zh.status_code == 422
    assert en.json()["error"]["field"] == "steps.review.auto_action"
    assert "approve" in en.json()["error"]["allowed"] and "not an action the system may take" in \
        en.json()["error"]["message"]
    assert "系统在此步骤可自动执行" in zh.json()["error"]["message"]
    current = client.get("/api/v1/sla/settings", headers=shop.headers()).json()
    assert current["settings"]["steps"]["review"]["auto_action"] is None  # nothing changed


def test_sla_settings_refuse_unknown_steps_calendars_and_impossible_hours(client, db):
    shop = make_shop(db)
    h = shop.headers("admin", **{"Accept-Language": "en"})
    cases = [({"steps": {"reviw": {}}}, "steps.reviw"), ({"calendar": "mars"}, "calendar"),
             ({"steps": {"review": {"hours": -1}}}, "steps.review.hours"),
             ({"steps": {"review": {"hours": 1, "business_hours": 2}}}, "steps.review"),
             ({"work_start": "25:00"}, "work_start"), ({"timezone": "Mars/Base"}, "timezone"),
             ({"holiday": True}, "holiday")]
    for body, field in cases:
        r = client.put("/api/v1/sla/settings", headers=h, json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert client.put("/api/v1/sla/settings", headers=shop.headers("agent"), json={}).status_code == 403


def test_a_case_shows_its_timers_and_the_settings_apply_to_new_cases(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    r = client.put("/api/v1/sla/settings", headers=shop.headers("admin"),
                   json={"calendar": "weekdays", "steps": {"review": {"business_hours": 4, "rule": "M.review"}}})
    assert r.status_code == 200 and r.json()["settings"]["steps"]["review"] == {
        "business_hours": 4, "remind_before_hours": 2, "auto_action": None, "rule": "M.review"}
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    timers = client.get(f"/api/v1/cases/{number}/timers", headers=shop.headers()).json()
    assert {(t["kind"], t["action"], t["rule"], t["status"]) for t in timers} == {
        ("review.due", "escalate", "M.review", "pending"), ("review.remind", None, "M.review", "pending")}
    run(db, number, "approve", shop.actors["agent"])
    timers = client.get(f"/api/v1/cases/{number}/timers", headers=shop.headers()).json()
    assert {(t["kind"], t["status"]) for t in timers} == {
        ("review.due", "cancelled"), ("review.remind", "cancelled"), ("customer_shipping.due", "pending"),
        ("customer_shipping.remind", "pending")}


def test_a_merchant_template_with_a_missing_placeholder_is_refused_and_a_good_one_is_used(client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    bad = client.put("/api/v1/notify/templates/case_opened/en", headers=shop.headers("admin", **{
        "Accept-Language": "en"}), json={"subject": "Hi {customer}", "body": "Case {number}"})
    assert bad.status_code == 422
    err = bad.json()["error"]
    assert err["field"] == "subject" and "{customer}" in err["message"] and "number" in err["allowed"]
    zh = client.put("/api/v1/notify/templates/case_opened/zh-CN", headers=shop.headers("admin"),
                    json={"subject": "{oops.attr}", "body": "x"})
    assert zh.status_code == 422 and "占位符" in zh.json()["error"]["message"]
    unknown = client.put("/api/v1/notify/templates/nope/zh-CN", headers=shop.headers("admin"), json={"body": "x"})
    assert unknown.status_code == 404 and "otp_code" in unknown.json()["error"]["allowed"]
    ok = client.put("/api/v1/notify/templates/case_opened/zh-CN", headers=shop.headers("admin"),
                    json={"subject": "已收到 {number}", "body": "您好，售后单 {number} 已受理（{state_label}）。"})
    assert ok.status_code == 200
    listed = {t["key"]: t for t in client.get("/api/v1/notify/templates", headers=shop.headers()).json()}
    assert listed["case_opened"]["texts"]["zh-CN"]["source"] == "merchant"
    assert listed["otp_code"]["placeholders"] == ["code", "minutes"]
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    Worker(db, DeliverySettings()).run_once(FUTURE, timers=False)
    from returnflow.notify.models import InAppMessage

    with db.read() as s:
        [msg] = s.scalars(select(InAppMessage).where(InAppMessage.template == "case_opened")).all()
    assert (msg.subject, msg.body) == (f"已收到 {number}", f"您好，售后单 {number} 已受理（待审核）。")


def test_closing_invites_a_survey_and_schedules_a_follow_up_whose_outcome_is_recorded(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json={"follow_up_days": 3})
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    run(db, number, "reject", shop.actors["agent"])
    run(db, number, "close", shop.actors["agent"])
    from returnflow.cases.models import OutboxMessage

    with db.read() as s:
        templates = [p["template"] for p in s.scalars(select(OutboxMessage.payload)
                                                      .where(OutboxMessage.topic == "notify"))]
        task = s.scalars(select(FollowUpTask)).one()
    assert templates.count("survey_invitation") == 2  # in-app and email
    assert templates.count("case_closed") == 2
    due = task.due_at
    listed = client.get("/api/v1/follow-ups", headers=shop.headers(),
                        params={"due_before": (due + timedelta(seconds=1)).isoformat()}).json()
    assert [t["case"] for t in listed] == [number]
    early = client.get("/api/v1/follow-ups", headers=shop.headers(),
                       params={"due_before": (due - timedelta(hours=1)).isoformat()}).json()
    assert early == []
    bad = client.post(f"/api/v1/follow-ups/{task.id}/done", headers=shop.headers(), json={"outcome": "happy"})
    assert bad.status_code == 422
    done = client.post(f"/api/v1/follow-ups/{task.id}/done", headers=shop.headers(),
                       json={"outcome": "satisfied", "note": "客户表示满意"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = client.post(f"/api/v1/follow-ups/{task.id}/done", headers=shop.headers(), json={"outcome": "neutral"})
    assert again.status_code == 409
    survey = client.post(f"/api/v1/cases/{number}/survey", headers=shop.headers(), json={"score": 5})
    assert survey.status_code == 201
    assert client.post(f"/api/v1/cases/{number}/survey", headers=shop.headers(), json={"score": 4}).status_code == 409
    assert client.post(f"/api/v1/cases/{number}/survey", headers=shop.headers(), json={"score": 9}).status_code == 422


def test_reply_templates_are_listed_per_step_filled_with_the_case_and_editable(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    replies = client.get("/api/v1/reply-templates", headers=shop.headers(),
                         params={"step": "intake", "locale": "zh-CN", "case": number}).json()
    assert [r["code"] for r in replies] == ["greeting"]
    assert replies[0]["text"] == f"您好Customer C-1，我是售后客服，很高兴为您服务。您的售后单号是 {number}。"
    bad = client.put("/api/v1/reply-templates/delay_sorry/en", headers=shop.headers("admin"),
                     json={"step": "refund", "title": "Delay", "body": "Sorry {name}"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "body"
    ok = client.put("/api/v1/reply-templates/delay_sorry/en", headers=shop.headers("admin"),
                    json={"step": "refund", "outcome": "delayed", "title": "Delay",
                          "body": "Sorry {customer_name}, case {number} takes a little longer."})
    assert ok.status_code == 200
    [mine] = client.get("/api/v1/reply-templates", headers=shop.headers(),
                        params={"outcome": "delayed", "case": number}).json()
    assert mine["text"] == f"Sorry Customer C-1, case {number} takes a little longer."
    assert client.put("/api/v1/reply-templates/x/en", headers=shop.headers("agent"),
                      json={"title": "t", "body": "b"}).status_code in (403, 422)


def test_staff_read_their_reminders_in_the_inbox(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json={"steps": {"review": {"hours": 10}}})
    open_for(db, shop.actors["agent"], "O-1", "return_refund")
    worker = Worker(db, DeliverySettings())
    worker.run_once(FUTURE)  # the reminder and the missed deadline fire; their notices are delivered next round
    worker.run_once(FUTURE)
    agent = client.get("/api/v1/inbox", headers=shop.headers("agent")).json()
    assert [m["template"] for m in agent] == ["staff_reminder"] and "即将超时" in agent[0]["subject"]
    boss = client.get("/api/v1/inbox", headers=shop.headers("supervisor")).json()
    assert [m["template"] for m in boss] == ["staff_escalation"]
    read = client.post(f"/api/v1/inbox/{agent[0]['id']}/read", headers=shop.headers("agent"))
    assert read.status_code == 200
    assert client.get("/api/v1/inbox?unread=true", headers=shop.headers("agent")).json() == []
    assert client.post(f"/api/v1/inbox/{agent[0]['id']}/read", headers=shop.headers("admin")).status_code == 404


def test_a_webhook_url_must_be_http_and_events_must_exist(client, db):
    shop = make_shop(db)
    h = shop.headers("admin", **{"Accept-Language": "en"})
    assert client.post("/api/v1/webhooks", headers=h, json={"url": "ftp://x"}).json()["error"]["field"] == "url"
    r = client.post("/api/v1/webhooks", headers=h, json={"url": "http://127.0.0.1:9/h", "events": ["aprove"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "events[0]"
    assert client.post("/api/v1/webhooks", headers=shop.headers("agent"), json={"url": "http://127.0.0.1:9"}
                       ).status_code == 403
    assert client.get("/api/v1/webhooks", headers=h).json() == []


def test_an_agent_is_told_in_the_inbox_when_a_supervisor_assigns_a_case(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    run(db, number, "assign", shop.actors["supervisor"], {"assignee_id": shop.user_ids["agent"]})
    Worker(db, DeliverySettings()).run_once(FUTURE, timers=False)
    inbox = client.get("/api/v1/inbox", headers=shop.headers("agent")).json()
    assert [(m["template"], m["case"]) for m in inbox] == [("case_assigned", number)]


def test_a_reminder_names_the_step_in_the_staff_members_own_language(client, db):
    from returnflow.auth.models import User
    from returnflow.sla.settings import step_name

    shop = make_shop(db)
    make_order(db, shop)
    with db.transaction() as s:  # the agent reads Traditional Chinese, the supervisor English
        s.scalars(select(User).where(User.email == "agent@shop.test")).one().locale = "zh-Hant"
        s.scalars(select(User).where(User.email == "supervisor@shop.test")).one().locale = "en"
    client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json={"steps": {"review": {"hours": 10}}})
    open_for(db, shop.actors["agent"], "O-1", "return_refund")
    worker = Worker(db, DeliverySettings())
    worker.run_once(FUTURE)
    worker.run_once(FUTURE)
    [agent] = client.get("/api/v1/inbox", headers=shop.headers("agent")).json()
    traditional = step_name("review", "zh-Hant")
    assert traditional != step_name("review", "zh-CN")  # converted, so a Simplified name would show here
    assert f"「{traditional}」" in agent["body"] and f"「{step_name('review', 'zh-CN')}」" not in agent["body"]
    [boss] = client.get("/api/v1/inbox", headers=shop.headers("supervisor")).json()
    assert "The review of case" in boss["body"]
