"""Every stateful record beside the case moves through its declared table (flows.move): an API step moves the
record and leaves one event row (who, from, to); a step the record's state no longer allows is refused by the
service's own words and changes nothing, and the table itself refuses it too (409 illegal_move)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from returnflow.cases.conversation import CaseHandoff, CasePlan
from returnflow.cases.record_flows import CASE_HANDOFF, CASE_PLAN
from returnflow.errors import Conflict
from returnflow.flows import Flow, RecordEvent, events, move
from returnflow.logistics.flows import SHIPMENT, track
from returnflow.logistics.models import Shipment
from returnflow.notify.flows import FOLLOW_UP
from returnflow.notify.models import FollowUpTask
from returnflow.warehouse.flows import RECEIPT, REPAIR_ORDER
from returnflow.warehouse.models import Receipt, RepairOrder
from tests.api.test_outbound_and_repair_api import inspected_repair
from tests.support.flows import open_for, run
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse
from tests.support.world import make_order, make_shop

AT = datetime(2026, 6, 15, 9, 0, tzinfo=timezone.utc)
EN = {"Accept-Language": "en"}


def moves(db, flow: Flow, record_id: int) -> list[tuple]:
    """The record's event rows: (action, from, to, actor)."""
    with db.read() as s:
        return [(e.action, e.from_state, e.to_state, e.actor) for e in events(s, flow.kind, record_id)]


def parcel_of(client, shop, number: str) -> int:
    [parcel] = client.get(f"/api/v1/cases/{number}/shipments", headers=shop.headers()).json()
    return parcel["id"]


def status_of(db, model, record_id: int) -> str:
    with db.read() as s:
        return s.get(model, record_id).status


def table_refuses(db, flow: Flow, model, key, action: str, role: str) -> None:
    """The table itself refuses `action` from the record's present state (409) and writes nothing."""
    before = moves(db, flow, key)
    state = status_of(db, model, key)
    with pytest.raises(Conflict) as refused, db.transaction() as s:
        move(s, flow, s.get(model, key), action, by="user:1", role=role, at=AT)
    assert refused.value.key == "illegal_move" and refused.value.status == 409
    assert moves(db, flow, key) == before and status_of(db, model, key) == state


def test_a_parcel_at_the_desk_waits_unmatched_then_is_matched_once(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse", **EN),
                    json={"code": "YT9999999999999"})
    assert r.status_code == 202 and r.json()["status"] == "unmatched"
    receipt_id = r.json()["receipt"]["id"]
    clerk = shop.actors["warehouse"].ref
    assert moves(db, RECEIPT, receipt_id) == [("hold", None, "unmatched", clerk)]
    url = f"/api/v1/receiving/exceptions/{receipt_id}/match"
    matched = client.post(url, headers=shop.headers("warehouse"), json={"case": case["number"]})
    assert matched.status_code == 200, matched.text
    assert moves(db, RECEIPT, receipt_id) == [("hold", None, "unmatched", clerk),
                                              ("match", "unmatched", "matched", clerk)]
    twice = client.post(url, headers=shop.headers("warehouse", **EN), json={"case": case["number"]})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_matched"
    assert len(moves(db, RECEIPT, receipt_id)) == 2
    table_refuses(db, RECEIPT, Receipt, receipt_id, "match", "warehouse")


