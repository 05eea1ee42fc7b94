"""The conversation around a case through the JSON API, as an integrator drives it: plans the customer confirms,
hand-offs to other teams, messages customer-visible or internal (decided when written) — and the customer's portal
API, which never shows an internal message. Stale versions answer 409, unknown cases 404, bad input 422 naming the
field in the caller's language; a refusal changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from tests.support.asgi import TestClient
from tests.support.portal import count, csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    recent_order(db, shop.id, "O-200", customer="C-2", email="other@example.com")
    return shop


def open_case(client, shop, order: str = "O-100") -> str:
    body = {"order": order, "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "lines": [{"line_no": 1, "quantity": 1}]}
    r = client.post("/api/v1/cases", json=body, headers=shop.headers("agent"))
    assert r.status_code == 201, r.text
    return r.json()["number"]


def version(client, shop, number: str) -> int:
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["version"]


def customer(app, db, order="O-100", email="buyer@example.com") -> TestClient:
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "shop", order, email)
    return web


def post(client, shop, path: str, body: dict | None = None, role: str = "agent", headers=EN, **extra):
    return client.post(f"/api/v1{path}", json=body if body is not None else {},
                       headers=shop.headers(role, **headers, **extra))


def notified(db, text: str) -> int:
    """Outbox rows that would send `text` to the customer."""
    with db.reader() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify")).all()
    return sum(text in str(row.payload) for row in rows)


# ---- plans -------------------------------------------------------------------------------------------------------

def test_an_integrator_proposes_a_plan_the_customer_accepts_and_another_is_withdrawn(app, db, shop, client):
    number = open_case(client, shop)
    r = post(client, shop, f"/cases/{number}/plans", {"version": version(client, shop, number),
                                                       "kind": "partial_refund", "amount": "120.50",
                                                       "note": "Keep the coat, we refund 120.50"})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert (plan["kind"], plan["status"], plan["amount"], plan["currency"]) == ("partial_refund", "proposed",
                                                                                "120.50", "CNY")
    assert notified(db, "Keep the coat, we refund 120.50") == 1  # the customer is told
    timeline = client.get(f"/api/v1/cases/{number}/timeline", headers=shop.headers()).json()
    assert timeline[-1]["action"] == "propose_plan" and timeline[-1]["payload"]["plan"] == plan["id"]

    # the customer accepts on the portal page, which calls the same service
    web = customer(app, db)
    answered = web.post(f"/p/shop/cases/{number}/plans/{plan['id']}/accept", data={"csrf": csrf_of(web)})
    assert answered.status_code == 200 and "you accepted the plan" in answered.text
    listed = client.get(f"/api/v1/cases/{number}/plans", headers=shop.headers()).json()
    assert [(p["id"], p["status"]) for p in listed] == [(plan["id"], "accepted")]
    seen = web.get(f"/api/v1/portal/shop/cases/{number}/plans").json()
    assert seen[0]["status"] == "accepted" and "proposed_by" not in seen[0] and "answered_by" not in seen[0]

    second = post(client, shop, f"/cases/{number}/plans", {"version": version(client, shop, number),
                                                            "kind": "exchange"}).json()
    assert second["amount"] is None
    again = post(client, shop, f"/cases/{number}/plans", {"version": version(client, shop, number),
                                                           "kind": "full_refund"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "plan_open"
    assert "Withdraw it before proposing another" in again.json()["error"]["message"]
    gone = post(client, shop, f"/cases/{number}/plans/{second['id']}/withdraw",
                {"version": version(client, shop, number)})
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    twice = post(client, shop, f"/cases/{number}/plans/{second['id']}/withdraw",
                 {"version": version(client, shop, number)})
    assert twice.status_code == 409 and twice.json()["error"]["field"] == "plan"
    assert [e["action"] for e in client.get(f"/api/v1/cases/{number}/timeline",
                                            headers=shop.headers()).json()][-4:] == [
        "propose_plan", "accept_plan", "propose_plan", "withdraw_plan"]


def test_a_role_that_may_not_propose_is_refused_and_nothing_is_written(db, shop, client):
    number = open_case(client, shop)
    r = post(client, shop, f"/cases/{number}/plans", {"version": version(client, shop, number), "kind": "repair"},
             role="warehouse")
    assert r.status_code == 409 and r.json()["error"]["code"] == "plan_not_allowed"
    assert count(db, "case_plans") == 0


# ---- hand-offs ---------------------------------------------------------------------------------------------------

def test_a_case_is_handed_off_taken_and_returned_and_the_team_queue_follows(app, db, shop, client):
    number = open_case(client, shop)
    r = post(client, shop, f"/cases/{number}/handoffs", {"team": "qc", "note": "Check the seam on the left sleeve"})
    assert r.status_code == 201, r.text
    row = r.json()
    assert (row["team"], row["status"], row["visibility"]) == ("qc", "open", "internal")
    taken = post(client, shop, f"/cases/{number}/handoffs/{row['id']}/accept", role="warehouse")
    assert taken.status_code == 200 and taken.json()["status"] == "accepted"
    again = post(client, shop, f"/cases/{number}/handoffs/{row['id']}/accept", role="warehouse")
    assert again.status_code == 409 and again.json()["error"]["code"] == "handoff_taken"

    # still with the team: the staff queue lists it under "open", with the form to return it
    staff = TestClient(app, headers=EN)
    sign_in_staff(staff, "agent@shop.test", "pw-agent")
    queue = staff.get("/staff/handoffs?team=qc")
    assert number in queue.text and f"/handoffs/{row['id']}/done" in queue.text

    done = post(client, shop, f"/cases/{number}/handoffs/{row['id']}/return", {"note": "Seam is faulty"},
                role="warehouse")
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["done_note"]) == ("done", "Seam is faulty")
    late = post(client, shop, f"/cases/{number}/handoffs/{row['id']}/return", {"note": "again"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "handoff_done"
    missing = post(client, shop, f"/cases/{number}/handoffs/999999/accept")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "handoff"
    listed = client.get(f"/api/v1/cases/{number}/handoffs", headers=shop.headers()).json()
    assert [(h["id"], h["status"]) for h in listed] == [(row["id"], "done")]
    # the internal hand-off never reached the customer
    assert notified(db, "Check the seam") == 0
    web = customer(app, db)
    assert "Check the seam" not in web.get(f"/p/shop/cases/{number}").text


# ---- messages ----------------------------------------------------------------------------------------------------

def test_an_internal_message_stays_with_staff_and_a_customer_one_reaches_the_customer(app, db, shop, client):
    number = open_case(client, shop)
    inside = post(client, shop, f"/cases/{number}/messages",
                  {"body": "Internal: the buyer returned two coats this month", "visibility": "internal"})
    assert inside.status_code == 201 and inside.json()["visibility"] == "internal"
    outside = post(client, shop, f"/cases/{number}/messages",
                   {"body": "Please send the coat with its belt", "visibility": "customer"})
    assert outside.status_code == 201 and outside.json()["author_kind"] == "staff"

    staff_view = client.get(f"/api/v1/cases/{number}/messages", headers=shop.headers()).json()
    assert [m["visibility"] for m in staff_view] == ["internal", "customer"]
    assert notified(db, "Please send the coat with its belt") == 1
    assert notified(db, "two coats this month") == 0

    web = customer(app, db)
    seen = web.get(f"/api/v1/portal/shop/cases/{number}/messages")
    assert seen.status_code == 200
    assert [m["body"] for m in seen.json()] == ["Please send the coat with its belt"]
    page = web.get(f"/p/shop/cases/{number}").text
    assert "Please send the coat with its belt" in page and "two coats this month" not in page
    # the staff page shows both, the internal one marked
    staff = TestClient(app, headers=EN)
    sign_in_staff(staff, "agent@shop.test", "pw-agent")
    staff_page = staff.get(f"/staff/cases/{number}").text
    assert "two coats this month" in staff_page and 'class="badge internal">Internal<' in staff_page


def test_the_portal_api_needs_the_customers_own_session(app, db, shop, client):
    number = open_case(client, shop)
    other = open_case(client, shop, "O-200")
    anonymous = TestClient(app, headers=ZH)
    r = anonymous.get(f"/api/v1/portal/shop/cases/{number}/messages")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    web = customer(app, db)
    assert web.get(f"/api/v1/portal/shop/cases/{other}/messages").status_code == 404  # another customer's case
    assert web.get("/api/v1/portal/nope/cases/X/messages").status_code == 404


def test_a_retried_message_with_the_same_idempotency_key_is_written_once(db, shop, client):
    number = open_case(client, shop)
    body = {"body": "We received your photos", "visibility": "customer"}
    first = post(client, shop, f"/cases/{number}/messages", body, **{"Idempotency-Key": "msg-1"})
    again = post(client, shop, f"/cases/{number}/messages", body, **{"Idempotency-Key": "msg-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    assert count(db, "case_messages") == 1


# ---- refusals: stale version, unknown case, bad input ------------------------------------------------------------

def test_a_stale_version_is_refused_with_409_and_nothing_is_written(db, shop, client):
    number = open_case(client, shop)
    stale = version(client, shop, number)
    assert post(client, shop, f"/cases/{number}/actions/note", {"version": stale,
                                                                "payload": {"text": "moved on"}}).status_code == 200
    events = count(db, "case_events")
    for path, body in ((f"/cases/{number}/plans", {"version": stale, "kind": "repair"}),
                       (f"/cases/{number}/handoffs", {"version": stale, "team": "qc", "note": "look"}),
                       (f"/cases/{number}/messages", {"version": stale, "body": "hi", "visibility": "customer"})):
        r = post(client, shop, path, body)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"]["code"] == "stale_version" and r.json()["error"]["field"] == "version"
    plan = post(client, shop, f"/cases/{number}/plans", {"version": stale + 1, "kind": "repair"}).json()
    r = post(client, shop, f"/cases/{number}/plans/{plan['id']}/withdraw", {"version": stale + 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale_version"
    assert count(db, "case_events") == events + 1  # the plan proposed at the current version, nothing else
    assert (count(db, "case_plans", "status = 'proposed'"), count(db, "case_handoffs"),
            count(db, "case_messages")) == (1, 0, 0)


def test_an_unknown_or_other_merchants_case_is_not_found_in_the_callers_language(db, shop, client):
    other = make_shop(db, "other")
    number = open_case(client, shop)
    for method, path, body in (("get", "/plans", None), ("get", "/handoffs", None), ("get", "/messages", None),
                               ("post", "/plans", {"version": 1, "kind": "repair"}),
                               ("post", "/handoffs", {"team": "qc", "note": "look"}),
                               ("post", "/messages", {"body": "hi", "visibility": "internal"})):
        r = client.request(method.upper(), f"/api/v1/cases/AS0000000000{path}", json=body,
                           headers=shop.headers("agent", **ZH))
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["message"] == "找不到售后单 AS0000000000"
        foreign = client.request(method.upper(), f"/api/v1/cases/{number}{path}", json=body,
                                 headers=other.headers("agent", **EN))
        assert foreign.status_code == 404 and foreign.json()["error"]["message"] == f"case {number} was not found"
    assert (count(db, "case_plans"), count(db, "case_handoffs"), count(db, "case_messages")) == (0, 0, 0)


@pytest.mark.parametrize("path, body, field, words", [
    ("/plans", {"kind": "bogus"}, "kind", "Plan: choose one of the listed plans."),
    ("/plans", {"kind": "partial_refund", "amount": "-3"}, "amount", "Amount: enter a number such as 30.50."),
    ("/plans", {"kind": "partial_refund"}, "amount", "Amount: enter a number such as 30.50."),
    ("/plans", {"kind": "store_credit", "amount": "100000"}, "amount", "Amount: at most 899.00, what the request "
                                                                         "claims."),
    ("/plans", {"kind": "repair", "amount": "ten"}, "amount", "amount: must be a decimal number such as 12.30"),
    ("/plans", {"kind": "repair", "version": None}, "version", "version: must be a whole number"),
    ("/handoffs", {"team": "legal", "note": "x"}, "team",
     "Team: choose quality control, product team or supplier appraisal."),
    ("/handoffs", {"team": "qc", "note": "  "}, "handoff_note", "Note: say what the team should look at."),
    ("/handoffs", {"team": "qc", "note": "x", "visibility": "public"}, "handoff_visibility",
     "handoff_visibility: choose 'customer' (the customer sees it) or 'internal' (staff only)"),
    ("/messages", {"body": "hello"}, "visibility", "visibility: is required"),
    ("/messages", {"body": "hello", "visibility": "everyone"}, "visibility",
     "visibility: choose 'customer' (the customer sees it) or 'internal' (staff only)"),
    ("/messages", {"body": "   ", "visibility": "customer"}, "body", "Write a message first."),
    ("/messages", {"body": "hi", "visibility": "customer", "colour": "red"}, "colour", "colour: is not a known field"),
])
def test_bad_input_is_refused_with_422_naming_the_field_and_changes_nothing(db, shop, client, path, body, field,
                                                                             words):
    number = open_case(client, shop)
    if path == "/plans":
        body = {"version": version(client, shop, number), **body}
    events = count(db, "case_events")
    r = post(client, shop, f"/cases/{number}{path}", body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field and error["message"].startswith(words.rstrip(".")), error
    assert (count(db, "case_events"), count(db, "case_plans"), count(db, "case_handoffs"),
            count(db, "case_messages")) == (events, 0, 0, 0)


def test_a_refusal_is_worded_in_chinese_for_a_chinese_caller(db, shop, client):
    number = open_case(client, shop)
    r = post(client, shop, f"/cases/{number}/plans", {"version": version(client, shop, number), "kind": "bogus"},
             headers=ZH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind"
    message = r.json()["error"]["message"]
    assert message != "Plan: choose one of the listed plans." and any("\u4e00" <= ch <= "\u9fff" for ch in message)


def test_the_portal_api_is_described_with_its_session_refusal(client):
    doc = client.get("/openapi.json").json()
    operation = doc["paths"]["/api/v1/portal/{merchant_code}/cases/{number}/messages"]["get"]
    assert "401" in operation["responses"] and "security" not in operation
    assert doc["paths"]["/api/v1/cases/{number}/messages"]["post"]["security"] == [{"bearer": []}]
    body = doc["paths"]["/api/v1/cases/{number}/messages"]["post"]["requestBody"]["content"]["application/json"]
    schema = doc["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "visibility" in schema["required"] and schema["properties"]["visibility"]["enum"] == ["customer",
                                                                                                "internal"]
