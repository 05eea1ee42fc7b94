"""Sign-in that cannot strand anyone: order numbers as typed, the right keyboards, plain words when no provider
reaches the customer's channel, the admins' banner, and the demo inbox (only with `serve --demo`)."""

from __future__ import annotations

import pytest

from sqlalchemy import select

from returnflow.app import create_app
from returnflow.cases.models import OutboxMessage
from tests.support.asgi import TestClient
from tests.support.portal import count, csrf_of, last_code, recent_order, sign_in_staff
from tests.support.flows import open_for, run
from tests.support.world import make_shop

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "DM-100", email="buyer@example.com", phone="+86 138-0000-1111")
    return shop


def find(web, order, *, contact="", phone="", via="email"):
    return web.post("/p/shop/find", data={"csrf": csrf_of(web), "order": order, "contact": contact, "phone": phone,
                                          "via": via}, follow_redirects=False)


def test_order_numbers_are_trimmed_and_matched_whatever_their_case_and_the_page_names_the_channel(app, db, shop):
    web = TestClient(app, headers=EN)
    page = web.get("/p/shop/").text
    assert 'inputmode="tel"' in page and 'type="tel"' in page and 'inputmode="email"' in page
    assert "order confirmation email" in page  # where to find the order number
    found = find(web, "  dm-100 ", phone="138 0000 1111", via="phone")
    assert found.status_code == 303, found.text
    verify = web.get(found.headers["location"]).text
    assert "by text message to ***1111" in verify


def test_without_any_provider_the_page_says_so_and_sends_nothing(app, db, shop):
    app.state.code_channels = frozenset()
    for headers, words in ((ZH, "邮件和短信都尚未开通"), (EN, "neither email nor text messages are set up")):
        web = TestClient(app, headers=headers)
        r = find(web, "DM-100", contact="buyer@example.com")
        assert r.status_code == 409 and words in r.text
    assert count(db, "portal_codes") == 0 and count(db, "outbox", "topic = 'notify'") == 0


def test_a_missing_channel_points_to_the_other_one_before_any_look_up(app, db, shop):
    app.state.code_channels = frozenset({"sms"})
    web = TestClient(app, headers=EN)
    refused = find(web, "NO-SUCH-ORDER", contact="anyone@example.com")
    assert refused.status_code == 409 and "Enter the phone number used for the order instead" in refused.text
    assert count(db, "portal_attempts") == 0  # not a failed look-up: nothing was looked up
    assert find(web, "DM-100", phone="13800001111", via="phone").status_code == 303


def test_admins_see_a_banner_for_each_channel_no_provider_reaches(app, db, shop):
    app.state.code_channels = frozenset({"email"})
    admin, agent = TestClient(app, headers=EN), TestClient(app, headers=EN)
    sign_in_staff(admin, "admin@shop.test", "pw-admin")
    sign_in_staff(agent, "agent@shop.test", "pw-agent")
    page = admin.get("/staff/").text
    assert "No SMS provider is set up" in page and "No email server" not in page
    assert "No SMS provider is set up" not in agent.get("/staff/").text


def test_the_demo_inbox_exists_only_when_serving_the_demo(app, db, shop, settings):
    web = TestClient(app, headers=EN)
    assert web.get("/demo/inbox").status_code == 404
    demo = create_app(settings.model_copy(update={"demo_inbox": True}), db=db)
    shopper = TestClient(demo, headers=ZH)
    found = find(shopper, "DM-100", contact="buyer@example.com")
    assert found.status_code == 303
    assert "演示收件箱" in shopper.get(found.headers["location"]).text
    inbox = shopper.get("/demo/inbox").text
    assert "仅限演示" in inbox and "buyer@example.com" in inbox
    assert last_code(db)[0] in inbox


def test_the_demo_inbox_shows_a_cases_emails_to_the_customers_address_and_no_in_app_notices(app, db, shop,
                                                                                                  settings):
    """A case's notices are addressed to its customer ("customer:<id>") and also go to the in-app list: the inbox
    shows the emails with the customer's address and the request, and leaves the in-app ones out."""
    number = open_for(db, shop.actors["agent"], "DM-100", "return_refund")
    run(db, number, "approve", shop.actors["agent"], payload={"override_reason": "test"})
    with db.read() as session:
        sent = [m.payload for m in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))]
    assert any(p["channel"] == "in_app" for p in sent)  # there is something to leave out
    assert any(p["channel"] == "email" and p["to"].startswith("customer:") for p in sent)
    demo = create_app(settings.model_copy(update={"demo_inbox": True}), db=db)
    inbox = TestClient(demo, headers=EN).get("/demo/inbox").text
    entries = inbox.split("<li>")[1:]
    assert entries and "customer:" not in inbox
    emails = [e for e in entries if f"Request {number}" in e]
    assert emails and all("buyer@example.com" in e for e in emails)
    shown = sum(1 for p in sent if p["channel"] in ("email", "sms"))
    assert len(entries) == shown  # one entry per email, none for the in-app copies
    # Each as the customer reads it: subject and text in the customer's language, filled in (none waits for data).
    assert all("<strong>" in e and 'class="quote"' in e and "{" not in e for e in entries)
    assert any(f"售后申请已受理：{number}" in e for e in entries), entries  # the customer reads zh-CN