def test_a_parcel_found_by_its_scan_is_received_at_once(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": case["number"]})
    assert r.status_code == 201, r.text
    receipt_id = r.json()["receipt"]["id"]
    assert moves(db, RECEIPT, receipt_id) == [("receive", None, "received", shop.actors["warehouse"].ref)]
    with db.read() as s:
        event = s.scalar(select(RecordEvent).where(RecordEvent.kind == "receipt", RecordEvent.record_id == receipt_id))
        assert event.case_id is not None and event.data == {"case": case["number"]}


def test_a_repair_work_order_opens_and_closes_once(client, db):
    shop = shop_with_warehouse(db, client)
    case = inspected_repair(client, shop, db)
    url = f"/api/v1/cases/{case['number']}/repairs"
    r = client.post(url, headers=shop.headers("warehouse"), json={
        "version": case["version"], "line_id": case["lines"][0]["id"], "mode": "mail_in", "fault": "no sound"})
    assert r.status_code == 201, r.text
    repair_id, version = r.json()["repair"]["id"], r.json()["case"]["version"]
    done = client.post(f"{url}/{repair_id}/finish", headers=shop.headers("warehouse"),
                       json={"version": version, "outcome": "repaired", "cost": "88.00"})
    assert done.status_code == 200, done.text
    clerk = shop.actors["warehouse"].ref
    assert moves(db, REPAIR_ORDER, repair_id) == [("open", None, "open", clerk),
                                                  ("repaired", "open", "repaired", clerk)]
    again = client.post(f"{url}/{repair_id}/finish", headers=shop.headers("warehouse"),
                        json={"version": done.json()["case"]["version"], "outcome": "failed", "cost": "0"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "repair_closed"
    assert status_of(db, RepairOrder, repair_id) == "repaired" and len(moves(db, REPAIR_ORDER, repair_id)) == 2
    table_refuses(db, REPAIR_ORDER, RepairOrder, repair_id, "failed", "warehouse")


def test_a_parcels_status_follows_the_carriers_newer_events_only(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db))
    ship_id = parcel_of(client, shop, case["number"])
    assert moves(db, SHIPMENT, ship_id) == [("register", None, "registered", shop.actors["agent"].ref)]

    def events_in(*items):
        r = client.post("/api/v1/tracking/webhooks/generic", headers=shop.headers("admin"), json={
            "carrier": "SF", "tracking_number": "SF1234567890123",
            "events": [{"status": status, "occurred_at": at} for status, at in items]})
        assert r.status_code == 200, r.text

    events_in(("in_transit", "2026-11-25T09:00:00+08:00"))
    events_in(("delivered", "2026-11-26T15:00:00+08:00"),
              ("out_for_delivery", "2026-11-26T08:00:00+08:00"))  # late: kept, moves nothing
    assert moves(db, SHIPMENT, ship_id) == [
        ("register", None, "registered", shop.actors["agent"].ref),
        (track("in_transit"), "registered", "in_transit", "gateway:generic"),
        (track("delivered"), "in_transit", "delivered", "gateway:generic")]
    assert status_of(db, Shipment, ship_id) == "delivered"
    table_refuses(db, SHIPMENT, Shipment, ship_id, "register", "agent")
    table_refuses(db, SHIPMENT, Shipment, ship_id, track("delivered"), "gateway")  # no move to where it is


def test_a_return_recorded_as_a_plain_case_action_registers_its_parcel_through_the_table(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    r = client.post(f"/api/v1/cases/{case['number']}/actions/ship_return", headers=shop.headers(),
                    json={"version": case["version"],
                          "payload": {"carrier": "SF", "tracking_number": "SF7654321098765"}})
    assert r.status_code == 200, r.text
    ship_id = parcel_of(client, shop, case["number"])
    assert moves(db, SHIPMENT, ship_id) == [("register", None, "registered", shop.actors["agent"].ref)]


@pytest.fixture
def conversation(db, client):
    from tests.support.portal import recent_order

    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    r = client.post("/api/v1/cases", headers=shop.headers("agent"), json={
        "order": "O-100", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
        "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    return shop, r.json()["number"]


def _version(client, shop, number):
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["version"]


def test_a_plan_is_proposed_and_withdrawn_once(client, db, conversation):
    shop, number = conversation
    r = client.post(f"/api/v1/cases/{number}/plans", headers=shop.headers("agent"),
                    json={"version": _version(client, shop, number), "kind": "exchange"})
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    url = f"/api/v1/cases/{number}/plans/{plan_id}/withdraw"
    gone = client.post(url, headers=shop.headers("agent"), json={"version": _version(client, shop, number)})
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    agent = shop.actors["agent"].ref
    assert moves(db, CASE_PLAN, plan_id) == [("propose", None, "proposed", agent),
                                             ("withdraw", "proposed", "withdrawn", agent)]
    twice = client.post(url, headers=shop.headers("agent"), json={"version": _version(client, shop, number)})
    assert twice.status_code == 409 and twice.json()["error"]["field"] == "plan"
    assert len(moves(db, CASE_PLAN, plan_id)) == 2
    table_refuses(db, CASE_PLAN, CasePlan, plan_id, "accept", "customer")


def test_a_hand_off_is_taken_and_returned_once(client, db, conversation):
    shop, number = conversation
    r = client.post(f"/api/v1/cases/{number}/handoffs", headers=shop.headers("agent"),
                    json={"team": "qc", "note": "Check the seam"})
    assert r.status_code == 201, r.text
    row_id = r.json()["id"]
    base = f"/api/v1/cases/{number}/handoffs/{row_id}"
    assert client.post(f"{base}/accept", headers=shop.headers("warehouse")).status_code == 200
    assert client.post(f"{base}/return", headers=shop.headers("warehouse"), json={"note": "faulty"}).status_code == 200
    agent, clerk = shop.actors["agent"].ref, shop.actors["warehouse"].ref
    assert moves(db, CASE_HANDOFF, row_id) == [("hand_off", None, "open", agent),
                                               ("accept", "open", "accepted", clerk),
                                               ("finish", "accepted", "done", clerk)]
    late = client.post(f"{base}/accept", headers=shop.headers("warehouse"))
    assert late.status_code == 409 and status_of(db, CaseHandoff, row_id) == "done"
    assert len(moves(db, CASE_HANDOFF, row_id)) == 3
    table_refuses(db, CASE_HANDOFF, CaseHandoff, row_id, "finish", "agent")


def test_closing_schedules_a_follow_up_whose_outcome_is_recorded_once(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json={"follow_up_days": 3})
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    run(db, number, "reject", shop.actors["agent"])
    run(db, number, "close", shop.actors["agent"])
    with db.read() as s:
        task_id = s.scalar(select(FollowUpTask.id))
    assert moves(db, FOLLOW_UP, task_id) == [("schedule", None, "open", "system")]
    done = client.post(f"/api/v1/follow-ups/{task_id}/done", headers=shop.headers(), json={"outcome": "satisfied"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = client.post(f"/api/v1/follow-ups/{task_id}/done", headers=shop.headers(), json={"outcome": "neutral"})
    assert again.status_code == 409
    assert moves(db, FOLLOW_UP, task_id) == [("schedule", None, "open", "system"),
                                             ("record", "open", "done", shop.actors["agent"].ref)]
    table_refuses(db, FOLLOW_UP, FollowUpTask, task_id, "record", "agent")
