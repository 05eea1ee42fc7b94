"""The staff console through its pages (HTTP, as a browser without JavaScript), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from returnflow.cases.models import CaseState
from tests.support.asgi import TestClient
from tests.support.portal import PNG, count, csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    recent_order(db, shop.id, "O-200", customer="C-2", email="other@example.com")
    return shop


def open_cases(client, shop, *orders: str) -> list[str]:
    numbers = []
    for order in orders:
        body = {"order": order, "type": "return_refund", "channel": "portal", "reason": "wrong_size",
                "lines": [{"line_no": 1, "quantity": 1}]}
        numbers.append(client.post("/api/v1/cases", json=body, headers=shop.headers("agent")).json()["number"])
    return numbers


def buttons(html: str) -> set[str]:
    return set(re.findall(r'action="/staff/cases/[^/]+/actions/([a-z_]+)"', html))


def test_staff_must_sign_in_and_a_wrong_password_says_so(app, db, shop):
    web = TestClient(app, headers=EN)
    assert web.get("/staff/", follow_redirects=False).headers["location"] == "/staff/login?next=/staff/"
    wrong = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@shop.test", "password": "nope"})
    assert wrong.status_code == 401 and "Email or password is wrong" in wrong.text
    assert "rf_staff" not in web.cookies
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    assert "Work queues" in web.get("/staff/").text


def test_agent_finds_new_cases_in_the_queue_assigns_them_in_bulk_and_searches(app, db, shop, client):
    first, second = open_cases(client, shop, "O-100", "O-200")
    web = TestClient(app, headers=EN)
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    new = web.get("/staff/?view=new")
    assert first in new.text and second in new.text and "2 cases" in new.text
    assert first not in web.get("/staff/?view=mine").text
    done = web.post("/staff/assign", data={"csrf": csrf_of(web), "cases": [first, second],
                                           "assignee_id": str(shop.user_ids["agent"]), "back": "/staff/?view=mine"})
    assert done.status_code == 200 and "The selected cases were assigned" in done.text
    assert first in done.text and second in done.text  # now waiting on me
    for number in (first, second):
        case = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()
        assert case["assignee_id"] == shop.user_ids["agent"]
    found = web.get("/staff/?view=all&q=O-200")
    assert second in found.text and first not in found.text
    client.post(f"/api/v1/cases/{second}/actions/escalate", headers=shop.headers("agent"),
                json={"version": 2, "payload": {"reason": "customer called twice"}})
    escalated = web.get("/staff/?view=escalated")
    assert second in escalated.text and first not in escalated.text


def test_the_case_page_offers_exactly_the_allowed_actions_and_approving_moves_the_case(app, db, shop, client):
    (number,) = open_cases(client, shop, "O-100")
    agent = TestClient(app, headers=EN)
    sign_in_staff(agent, "agent@shop.test", "pw-agent")
    page = agent.get(f"/staff/cases/{number}")
    allowed = set(client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()["allowed_actions"])
    # plans have their own form (the plan section), like evidence
    assert buttons(page.text) == allowed - {"attach", "propose_plan", "withdraw_plan"}
    assert "resolve" not in allowed  # a return is not resolved straight from review: the guard would refuse it
    assert "Policy decision" in page.text and "Eligible" in page.text  # the 7-day window is open
    warehouse = TestClient(app, headers=EN)
    sign_in_staff(warehouse, "warehouse@shop.test", "pw-warehouse")
    assert buttons(warehouse.get(f"/staff/cases/{number}").text) == {"note"}

    done = agent.post(f"/staff/cases/{number}/actions/approve", data={"csrf": csrf_of(agent), "version": "1"})
    assert done.status_code == 200 and "Done: the case was updated." in done.text
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()["state"] == "awaiting_return"
    stale = agent.post(f"/staff/cases/{number}/actions/reject", data={"csrf": csrf_of(agent), "version": "1",
                                                                      "reason": "late"})
    assert stale.status_code == 409 and "Someone else changed this case" in stale.text
    assert f"{number} <span" in stale.text  # on the case page itself, as it is now


def test_an_action_needing_a_reason_refuses_without_one(app, db, shop, client):
    (number,) = open_cases(client, shop, "O-100")
    web = TestClient(app, headers=ZH)
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    refused = web.post(f"/staff/cases/{number}/actions/reject", data={"csrf": csrf_of(web), "version": "1"})
    assert refused.status_code == 422 and "payload." not in refused.text and "未做任何更改" in refused.text
    assert "请填写“原因”" in refused.text  # the field as its label reads
    assert count(db, "cases", "state = 'pending_review'") == 1


def test_internal_notes_stay_internal_and_messages_reach_the_customer(app, db, shop, client):
    customer = TestClient(app, headers=EN)
    sign_in_customer(customer, db, "shop", "O-100", "buyer@example.com")
    made = customer.post("/p/shop/orders/O-100/return", follow_redirects=False, data={
        "csrf": csrf_of(customer), "type": "return_refund", "reason": "quality_issue", "qty_1": "1"},
        files=[("photos", ("crack.png", PNG, "image/png"))])
    number = re.search(r"/cases/(AS\d+)", made.headers["location"]).group(1)
    agent = TestClient(app, headers=EN)
    sign_in_staff(agent, "agent@shop.test", "pw-agent")
    page = agent.get(f"/staff/cases/{number}")
    assert 'alt="crack.png"' in page.text  # the evidence gallery
    assert agent.get(re.search(r'<img src="([^"]+)"', page.text).group(1)).content == PNG
    agent.post(f"/staff/cases/{number}/actions/note", data={"csrf": csrf_of(agent), "text": "supplier batch 7",
                                                            "version": re.search(r'name="version" value="(\d+)"',
                                                                                 page.text).group(1)})
    agent.post(f"/staff/cases/{number}/messages", data={"csrf": csrf_of(agent), "body": "Could you send a close-up?"})
    assert "supplier batch 7" in agent.get(f"/staff/cases/{number}").text
    seen = customer.get(f"/p/shop/cases/{number}").text
    assert "supplier batch 7" not in seen and "Could you send a close-up?" in seen
    assert count(db, "outbox", "CAST(payload AS TEXT) LIKE '%case_message%'") == 1


def test_the_process_page_draws_every_state_from_the_transition_table(app, db, shop):
    web = TestClient(app, headers=ZH)
    sign_in_staff(web, "supervisor@shop.test", "pw-supervisor")
    page = web.get("/staff/workflow").text
    for state in CaseState:
        assert f'id="state-{state.value}"' in page
    assert "审核通过" in page and "待顾客寄回" in page


def test_signing_out_ends_the_staff_session(app, db, shop):
    web = TestClient(app, headers=EN)
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    web.post("/staff/logout", data={"csrf": csrf_of(web)})
    assert web.get("/staff/", follow_redirects=False).status_code == 303


def test_receiving_and_inspection_on_the_case_page_lead_to_the_warehouse_screens(app, db, shop, client):
    (number,) = open_cases(client, shop, "O-100")
    client.post(f"/api/v1/cases/{number}/actions/approve", headers=shop.headers("agent"), json={"version": 1})
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()["state"] == "awaiting_return"
    warehouse = TestClient(app, headers=EN)
    sign_in_staff(warehouse, "warehouse@shop.test", "pw-warehouse")
    page = warehouse.get(f"/staff/cases/{number}").text
    # no bare "receive" form that would skip the parcel record: a link to the desk with the case number instead
    assert "receive" not in buttons(page) and f'href="/staff/receiving?code={number}"' in page
    assert "Record the parcel at the receiving desk" in page
    bypass = warehouse.post(f"/staff/cases/{number}/actions/receive",
                            data={"csrf": csrf_of(warehouse), "version": "2", "qty_1": "1"})
    assert bypass.status_code == 409 and "receiving desk" in bypass.text
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()["state"] == "awaiting_return"
    desk = warehouse.get(f"/staff/receiving?code={number}")
    assert desk.status_code == 200 and number in desk.text
