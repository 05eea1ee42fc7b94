"""The admin settings pages over HTTP (a browser without JavaScript), on SQLite and PostgreSQL: only admins, CSRF on
every form, per-field errors in the reader's language with nothing saved, and what each form saves."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from returnflow.auth.models import StaffEvent, User
from returnflow.logistics.models import ReturnAddress
from returnflow.cases.models import WebhookEndpoint
from returnflow.notify.models import MessageTemplate
from returnflow.orders.models import Category
from returnflow.policy.models import PolicyVersion
from returnflow.sla import calendar as sla_calendar
from returnflow.sla import settings as sla_settings
from returnflow.sla.models import SlaSettings
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, recent_order, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
STEPS = ("review", "customer_info", "customer_shipping", "receipt_confirmation", "inspection", "resolution", "refund",
         "repair", "appeal", "closing")
PAGES = ("/staff/settings/users", "/staff/settings/policy", "/staff/settings/sla", "/staff/settings/notifications",
         "/staff/settings/notifications/templates/case_opened/en", "/staff/settings/addresses")


@pytest.fixture
def shop(db):
    shop = make_shop(db, "cfg", return_address=False)
    recent_order(db, shop.id, "O-10", days_ago=10)
    return shop


def admin(app, headers=EN) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_staff(web, "admin@cfg.test", "pw-admin")
    return web


def count(db, model, *where) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="field-error" id="([^"]+)-err">([^<]+)<', html))


def test_only_admins_open_the_settings_and_others_are_refused_in_their_language(app, db, shop):
    for role in ("agent", "supervisor", "finance"):
        web = TestClient(app, headers=ZH)
        sign_in_staff(web, f"{role}@cfg.test", f"pw-{role}")
        for url in PAGES:
            r = web.get(url)
            assert r.status_code == 403 and "只有管理员可以打开设置" in r.text, (role, url)
        assert 'href="/staff/settings/users"' not in web.get("/staff/").text
    web = admin(app)
    for url in PAGES:
        assert web.get(url).status_code == 200, url
    assert 'href="/staff/settings/users"' in web.get("/staff/").text


def test_every_settings_form_needs_the_csrf_token(app, db, shop):
    web = admin(app)
    posts = {"/staff/settings/users": {"email": "a@cfg.test", "name": "A", "role": "agent"},
             "/staff/settings/policy": {"intent": "publish", "policy.extends": "cn-law", "window.days": "15"},
             "/staff/settings/notifications/webhooks": {"url": "http://127.0.0.1:9/x"},
             "/staff/settings/notifications/templates/case_opened/en": {"intent": "save", "body": "Hi {number}"},
             "/staff/settings/addresses": {"code": "wh", "name": "W", "address": "A"},
             f"/staff/settings/users/{shop.user_ids['agent']}/deactivate": {}}
    for url, data in posts.items():
        r = web.post(url, data={**data, "csrf": "x" * 40})
        assert r.status_code == 403, url
    assert count(db, User, User.email == "a@cfg.test") == 0
    assert count(db, PolicyVersion) == count(db, WebhookEndpoint) == count(db, MessageTemplate) == 0
    assert count(db, ReturnAddress) == 0 and count(db, StaffEvent) == 0
    assert count(db, User, User.active.is_(False)) == 0


def test_policy_errors_land_on_their_field_and_nothing_is_published(app, db, shop):
    web = admin(app, ZH)
    token = csrf_of(web)
    r = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "policy.extends": "cn-law",
                                                 "window.days": "abc", "approval.auto_max_amount": "1.234"})
    assert r.status_code == 422
    assert errors(r.text) == {"window-days": "请输入 1 到 3650 之间的整数天数。",
                              "approval-auto_max_amount": "请输入金额，例如 300 或 299.50（最多两位小数）。"}
    # The raw file: the loader's refusal with its line.
    r = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish",
                                                 "source": '[policy]\nid = "x"\nextends = "cn-law"\n\n[window]\ndays = -3\n'})
    assert r.status_code == 422 and "第 6 行" in r.text
    assert count(db, PolicyVersion) == 0


def test_publishing_from_the_form_keeps_the_rest_of_the_file_and_shows_the_diff(app, db, shop):
    web = admin(app)
    token = csrf_of(web)
    source = '[policy]\nid = "cfg"\nextends = "cn-law"\n\n[fees]\nrestocking_percent = 5  # kept\n'
    asked = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "source": source})
    assert asked.status_code == 200 and 'id="confirm"' in asked.text and count(db, PolicyVersion) == 0
    assert '<span class="add">+restocking_percent = 5  # kept</span>' in asked.text  # the whole file comes in
    assert "No policy file yet (the preset cn-law applies)" in asked.text and '<span class="del">' not in asked.text
    confirmed = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "source": source,
                                                         "confirm": "yes", "base_version": "0"})
    assert confirmed.status_code == 200 and count(db, PolicyVersion) == 1
    form = {"csrf": token, "intent": "publish", "policy.extends": "taobao-current", "window.days": "15",
            "shipping.no_reason_payer": "merchant"}
    asked = web.post("/staff/settings/policy", data=form)
    assert '<span class="add">+days = 15</span>' in asked.text and "Version 1 (in force)" in asked.text
    assert count(db, PolicyVersion) == 1
    drafted = re.search(r'<textarea name="source" hidden readonly aria-hidden="true">(.*?)</textarea>', asked.text,
                        re.S).group(1).replace("&#34;", '"').replace("&quot;", '"')
    # A stale confirmation (another version published meanwhile) asks again and writes nothing.
    stale = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "source": drafted,
                                                     "confirm": "yes", "base_version": "0"})
    assert stale.status_code == 409 and "Someone published another version meanwhile" in stale.text
    assert count(db, PolicyVersion) == 1
    r = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "source": drafted,
                                                 "confirm": "yes", "base_version": "1"})
    assert r.status_code == 200 and "The new policy version was published" in r.text
    assert "published by admin of cfg on" in r.text
    with db.read() as session:
        latest = session.scalar(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))
    assert latest.version == 2 and latest.extends == "taobao-current"
    assert "restocking_percent = 5  # kept" in latest.source and "days = 15" in latest.source
    assert 'no_reason_payer = "merchant"' in latest.source
    diff = web.get("/staff/settings/policy/versions/2").text
    assert "Published by admin of cfg on" in diff
    assert '<span class="add">+days = 15</span>' in diff
    assert '<span class="del">-extends = &#34;cn-law&#34;</span>' in diff or '<span class="del">-extends = "cn-law"</span>' in diff


def test_a_preview_decides_under_the_draft_and_the_try_under_the_published_version(app, db, shop):
    web = admin(app)
    token = csrf_of(web)
    trial = {"order": "O-10", "type": "return_refund", "reason": "no_reason_7day", "line_no": "1", "quantity": "1"}
    published = web.post("/staff/settings/policy/try", data={"csrf": token, **trial})
    assert 'class="decision no"' in published.text
    draft = web.post("/staff/settings/policy", data={"csrf": token, "intent": "preview", "policy.extends": "cn-law",
                                                     "window.days": "15", **trial})
    assert draft.status_code == 200 and 'class="decision ok"' in draft.text
    assert count(db, PolicyVersion) == 0
    missing = web.post("/staff/settings/policy/try", data={"csrf": token, **trial, "order": "NOPE"})
    assert missing.status_code == 422 and errors(missing.text).get("try-order")


def test_sla_settings_are_saved_and_a_bad_value_names_its_step(app, db, shop):
    web = admin(app)
    form = {"csrf": csrf_of(web), "calendar": "cn-mainland", "timezone": "Asia/Shanghai", "work_start": "09:00",
            "work_end": "18:00", "follow_up_days": "3"}
    for step in STEPS:
        form.update({f"steps.{step}.clock": "hours", f"steps.{step}.amount": "48",
                     f"steps.{step}.remind_before_hours": "", f"steps.{step}.auto_action": ""})
    bad = web.post("/staff/settings/sla", data={**form, "steps.review.amount": "-1"})
    assert bad.status_code == 422 and "steps-review-amount" in errors(bad.text)
    assert count(db, SlaSettings) == 0
    bad = web.post("/staff/settings/sla", data={**form, "holidays": "2026-12-01\n2026-13-01"})
    assert bad.status_code == 422 and "2026-13-01" in errors(bad.text)["holidays"]
    bad = web.post("/staff/settings/sla", data={**form, "holidays": "2026-12-05", "workdays": "2026-12-05"})
    assert bad.status_code == 422 and "workdays" in errors(bad.text)
    assert count(db, SlaSettings) == 0
    form["steps.review.clock"] = "business_hours"
    form["steps.review.amount"] = "4"
    # A Tuesday closed for stock-taking, and a Saturday worked instead.
    form["holidays"], form["workdays"] = "2026-12-01", "2026-12-05, 2026-12-05"
    r = web.post("/staff/settings/sla", data=form)
    assert r.status_code == 200 and "2026-12-01" in r.text
    with db.read() as session:
        saved = session.get(SlaSettings, shop.id).settings
        current = sla_settings.for_merchant(session, shop.id)
    assert saved["steps"]["review"]["business_hours"] == 4 and "hours" not in saved["steps"]["review"]
    assert saved["follow_up_days"] == 3
    assert current["holidays"] == ["2026-12-01"] and current["workdays"] == ["2026-12-05"]
    cal = sla_settings.calendar_of(current)
    assert not cal.is_working_day(date(2026, 12, 1)) and cal.is_working_day(date(2026, 12, 5))
    assert cal.is_working_day(date(2026, 12, 2)) and not cal.is_working_day(date(2026, 12, 6))
    # Four working hours from Monday 16:00 (Shanghai): two on Monday, none on the closed Tuesday, two on Wednesday.
    start = datetime(2026, 11, 30, 16, 0, tzinfo=cal.tz)
    assert sla_calendar.add_working_time(cal, start, timedelta(hours=4)) == datetime(2026, 12, 2, 11, 0, tzinfo=cal.tz)


def test_a_template_is_previewed_saved_and_reset(app, db, shop):
    web = admin(app)
    token = csrf_of(web)
    url = "/staff/settings/notifications/templates/case_opened/en"
    r = web.post(url, data={"csrf": token, "intent": "preview", "subject": "Got {number}", "body": "Case {number}: {state_label}"})
    assert "Case AS20261125000001: Pending review" in r.text
    assert count(db, MessageTemplate) == 0
    bad = web.post(url, data={"csrf": token, "intent": "save", "subject": "{nmber}", "body": "x"})
    assert bad.status_code == 422 and "subject" in errors(bad.text) and count(db, MessageTemplate) == 0
    web.post(url, data={"csrf": token, "intent": "save", "subject": "Got {number}", "body": "Case {number}"})
    assert count(db, MessageTemplate) == 1
    web.post(url + "/reset", data={"csrf": token})
    assert count(db, MessageTemplate) == 0


def test_webhooks_and_addresses_from_the_pages(app, db, shop):
    web = admin(app)
    token = csrf_of(web)
    bad = web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/x",
                                                                   "events": "approve, teleport"})
    assert bad.status_code == 422 and "events" in errors(bad.text) and count(db, WebhookEndpoint) == 0
    ok = web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/x"})
    secret = re.search(r'id="webhook-secret">([^<]+)<', ok.text).group(1)
    assert secret not in web.get("/staff/settings/notifications").text
    with db.read() as session:
        hook = session.scalar(select(WebhookEndpoint))
    web.post(f"/staff/settings/notifications/webhooks/{hook.id}/remove", data={"csrf": token})
    assert count(db, WebhookEndpoint, WebhookEndpoint.active.is_(True)) == 0

    r = web.post("/staff/settings/addresses", data={"csrf": token, "code": "sh 1", "name": "", "address": ""})
    assert set(errors(r.text)) == {"code", "name", "address"} and count(db, ReturnAddress) == 0
    with db.transaction() as session:
        for code, zh, en in (("apparel", "服装", "Clothing"), ("shoes", "鞋", "Shoes")):
            session.add(Category(merchant_id=shop.id, code=code, name_zh=zh, name_en=en))
    page = web.get("/staff/settings/addresses").text
    assert 'value="apparel"' in page and ">Clothing<" in page and 'value="ZTO"' in page and ">Hong Kong" in page
    base = {"csrf": token, "code": "sh-1", "name": "上海仓", "address": "上海市", "is_default": "on", "active": "on"}
    for field, value in (("carriers", "TELEPORT"), ("categories", "furniture"), ("regions", "XX")):
        bad = web.post("/staff/settings/addresses", data={**base, field: value})
        assert bad.status_code == 422 and list(errors(bad.text)) == [field] and value in errors(bad.text)[field]
        assert count(db, ReturnAddress) == 0
    zh = TestClient(app, headers=ZH)
    sign_in_staff(zh, "admin@cfg.test", "pw-admin")
    bad = zh.post("/staff/settings/addresses", data={**base, "csrf": csrf_of(zh), "carriers": "TELEPORT"})
    assert errors(bad.text) == {"carriers": "推荐快递：「TELEPORT」不在快递列表中。"}
    r = web.post("/staff/settings/addresses", data={**base, "categories": ["apparel", "shoes"],
                                                    "carriers": ["SF", "ZTO"], "regions": ["CN", "HK"]})
    assert r.status_code == 200 and "The return address was saved" in r.text
    with db.read() as session:
        row = session.scalar(select(ReturnAddress))
    assert row.categories == ["apparel", "shoes"] and row.carriers == ["SF", "ZTO"] and row.is_default and row.active
    assert row.regions == ["CN", "HK"]


def test_the_last_admin_is_kept_from_the_page_too(app, db, shop):
    web = admin(app)
    r = web.post(f"/staff/settings/users/{shop.user_ids['admin']}/role", data={"csrf": csrf_of(web), "role": "agent"})
    assert r.status_code == 409 and "at least one active administrator" in r.text
    with db.read() as session:
        assert session.get(User, shop.user_ids["admin"]).role == "admin"


@pytest.mark.slow
def test_the_delivery_log_shows_a_dead_webhook_with_its_error_and_sends_it_again(app, db, shop, client, tmp_path):
    from returnflow.jobs.worker import Worker
    from returnflow.notify.config import DeliverySettings
    from tests.support.processes import fake_http, requests_seen

    t0 = datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc)
    web = admin(app)
    token = csrf_of(web)
    log = tmp_path / "hook.jsonl"
    with fake_http(log, fail=2) as url:
        web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": url, "events": "open"})
        r = client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": "O-10", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]})
        assert r.status_code == 201, r.text
        worker = Worker(db, DeliverySettings(outbox_backoff_seconds=1, outbox_max_attempts=2))
        worker.run_once(t0, timers=False)
        worker.run_once(t0 + timedelta(seconds=5), timers=False)
        page = web.get("/staff/settings/notifications").text
        row = re.search(r'<tr data-status="dead"><td>(\d+)</td>.*?</tr>', page, re.S)
        assert row and ">Failed<" in row.group(0) and "HTTP 500" in row.group(0) and "Webhook: Case opened" in row.group(0)
        r = web.post("/staff/settings/notifications/replay", data={"csrf": token, "id": row.group(1)})
        assert "The failed deliveries were queued again" in r.text
        assert worker.run_once(timers=False).messages.get("sent") == 1
    assert [x["status"] for x in requests_seen(log)] == [500, 500, 200]
    assert '<tr data-status="sent">' in web.get("/staff/settings/notifications").text
