"""The case API as a client sees it: opening, acting, finding, refusing bad input without changing anything."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from returnflow.cases.models import Case, CaseEvent, OutboxMessage
from returnflow.idempotency import IdempotencyRecord
from tests.support.world import make_order, make_shop, platform_token

RETURN = {"order": "O-1", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
          "lines": [{"line_no": 1, "quantity": 1}]}


def counts(db):
    with db.read() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Case, CaseEvent, OutboxMessage))


OVERRIDE = {"override_reason": "the test order is past the return window"}


def open_case(client, shop, body=None, role="agent", **headers):
    return client.post("/api/v1/cases", headers=shop.headers(role, **headers), json=body or RETURN)


def act(client, shop, case, action, payload=None, role="agent", version=None, **headers):
    if action == "approve" and payload is None:
        payload = OVERRIDE  # the test orders are past the return window: approving overrides the policy
    return client.post(f"/api/v1/cases/{case['number']}/actions/{action}", headers=shop.headers(role, **headers),
                       json={"version": case["version"] if version is None else version, "payload": payload or {}})


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_order(db, shop)
    return shop


def test_a_new_case_is_numbered_at_once_and_records_its_channel(client, shop):
    r = open_case(client, shop)
    assert r.status_code == 201
    body = r.json()
    assert body["number"].startswith("AS") and len(body["number"]) >= 12
    assert body["channel"] == "portal" and body["state"] == "pending_review" and body["version"] == 1
    assert body["lines"][0]["sku"] == "SKU-A" and body["lines"][0]["quantity"] == 1
    assert body["claimed_amount"] == "100.00" and body["currency"] == "CNY"
    assert "approve" in body["allowed_actions"]
    second = open_case(client, shop, {**RETURN, "lines": [{"sku": "SKU-B", "quantity": 1}]}).json()
    assert second["number"] != body["number"]


def test_quantity_cannot_exceed_what_was_delivered_minus_other_claims(client, shop, db):
    assert open_case(client, shop, {**RETURN, "lines": [{"line_no": 1, "quantity": 2}]}).status_code == 201
    before = counts(db)
    r = open_case(client, shop, {**RETURN, "lines": [{"line_no": 1, "quantity": 1}]}, **{"Accept-Language": "en"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "lines[0].quantity" and "only 0" in err["message"] and "2 in other cases" in err["message"]
    assert counts(db) == before


def test_cancelling_releases_the_quantity(client, shop):
    case = open_case(client, shop, {**RETURN, "lines": [{"line_no": 1, "quantity": 2}]}).json()
    assert act(client, shop, case, "cancel").status_code == 200
    assert open_case(client, shop, {**RETURN, "lines": [{"line_no": 1, "quantity": 2}]}).status_code == 201


@pytest.mark.parametrize("body,field,code", [
    ({**RETURN, "order": "NOPE"}, "order", "not_found"),
    ({**RETURN, "lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku", "sku_not_in_order"),
    ({**RETURN, "lines": [{"line_no": 9, "quantity": 1}]}, "lines[0].line_no", "line_not_in_order"),
    ({**RETURN, "lines": [{"line_no": 1, "quantity": 0}]}, "lines[0].quantity", "validation"),
    ({**RETURN, "lines": [{"line_no": 1, "quantity": 1}, {"line_no": 1, "quantity": 1}]}, "lines[1]", "duplicate_line"),
    ({**RETURN, "reason": "because"}, "reason", "unknown_reason"),
    ({**RETURN, "type": "teleport"}, "type", "validation"),
    ({**RETURN, "channel": "fax"}, "channel", "validation"),
    ({k: v for k, v in RETURN.items() if k != "order"}, "order", "validation"),
    ({**RETURN, "lines": []}, "lines", "lines_required"),
    ({**RETURN, "colour": "red"}, "colour", "validation"),
])
def test_bad_input_names_the_field_and_changes_nothing(client, shop, db, body, field, code):
    before = counts(db)
    r = open_case(client, shop, body)
    assert r.status_code in (404, 422), r.text
    err = r.json()["error"]
    assert err["field"] == field and err["code"] == code and err["message"]
    assert counts(db) == before


def test_errors_speak_the_callers_language(client, shop):
    zh = open_case(client, shop, {**RETURN, "reason": "x"}, **{"Accept-Language": "zh-CN,zh;q=0.9"}).json()
    en = open_case(client, shop, {**RETURN, "reason": "x"}, **{"Accept-Language": "en-GB,en;q=0.8"}).json()
    assert "不是本商家的售后原因" in zh["error"]["message"]
    assert "is not a reason of this merchant" in en["error"]["message"]
    assert "wrong_size" in en["error"]["allowed"]


def test_malformed_json_is_a_clear_422(client, shop, db):
    before = counts(db)
    r = client.post("/api/v1/cases", headers={**shop.headers(), "Content-Type": "application/json",
                                               "Accept-Language": "en"}, content=b'{"order": "O-1",')
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "malformed_json" and "not valid JSON" in r.json()["error"]["message"]
    assert counts(db) == before


def test_a_stale_version_is_refused_with_409_and_changes_nothing(client, shop, db):
    case = open_case(client, shop).json()
    assert act(client, shop, case, "note", {"text": "first"}).status_code == 200
    before = counts(db)
    r = act(client, shop, case, "approve", **{"Accept-Language": "en"})  # still version 1
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "version" and "reload" in r.json()["error"]["message"]
    assert counts(db) == before
    current = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    assert current["state"] == "pending_review" and current["version"] == 2


def test_an_action_the_state_does_not_allow_is_a_409_listing_what_is_allowed(client, shop):
    case = open_case(client, shop).json()
    r = act(client, shop, case, "receive", role="warehouse", **{"Accept-Language": "en"})
    assert r.status_code == 409
    assert "cannot 'receive'" in r.json()["error"]["message"]
    r = act(client, shop, case, "teleport")
    assert r.status_code == 422 and r.json()["error"]["field"] == "action"


def test_guards_explain_what_is_missing(client, shop):
    case = open_case(client, shop).json()
    r = act(client, shop, case, "reject", {}, **{"Accept-Language": "en"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "payload.reason"
    r = act(client, shop, case, "reject", {}, **{"Accept-Language": "zh-CN"})
    assert "必填" in r.json()["error"]["message"]


def test_idempotency_key_replays_the_first_result(client, shop, db):
    first = open_case(client, shop, **{"Idempotency-Key": "k-1"})
    again = open_case(client, shop, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["number"] == first.json()["number"] and again.headers.get("Idempotent-Replayed") == "true"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
    before = counts(db)
    other = open_case(client, shop, {**RETURN, "lines": [{"line_no": 2, "quantity": 1}]}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and other.json()["error"]["field"] == "Idempotency-Key"
    assert counts(db) == before


def test_idempotent_action_retry_does_not_fire_twice(client, shop, db):
    case = open_case(client, shop).json()
    a = act(client, shop, case, "note", {"text": "hi"}, **{"Idempotency-Key": "n-1"})
    b = act(client, shop, case, "note", {"text": "hi"}, **{"Idempotency-Key": "n-1"})
    assert a.status_code == b.status_code == 200 and a.json()["version"] == b.json()["version"] == 2
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(CaseEvent)) == 2
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_staff_see_only_their_merchants_cases(client, shop, db):
    other = make_shop(db, "other")
    make_order(db, other, "O-1")
    mine = open_case(client, shop).json()
    theirs = open_case(client, other).json()
    assert client.get(f"/api/v1/cases/{theirs['number']}", headers=shop.headers()).status_code == 404
    assert act(client, shop, theirs, "approve").status_code == 404
    listed = client.get("/api/v1/cases", headers=shop.headers()).json()
    assert [c["number"] for c in listed["items"]] == [mine["number"]]
    token, _ = platform_token(db)
    everything = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).json()
    assert everything["total"] == 2


def test_platform_arbitrates_a_dispute(client, shop, db):
    token, _ = platform_token(db)
    case = open_case(client, shop).json()
    case = act(client, shop, case, "reject", {"reason": "used item"}).json()
    case = act(client, shop, case, "dispute", {"reason": "it was faulty"}).json()
    assert case["state"] == "disputed"
    r = act(client, shop, case, "arbitrate", {"decision": "customer", "reason": "photos show a defect"},
            role="supervisor")
    assert r.status_code == 403
    r = client.post(f"/api/v1/cases/{case['number']}/actions/arbitrate", headers={"Authorization": f"Bearer {token}"},
                    json={"version": case["version"], "payload": {"decision": "customer", "reason": "defect"}})
    assert r.status_code == 200 and r.json()["state"] == "awaiting_return"


def test_unauthenticated_calls_are_refused(client, shop):
    assert client.get("/api/v1/cases").status_code == 401
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_sign_in_with_password_gives_a_working_token(client, shop):
    bad = client.post("/api/v1/auth/token", json={"email": "agent@shop.test", "password": "wrong"})
    assert bad.status_code == 401
    good = client.post("/api/v1/auth/token", json={"email": "agent@shop.test", "password": "pw-agent"})
    assert good.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {good.json()['token']}"}).json()
    assert me["role"] == "agent" and me["merchant"] == "shop"


def test_find_cases_by_filters_and_text(client, shop, db):
    make_order(db, shop, "O-2", customer="C-2")
    a = open_case(client, shop).json()
    b = open_case(client, shop, {**RETURN, "order": "O-2", "channel": "hotline", "type": "exchange",
                                 "description": "屏幕碎了"}).json()
    act(client, shop, a, "approve")
    get = lambda **q: client.get("/api/v1/cases", headers=shop.headers(), params=q).json()  # noqa: E731
    assert [c["number"] for c in get(state="awaiting_return")["items"]] == [a["number"]]
    assert [c["number"] for c in get(channel="hotline")["items"]] == [b["number"]]
    assert [c["number"] for c in get(type="exchange")["items"]] == [b["number"]]
    assert [c["number"] for c in get(order="O-2")["items"]] == [b["number"]]
    assert [c["number"] for c in get(customer="C-2")["items"]] == [b["number"]]
    assert [c["number"] for c in get(q="屏幕")["items"]] == [b["number"]]
    assert [c["number"] for c in get(q=b["number"][-6:])["items"]] == [b["number"]]
    assert get(q="O-1")["total"] == 1
    assert get(q="sku-a")["total"] == 2 and get(q="Item SKU-B")["total"] == 0  # by SKU or product title
    page = get(limit=1, offset=1)
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["number"] == a["number"]
    assert get(created_from="2000-01-01T00:00:00Z", created_to="2001-01-01T00:00:00Z")["total"] == 0
    assert client.get("/api/v1/cases", headers=shop.headers(), params={"state": "nope"}).status_code == 422


def test_assigning_a_case(client, shop, db):
    other = make_shop(db, "other")
    case = open_case(client, shop).json()
    r = act(client, shop, case, "assign", {"assignee_id": other.user_ids["agent"]}, role="supervisor")
    assert r.status_code == 422 and r.json()["error"]["field"] == "payload.assignee_id"
    r = act(client, shop, case, "assign", {"assignee_id": shop.user_ids["supervisor"]}, role="agent")
    assert r.status_code == 403  # an agent may only take a case themselves
    r = act(client, shop, case, "assign", {"assignee_id": shop.user_ids["agent"]}, role="agent")
    assert r.status_code == 200 and r.json()["assignee_id"] == shop.user_ids["agent"]
    mine = client.get("/api/v1/cases", headers=shop.headers(), params={"assignee": shop.user_ids["agent"]}).json()
    assert mine["total"] == 1


def test_every_case_type_reaches_its_end(client, shop, db):
    make_order(db, shop, "O-9", lines=(("SKU-A", "10.00", 9),))
    base = {"order": "O-9", "channel": "app", "lines": [{"line_no": 1, "quantity": 1}]}
    ship = {"carrier": "SF", "tracking_number": "SF1"}
    flows = {
        "refund_only": [("approve", "agent", OVERRIDE), ("resolve", "finance", {})],
        "return_refund": [("approve", "agent", OVERRIDE), ("ship_return", "agent", ship), ("receive", "warehouse", {}),
                          ("inspect", "warehouse", {}), ("resolve", "finance", {})],
        "exchange": [("approve", "agent", OVERRIDE), ("ship_return", "agent", ship), ("receive", "warehouse", {}),
                     ("inspect", "warehouse", {}), ("ship_replacement", "warehouse", ship), ("resolve", "agent", {})],
        "repair": [("approve", "agent", OVERRIDE), ("ship_return", "agent", ship), ("receive", "warehouse", {}),
                   ("inspect", "warehouse", {}), ("start_repair", "warehouse", {}),
                   ("complete_repair", "warehouse", {}), ("ship_replacement", "warehouse", ship),
                   ("resolve", "agent", {})],
        "reship": [("approve", "agent", OVERRIDE), ("ship_replacement", "warehouse", ship), ("resolve", "agent", {})],
        "inquiry": [("resolve", "agent", {"answer": "Your invoice was emailed."})],
        "complaint": [("resolve", "agent", {"answer": "We apologise and have coached the courier."})],
    }
    for type_, steps in flows.items():
        body = {**base, "type": type_} if type_ not in ("inquiry", "complaint") else {
            "order": "O-9", "type": type_, "channel": "chat"}
        case = open_case(client, shop, body).json()
        for action, role, payload in steps:
            r = act(client, shop, case, action, payload, role=role)
            assert r.status_code == 200, (type_, action, r.text)
            case = r.json()
        assert case["state"] == "resolved" and case["outcome"] == "resolved", type_
        assert act(client, shop, case, "close").json()["state"] == "closed"


def test_advance_exchange_ships_first_and_cannot_then_be_cancelled(client, shop):
    case = open_case(client, shop, {**RETURN, "type": "exchange", "advance": True}).json()
    case = act(client, shop, case, "approve").json()
    assert case["state"] == "awaiting_return" and case["advance"] is True
    case = act(client, shop, case, "ship_replacement", {"carrier": "SF", "tracking_number": "SF2"},
               role="warehouse").json()
    assert case["state"] == "awaiting_return"
    r = act(client, shop, case, "cancel")
    assert r.status_code == 422 and "advance" in r.json()["error"]["message"] or "提前" in r.json()["error"]["message"]
    for action, role, payload in [("ship_return", "agent", {"carrier": "SF", "tracking_number": "SF3"}),
                                  ("receive", "warehouse", {}), ("inspect", "warehouse", {}), ("resolve", "agent", {})]:
        case = act(client, shop, case, action, payload, role=role).json()
    assert case["state"] == "resolved"


def test_a_normal_exchange_cannot_ship_before_inspection(client, shop):
    case = open_case(client, shop, {**RETURN, "type": "exchange"}).json()
    case = act(client, shop, case, "approve").json()
    r = act(client, shop, case, "ship_replacement", {"carrier": "SF", "tracking_number": "SF2"}, role="warehouse")
    assert r.status_code == 422


def test_partial_receipt_and_inspection_per_line(client, shop, db):
    case = open_case(client, shop, {**RETURN, "lines": [{"line_no": 1, "quantity": 2}, {"line_no": 2, "quantity": 1}]}).json()
    ids = [line["id"] for line in case["lines"]]
    case = act(client, shop, case, "approve").json()
    r = act(client, shop, case, "receive", {"lines": [{"line_id": ids[0], "quantity": 3}]}, role="warehouse")
    assert r.status_code == 422 and r.json()["error"]["field"] == "payload.lines[0].quantity"
    case = act(client, shop, case, "receive", {"lines": [{"line_id": ids[0], "quantity": 1},
                                                          {"line_id": ids[1], "quantity": 0}]}, role="warehouse").json()
    assert [line["received_quantity"] for line in case["lines"]] == [1, 0]
    r = act(client, shop, case, "inspect", {"lines": [{"line_id": ids[0], "quantity": 2}]}, role="warehouse")
    assert r.status_code == 422  # cannot accept more than arrived
    case = act(client, shop, case, "inspect", {"lines": [{"line_id": ids[0], "quantity": 1, "verdict": "accept",
                                                          "grade": "A"}]}, role="warehouse").json()
    assert case["lines"][0]["accepted_quantity"] == 1 and case["lines"][0]["inspection"]["grade"] == "A"


def test_reopen_is_limited_and_needs_a_supervisor(client, shop, monkeypatch):
    from returnflow.config import get_settings

    monkeypatch.setattr(get_settings(), "max_reopens", 1)
    case = open_case(client, shop).json()
    case = act(client, shop, case, "reject", {"reason": "no"}).json()
    case = act(client, shop, case, "close").json()
    assert act(client, shop, case, "reopen", {"reason": "call back"}).status_code == 403
    case = act(client, shop, case, "reopen", {"reason": "call back"}, role="supervisor").json()
    assert case["state"] == "pending_review" and case["reopen_count"] == 1
    case = act(client, shop, case, "reject", {"reason": "no"}).json()
    case = act(client, shop, case, "close").json()
    r = act(client, shop, case, "reopen", {"reason": "again"}, role="supervisor", **{"Accept-Language": "en"})
    assert r.status_code == 422 and "limit is 1" in r.json()["error"]["message"]


def test_reference_endpoints(client, shop):
    wf = client.get("/api/v1/workflow").json()["transitions"]
    assert {t["action"] for t in wf} >= {"approve", "reject", "receive", "inspect", "resolve", "close", "reopen"}
    reasons = client.get("/api/v1/reasons", headers=shop.headers()).json()
    by_code = {r["code"]: r for r in reasons}
    assert by_code["quality_issue"]["label"]["zh-CN"] == "质量问题"
    assert client.get("/healthz").json()["status"] == "ok"
    assert "/api/v1/cases" in client.get("/openapi.json").json()["paths"]


def test_a_merchant_configures_its_reason_taxonomy(client, shop, db):
    other = make_shop(db, "other")
    body = {"label_zh": "颜色与图片不符", "label_en": "Colour differs from the photos", "fault": "merchant",
            "case_types": ["return_refund", "exchange"]}
    assert client.put("/api/v1/reasons/colour_mismatch", headers=shop.headers("agent"), json=body).status_code == 403
    r = client.put("/api/v1/reasons/colour_mismatch", headers=shop.headers("admin"), json=body)
    assert r.status_code == 200 and r.json()["source"] == "merchant"
    bad = client.put("/api/v1/reasons/Bad Code!", headers=shop.headers("admin"), json=body)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "code"
    assert client.put("/api/v1/reasons/x1", headers=shop.headers("admin"),
                      json={**body, "fault": "nobody"}).json()["error"]["field"] == "fault"
    # the new reason is offered for its case types, and only to this merchant
    assert open_case(client, shop, {**RETURN, "reason": "colour_mismatch"}).status_code == 201
    r = open_case(client, shop, {**RETURN, "type": "refund_only", "reason": "colour_mismatch"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    make_order(db, other, "O-1")
    assert open_case(client, other, {**RETURN, "reason": "colour_mismatch"}).status_code == 422
    # hiding a default reason removes it for this merchant only
    hide = {"label_zh": "尺码不符", "label_en": "Wrong size or fit", "active": False}
    assert client.put("/api/v1/reasons/wrong_size", headers=shop.headers("supervisor"), json=hide).status_code == 200
    assert "wrong_size" not in {x["code"] for x in client.get("/api/v1/reasons", headers=shop.headers()).json()}
    assert "wrong_size" in {x["code"] for x in client.get("/api/v1/reasons", headers=other.headers()).json()}
    assert open_case(client, shop, {**RETURN, "lines": [{"line_no": 2, "quantity": 1}]}).status_code == 422
    assert open_case(client, other, {**RETURN, "lines": [{"line_no": 2, "quantity": 1}]}).status_code == 201


def test_the_order_shows_what_can_still_be_returned(client, shop):
    def returnable():
        lines = client.get("/api/v1/orders/O-1", headers=shop.headers()).json()["lines"]
        return [line["returnable_quantity"] for line in lines]

    assert returnable() == [2, 1]
    case = open_case(client, shop).json()
    assert returnable() == [1, 1]
    act(client, shop, case, "cancel")
    assert returnable() == [2, 1]


def test_signing_out_revokes_the_token_at_once_in_this_process(client, shop):
    token = client.post("/api/v1/auth/token", json={"email": "agent@shop.test", "password": "pw-agent"}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    assert client.delete("/api/v1/auth/token", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.get("/api/v1/me", headers=shop.headers()).status_code == 200  # other tokens still work
