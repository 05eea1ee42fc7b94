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
    steps = [("approve", "agent", {}), ("ship_return", "agent", {"carrier": "SF", "tracking_number": "SF1"}),
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


def test_every_event_leaves_an_outbox_message_in_the_same_transaction(client, db):
    from sqlalchemy import select

    from returnflow.cases.models import CaseEvent, OutboxMessage

    shop = make_shop(db)
    make_order(db, shop)
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]}).json()
    client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                json={"version": 1, "payload": {}})
    client.post(f"/api/v1/cases/{case['number']}/actions/approve", headers=shop.headers(),
                json={"version": 1, "payload": {}})  # stale: refused, so no event and no message
    with db.read() as s:
        events = s.execute(select(CaseEvent.action, CaseEvent.seq).order_by(CaseEvent.seq)).all()
        topics = s.execute(select(OutboxMessage.topic, OutboxMessage.payload).order_by(OutboxMessage.id)).all()
    assert [a for a, _ in events] == ["open", "approve"]
    assert [t for t, _ in topics] == ["case.open", "case.approve"]
    assert topics[1][1]["to"] == "resolving" and topics[1][1]["version"] == 2
