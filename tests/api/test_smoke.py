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
