from tests.support.world import make_order, make_shop


def test_open_and_walk_a_return_through_the_api(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
        "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["number"].startswith("AS") and case["state"] == "pending_review"
    steps = [("approve", "agent", {"override_reason": "the test order is past the return window"}), ("ship_return", "agent", {"carrier": "SF", "tracking_number": "SF1"}),
             ("receive", "warehouse", {}), ("inspect", "warehouse", {}), ("resolve", "finance", {}),
             ("close", "agent", {})]
    for action, role, payload in steps:
        r = client.post(f"/api/v1/cases/{case['number']}/actions/{action}", headers=shop.headers(role),
                        json={"version": case["version"], "payload": payload})
        assert r.status_code == 200, r.text
        case = r.json()
    assert case["state"] == "closed"
    detail = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    assert [e["action"] for e in detail["timeline"]] == ["open"] + [s[0] for s in steps]


def test_side_effects_are_written_with_their_event_and_never_without_it(client, db):
    from sqlalchemy import select

    from returnflow.cases import side_effects
    from returnflow.cases.models import CaseEvent, OutboxMessage

    def webhook_for_every_event(_session, case, event):
        return [{"topic": f"webhook.case.{event['action']}",
                 "payload": {"case": case.number, "to": event["to_state"], "version": event["seq"]}}]

    side_effects.SIDE_EFFECTS.append(webhook_for_every_event)
    try:
        shop = make_shop(db)
        make_order(db, shop)
        case = client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]}).json()
        ok = client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                         json={"version": 1, "payload": {"override_reason": "past the window"}})
        stale = client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                            json={"version": 1, "payload": {}})
        refused = client.post(f"/api/v1/cases/{case['number']}/actions/reject", headers=shop.headers(),
                              json={"version": 2, "payload": {"reason": "too late"}})
    finally:
        side_effects.SIDE_EFFECTS.remove(webhook_for_every_event)
    assert ok.status_code == 200 and stale.status_code == 409 and refused.status_code == 409
    with db.read() as s:
        events = s.execute(select(CaseEvent.action).order_by(CaseEvent.seq)).scalars().all()
        # (the sla area's own producers add customer notifications beside these)
        messages = s.execute(select(OutboxMessage.topic, OutboxMessage.payload, OutboxMessage.status)
                             .where(OutboxMessage.topic.like("webhook.case.%")).order_by(OutboxMessage.id)).all()
    assert events == ["open", "approve"]
    assert [m.topic for m in messages] == ["webhook.case.open", "webhook.case.approve"]
    assert messages[1].payload == {"case": case["number"], "to": "resolving", "version": 2}
    assert {m.status for m in messages} == {"pending"}
