"""Every settings page names things in words in both languages (no snake_case codes outside the policy file and
placeholders), and shows the thresholds in force: the policy's limits, each role's refund limit, each SLA step."""

from __future__ import annotations

import re

import pytest

from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, sign_in_staff
from tests.support.world import make_shop

PAGES = ("/staff/settings/users", "/staff/settings/policy", "/staff/settings/sla", "/staff/settings/replies",
         "/staff/settings/replies/new", "/staff/settings/replies/greeting", "/staff/settings/notifications",
         "/staff/settings/notifications/templates/case_opened/en", "/staff/settings/addresses",
         "/staff/settings/payments", "/staff/settings/tracking")


@pytest.fixture
def shop(db):
    return make_shop(db, "wrd")


def admin(app, lang: str) -> TestClient:
    web = TestClient(app, headers={"Accept-Language": lang})
    sign_in_staff(web, "admin@wrd.test", "pw-admin")
    return web


def visible_text(html: str) -> str:
    """The page's text as read: without the file editor, code samples, scripts, tags and attributes."""
    body = re.sub(r"(?s)<(textarea|pre|code|script|style|head)\b.*?</\1>", " ", html)
    return re.sub(r"<[^>]+>", " ", body)


def test_no_settings_page_shows_a_code(app, db, shop):
    for lang in ("en", "zh-CN"):
        web = admin(app, lang)
        token = csrf_of(web)
        web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/x",
                                                                 "events": ["approve", "close"]})
        if lang == "en":  # a published version, and the confirmation that shows its diff
            asked = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish",
                                                             "policy.extends": "cn-law", "window.days": "15"})
            assert 'id="confirm"' in asked.text and not re.findall(r"\b[a-z]+(?:_[a-z]+)+\b",
                                                                   visible_text(asked.text))
            web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "confirm": "yes",
                                                     "source": '[policy]\nid = "wrd"\nextends = "cn-law"\n'})
        for url in PAGES + ("/staff/settings/policy/versions/1",):
            r = web.get(url)
            assert r.status_code == 200, (lang, url)
            codes = re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", visible_text(r.text))
            assert not codes, (lang, url, codes)


def test_the_thresholds_in_force_are_shown_defaults_included(app, db, shop):
    en = admin(app, "en")
    policy = en.get("/staff/settings/policy").text
    in_force = re.search(r'(?s)<dl class="facts" id="in-force".*?</dl>', policy).group(0)
    assert "<dt>No-reason return window</dt><dd>7 days</dd>" in in_force
    assert re.search(r"<dt>Approved automatically up to</dt><dd>[^<]*500\.00</dd>", in_force)
    assert re.search(r"<dt>A supervisor approves above</dt><dd>[^<]*5,000\.00</dd>", in_force)
    limits = re.search(r'(?s)<dl class="facts" id="limits".*?</dl>', policy).group(0)
    assert re.search(r"<dt>Agent</dt><dd>[^<]*500\.00</dd>", limits)
    assert "<dt>Administrator</dt><dd>no limit</dd>" in limits
    assert "<dt>Warehouse</dt><dd>none (cannot refund without an approval)</dd>" in limits
    sla = en.get("/staff/settings/sla").text
    table = re.search(r'(?s)<table aria-labelledby="in-force-h" id="in-force">.*?</table>', sla).group(0)
    assert re.search(r"<th scope=\"row\">Review</th><td>9 working hours</td><td>2 hours before</td>"
                     r"<td>escalate to a supervisor</td>", table)
    assert re.search(r"<th scope=\"row\">Customer&#39;s additional information</th><td>7 days</td>"
                     r"<td>24 hours before</td><td>Cancel the request</td>", table)
    assert ">Mainland China (State Council holidays and make-up days)<" in sla
    zh = admin(app, "zh-CN").get("/staff/settings/sla").text
    assert "<th scope=\"row\">审核</th><td>9 个工作小时</td><td>提前 2 小时</td>" in zh


def test_webhook_events_are_chosen_in_words_and_an_unknown_one_is_named(app, db, shop):
    web = admin(app, "en")
    token = csrf_of(web)
    page = web.get("/staff/settings/notifications").text
    assert '<label for="events-approve">Approved</label>' in page
    bad = web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/x",
                                                                   "events": ["approve", "teleport"]})
    assert bad.status_code == 422 and "Events: “teleport” is not a case event on the list." in bad.text
    ok = web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/x",
                                                                  "events": ["approve", "close"]})
    assert ok.status_code == 201 and "Approved, Closed" in web.get("/staff/settings/notifications").text
