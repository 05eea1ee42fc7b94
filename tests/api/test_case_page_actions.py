"""The staff case page moves every case on: approving outside the policy with an override reason, changing a
case's type (API and page, the policy deciding again), the one-click change after the customer accepted a plan of
another kind, stale forms, and the styled page with a request id for an unexpected error. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re

import pytest

from tests.support.asgi import TestClient
from tests.support.portal import count, csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    recent_order(db, shop.id, "O-OLD", customer="C-2", email="late@example.com", days_ago=40)  # window closed
    return shop


def open_case(client, shop, order="O-100", type_="return_refund", reason="wrong_size") -> str:
    body = {"order": order, "type": type_, "channel": "portal", "reason": reason,
            "lines": [{"line_no": 1, "quantity": 1}]}
    made = client.post("/api/v1/cases", json=body, headers=shop.headers("agent"))
    assert made.status_code == 201, made.text
    return made.json()["number"]


def staff(app, role="agent") -> TestClient:
    web = TestClient(app, headers=EN)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


def case_of(client, shop, number) -> dict:
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()


def version_on(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def alert(html: str) -> str:
    found = re.search(r'<div class="error" role="alert"[^>]*>(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)) if found else ""


def test_approving_outside_the_policy_takes_an_override_reason_on_the_page(app, db, shop, client):
    number = open_case(client, shop, "O-OLD")
    assert case_of(client, shop, number)["state"] == "pending_review"
    web = staff(app)
    page = web.get(f"/staff/cases/{number}").text
    assert 'name="override_reason"' in page and "Override reason" in page
    assert "Approve outside the policy (override)" in page
    policy = page[page.index('id="pol-h"'):page.index('id="plans"')]
    assert "An agent will review the customer&#39;s request." in policy and "your" not in policy.lower()
    # outside the policy, reject is the highlighted step, approve is not
    reject = re.search(r'action="/staff/cases/[^/]+/actions/reject".*?<button type="submit" class="([^"]*)"', page,
                       re.S).group(1)
    assert reject == "primary"
    assert not re.search(r'actions/approve">\s*<input[^>]*>\s*<input[^>]*>\s*<button type="submit" class="primary"',
                         page)
    events = count(db, "case_events")
    bare = web.post(f"/staff/cases/{number}/actions/approve", data={"csrf": csrf_of(web), "version": version_on(page)})
    assert bare.status_code == 422
    said = alert(bare.text)
    assert "override reason" in said and "payload" not in bare.text and "Nothing was changed" in said
    assert f"{number} <span" in bare.text and "/staff/logout" in bare.text  # the case page, inside the console
    assert count(db, "case_events") == events and case_of(client, shop, number)["state"] == "pending_review"
    done = web.post(f"/staff/cases/{number}/actions/approve", follow_redirects=False, data={
        "csrf": csrf_of(web), "version": version_on(page), "override_reason": "Loyal customer, goods unworn"})
    assert done.status_code == 303
    approve = [e for e in case_of(client, shop, number)["timeline"] if e["action"] == "approve"][-1]
    assert approve["payload"]["override_reason"] == "Loyal customer, goods unworn"
    assert approve["payload"]["override"]["reason"] == "Loyal customer, goods unworn"
    after = web.get(f"/staff/cases/{number}").text
    assert "Loyal customer, goods unworn" in after and "override" in after
    assert "Override reason: Loyal customer, goods unworn" in after  # on the timeline too


def test_within_the_policy_approve_is_the_primary_button_and_no_override_is_asked(app, db, shop, client):
    number = open_case(client, shop)
    page = staff(app).get(f"/staff/cases/{number}").text
    assert 'name="override_reason"' not in page
    assert re.search(r'actions/approve">\s*<input[^>]*>\s*<input[^>]*>\s*<button type="submit" class="primary"', page)
    # the policy's answer in the third person on the staff side
    assert "The customer pays the return shipping." in page or "The shop pays the return shipping." in page
    assert "You pay the return shipping." not in page


def test_change_type_through_the_api_records_from_to_and_runs_the_policy_again(app, db, shop, client):
    number = open_case(client, shop, "O-OLD")  # a return outside the 7-day window
    before = case_of(client, shop, number)
    missing = client.post(f"/api/v1/cases/{number}/actions/change_type", headers=shop.headers("agent"),
                          json={"version": before["version"], "payload": {"type": "exchange"}})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "payload.reason"
    same = client.post(f"/api/v1/cases/{number}/actions/change_type", headers=shop.headers("agent"),
                       json={"version": before["version"], "payload": {"type": "return_refund", "reason": "x"}})
    assert same.status_code == 422
    done = client.post(f"/api/v1/cases/{number}/actions/change_type", headers=shop.headers("agent"), json={
        "version": before["version"], "payload": {"type": "repair", "reason": "The customer prefers a repair"}})
    assert done.status_code == 200, done.text
    after = case_of(client, shop, number)
    assert after["type"] == "repair" and after["state"] == "pending_review"
    event = after["timeline"][-1]
    assert event["action"] == "change_type"
    assert (event["payload"]["from"], event["payload"]["to"]) == ("return_refund", "repair")
    assert event["payload"]["reason"] == "The customer prefers a repair"
    policy = event["payload"]["policy"]
    assert policy["verdict"] in ("approve", "review", "require_approval") and "within_policy" in policy
    assert "_decision" not in event["payload"]
    # the warehouse cannot change a case's type
    refused = client.post(f"/api/v1/cases/{number}/actions/change_type", headers=shop.headers("warehouse"),
                          json={"version": after["version"], "payload": {"type": "exchange", "reason": "x"}})
    assert refused.status_code == 403


def test_the_case_page_changes_the_type_and_the_decision_follows(app, db, shop, client):
    number = open_case(client, shop)
    web = staff(app)
    page = web.get(f"/staff/cases/{number}").text
    assert 'action="/staff/cases/' + number + '/actions/change_type"' in page
    options = re.findall(r'<select id="change_type-type" name="type" required>(.*?)</select>', page, re.S)[0]
    assert 'value="exchange"' in options and 'value="return_refund"' not in options
    done = web.post(f"/staff/cases/{number}/actions/change_type", data={
        "csrf": csrf_of(web), "version": version_on(page), "type": "exchange", "reason": "Wants size L instead"})
    assert done.status_code == 200 and "the policy decided again" in done.text
    assert "Type changed" in done.text and "Return and refund → Exchange" in done.text
    assert case_of(client, shop, number)["type"] == "exchange"
    empty = web.post(f"/staff/cases/{number}/actions/change_type", data={
        "csrf": csrf_of(web), "version": version_on(done.text), "type": "repair"})
    assert empty.status_code == 422 and "Reason" in alert(empty.text) and "payload" not in empty.text


def test_after_the_customer_accepts_an_exchange_plan_the_change_is_one_click(app, db, shop, client):
    number = open_case(client, shop)
    web = staff(app)
    page = web.get(f"/staff/cases/{number}").text
    proposed = web.post(f"/staff/cases/{number}/plans", data={
        "csrf": csrf_of(web), "version": version_on(page), "kind": "exchange", "amount": "",
        "note": "We send size L instead"})
    assert proposed.status_code == 200, proposed.text
    assert 'name="type" value="exchange"' not in proposed.text  # not before the customer accepts
    shopper = TestClient(app, headers=EN)
    sign_in_customer(shopper, db, "shop", "O-100", "buyer@example.com")
    seen = shopper.get(f"/p/shop/cases/{number}").text
    plan = re.search(r"/plans/(\d+)/accept", seen).group(1)
    assert shopper.post(f"/p/shop/cases/{number}/plans/{plan}/accept", data={"csrf": csrf_of(shopper)}).status_code \
        == 200
    page = web.get(f"/staff/cases/{number}").text
    assert 'name="type" value="exchange"' in page and "Change the case to: Exchange" in page
    form = re.search(r'<form[^>]*class="stack one-click">(.*?)</form>', page, re.S).group(1)
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))
    done = web.post(f"/staff/cases/{number}/actions/change_type", data=fields, follow_redirects=False)
    assert done.status_code == 303
    after = case_of(client, shop, number)
    assert after["type"] == "exchange" and after["timeline"][-1]["payload"]["reason"].startswith(
        "The customer accepted the plan")


def test_a_stale_form_says_someone_else_acted_and_changes_nothing(app, db, shop, client):
    number = open_case(client, shop)
    web = staff(app)
    page = web.get(f"/staff/cases/{number}").text
    shown = version_on(page)
    client.post(f"/api/v1/cases/{number}/actions/note", headers=shop.headers("supervisor"),
                json={"version": int(shown), "payload": {"text": "I looked at it first"}})
    events = count(db, "case_events")
    stale = web.post(f"/staff/cases/{number}/actions/reject", data={"csrf": csrf_of(web), "version": shown,
                                                                    "reason": "Too late"})
    assert stale.status_code == 409
    assert "Someone else changed this case" in alert(stale.text) and "I looked at it first" in stale.text
    assert count(db, "case_events") == events and case_of(client, shop, number)["state"] == "pending_review"
    # a form without its version is refused too, never given the current one
    blind = web.post(f"/staff/cases/{number}/actions/reject", data={"csrf": csrf_of(web), "reason": "Too late"})
    assert blind.status_code == 409 and "did not say which version" in alert(blind.text)
    late_plan = web.post(f"/staff/cases/{number}/plans", data={"csrf": csrf_of(web), "version": shown,
                                                               "kind": "repair", "note": "x"})
    assert late_plan.status_code == 409 and count(db, "case_plans") == 0
    assert count(db, "case_events") == events


def test_a_refused_role_or_state_is_said_on_the_case_page(app, db, shop, client):
    number = open_case(client, shop)
    warehouse = staff(app, "warehouse")
    page = warehouse.get(f"/staff/cases/{number}").text
    assert "actions/approve" not in page and "actions/change_type" not in page  # not offered to the warehouse
    forced = warehouse.post(f"/staff/cases/{number}/actions/approve", data={"csrf": csrf_of(warehouse),
                                                                            "version": version_on(page)})
    assert forced.status_code == 403 and "Your role (Warehouse) cannot do this: Approve" in alert(forced.text)
    agent = staff(app)
    wrong = agent.post(f"/staff/cases/{number}/actions/close", data={"csrf": csrf_of(agent),
                                                                     "version": version_on(page)})
    assert wrong.status_code == 409 and "not possible while the case is" in alert(wrong.text)
    assert "pending_review" not in alert(wrong.text)


@pytest.fixture
def boom(app):
    """A route that fails the way a bug would, on a staff page, a portal page and the API (test-only)."""
    def fail():
        raise RuntimeError("a bug")

    for path in ("/staff/boom", "/p/shop/boom", "/api/v1/boom"):
        app.add_api_route(path, fail, methods=["GET"])
    return app


def test_an_unexpected_error_shows_a_styled_page_with_a_request_id_and_a_way_back(boom, db, shop, caplog):
    web = TestClient(boom, headers=EN, raise_server_exceptions=False)
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    with pytest.raises(RuntimeError, match="a bug"):
        TestClient(boom).get("/api/v1/boom")  # the error still goes up to the server (and fails a test loudly)
    with caplog.at_level(logging.ERROR, logger="returnflow.errors"):
        page = web.get("/staff/boom")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    request_id = page.headers["x-request-id"]
    assert request_id in page.text and "Something went wrong" in page.text and 'href="/staff/"' in page.text
    assert "Internal Server Error" not in page.text and "RuntimeError" not in page.text
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)  # logged with its traceback
    portal = TestClient(boom, headers={"Accept-Language": "zh-CN"}, raise_server_exceptions=False).get("/p/shop/boom")
    assert portal.status_code == 500 and 'href="/p/shop/"' in portal.text
    assert portal.headers["x-request-id"] in portal.text and 'lang="zh-CN"' in portal.text
    api = TestClient(boom, raise_server_exceptions=False).get("/api/v1/boom")
    assert api.status_code == 500 and api.json()["error"]["request_id"] == api.headers["x-request-id"]
    assert api.json()["error"]["code"] == "internal_error"


def test_once_a_refund_exists_the_type_no_longer_changes(app, db, shop, client):
    recent_order(db, shop.id, "O-PAID", customer="C-3", email="paid@example.com", paid_total=None)
    number = open_case(client, shop, "O-PAID")
    agent, warehouse = shop.headers("agent"), shop.headers("warehouse")
    steps = (("approve", agent, {}), ("ship_return", agent, {"carrier": "SF", "tracking_number": "SF700800900"}),
             ("receive", warehouse, {}), ("inspect", warehouse, {}))
    for action, headers, payload in steps:
        version = case_of(client, shop, number)["version"]
        moved = client.post(f"/api/v1/cases/{number}/actions/{action}", headers=headers,
                            json={"version": version, "payload": payload})
        assert moved.status_code == 200, (action, moved.text)
    web = staff(app)
    assert "actions/change_type" in web.get(f"/staff/cases/{number}").text  # inspected, no money moved yet
    refund = client.post(f"/api/v1/cases/{number}/refunds", headers=agent, json={})
    assert refund.status_code in (200, 201), refund.text
    page = web.get(f"/staff/cases/{number}").text
    assert "actions/change_type" not in page
    version = case_of(client, shop, number)["version"]
    refused = client.post(f"/api/v1/cases/{number}/actions/change_type", headers=agent,
                          json={"version": version, "payload": {"type": "exchange", "reason": "late idea"}})
    assert refused.status_code == 422 and "已有退款" in refused.json()["error"]["message"]
    assert case_of(client, shop, number)["type"] == "return_refund"


def test_an_override_reason_does_not_lift_the_role_limit(app, db, shop, client):
    number = open_case(client, shop, "O-OLD")
    sent_up = client.post(f"/api/v1/cases/{number}/actions/require_approval", headers=shop.headers("agent"),
                          json={"version": case_of(client, shop, number)["version"], "payload": {}})
    assert sent_up.status_code == 200, sent_up.text
    web = staff(app)
    page = web.get(f"/staff/cases/{number}").text
    assert "actions/approve" not in page  # a supervisor approves what was sent up
    forced = web.post(f"/staff/cases/{number}/actions/approve", data={
        "csrf": csrf_of(web), "version": version_on(page), "override_reason": "I am sure"})
    assert forced.status_code == 403 and "Your role (Agent) cannot do this: Approve (" in alert(forced.text)
    assert case_of(client, shop, number)["state"] == "pending_approval"
    boss = staff(app, "supervisor")
    page = boss.get(f"/staff/cases/{number}").text
    assert 'name="override_reason"' in page
    done = boss.post(f"/staff/cases/{number}/actions/approve", follow_redirects=False, data={
        "csrf": csrf_of(boss), "version": version_on(page), "override_reason": "Goodwill, approved by supervisor"})
    assert done.status_code == 303 and case_of(client, shop, number)["state"] == "awaiting_return"


def test_approving_without_a_return_address_says_why_and_leads_on(app, db, client):
    bare = make_shop(db, "shop", return_address=False)
    recent_order(db, bare.id, "O-100", customer="C-1", email="buyer@example.com")
    number = open_case(client, bare)
    for role, way_on in (("admin", 'href="/staff/settings/addresses"'), ("agent", "Only an administrator")):
        web = staff(app, role)
        page = web.get(f"/staff/cases/{number}").text
        refused = web.post(f"/staff/cases/{number}/actions/approve", data={
            "csrf": csrf_of(web), "version": version_on(page)})
        assert refused.status_code == 422 and "no return address fits it" in alert(refused.text), role
        assert way_on in refused.text, role
    assert case_of(client, bare, number)["state"] == "pending_review"
