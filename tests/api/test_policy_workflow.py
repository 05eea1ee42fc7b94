"""The policy inside the workflow: opening a case runs it, the policy approves through the normal transition as
its own actor, each case keeps the version it was decided under, and a person can override with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from returnflow.cases.models import Case, CaseEvent
from returnflow.orders.models import Category
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)


def recent() -> datetime:
    """Ordered 4 days before now (read when the test runs, so a clock moved ahead moves it too); delivered 1 day
    later: inside every no-reason window."""
    return datetime.now(UTC) - timedelta(days=4)


RETURN = {"order": "O-1", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]}

KEEP_CHEAP = """[policy]
id = "keep-cheap"
extends = "cn-law"

[keep_item]
max_amount = 50
"""

HIGH_LIMITS = """[policy]
id = "high-limits"
extends = "cn-law"

[approval]
auto_max_amount = 5000
supervisor_above_amount = 10000
"""


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_order(db, shop, when=recent())  # SKU-A 100.00 x2, SKU-B 35.50
    return shop


def open_case(client, shop, body=None, role="agent"):
    r = client.post("/api/v1/cases", headers=shop.headers(role), json=body or RETURN)
    assert r.status_code == 201, r.text
    return client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()


def act(client, shop, case, action, payload=None, role="agent"):
    return client.post(f"/api/v1/cases/{case['number']}/actions/{action}", headers=shop.headers(role),
                       json={"version": case["version"], "payload": payload or {}})


def test_an_eligible_request_is_approved_by_the_policy_through_the_workflow(client, shop):
    case = open_case(client, shop)
    assert case["state"] == "awaiting_return"
    assert case["policy_verdict"] == "approve" and case["policy_version"] is None
    opened, approved = case["timeline"]
    assert opened["action"] == "open" and opened["payload"]["policy"]["verdict"] == "approve"
    assert approved["action"] == "approve" and approved["actor"]["kind"] == "policy"
    assert approved["from_state"] == "pending_review" and approved["to_state"] == "awaiting_return"
    assert "CN1" in approved["payload"]["rule_ids"] and "自动同意" in approved["payload"]["zh-CN"]
    decision = case["policy"]
    assert decision["policy"] == {"version": None, "default": True, "extends": "cn-law", "policy_id": "cn-law"}
    line = decision["lines"][0]
    assert line["sku"] == "SKU-A" and line["decision"]["eligible"] is True
    assert line["decision"]["shipping_payer"] == "customer"
    assert {d["kind"] for d in line["decision"]["deadlines"]} >= {"customer_window", "customer_shipping"}


def test_what_the_dry_run_says_is_what_opening_the_case_does(client, shop):
    dry = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json=RETURN).json()
    case = open_case(client, shop)
    assert dry["verdict"] == case["policy_verdict"] == "approve"
    assert dry["rule_ids"] == case["policy"]["rule_ids"]
    assert dry["lines"][0]["decision"]["rule_ids"] == case["policy"]["lines"][0]["decision"]["rule_ids"]


def test_a_line_outside_the_policy_waits_for_an_agent_with_the_reasons(client, shop, db):
    with db.transaction() as s:
        s.add(Category(merchant_id=shop.id, code="tailored", name_en="Tailored", attributes={"custom_made": True}))
    make_order(db, shop, "O-2", category="tailored", when=recent())
    case = open_case(client, shop, {**RETURN, "order": "O-2"})
    assert case["state"] == "pending_review" and case["policy_verdict"] == "review"
    assert [e["action"] for e in case["timeline"]] == ["open"]
    assert case["policy"]["eligible"] is False and "CN2" in case["policy"]["rule_ids"]
    note = case["timeline"][0]["payload"]["policy"]
    assert "CN2" in note["rule_ids"] and "agent" in note["en"]


def test_approving_against_the_policy_needs_a_recorded_override_reason(client, shop, db):
    with db.transaction() as s:
        s.add(Category(merchant_id=shop.id, code="tailored", attributes={"custom_made": True}))
    make_order(db, shop, "O-2", category="tailored", when=recent())
    case = open_case(client, shop, {**RETURN, "order": "O-2"})
    r = act(client, shop, case, "approve")
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["field"] == "payload.override_reason" and "CN2" in body["message"]
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["version"] == case["version"]

    r = act(client, shop, case, "approve", {"override_reason": "Goodwill: the tailoring was late"})
    assert r.status_code == 200, r.text
    after = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    event = after["timeline"][-1]
    assert event["action"] == "approve" and event["actor"]["role"] == "agent"
    assert event["payload"]["override"]["reason"] == "Goodwill: the tailoring was late"
    assert "CN2" in event["payload"]["override"]["rule_ids"]
    assert event["payload"]["override"]["policy_verdict"] == "review"


def test_rejecting_what_the_policy_allows_is_recorded_as_an_override(client, shop):
    make_order(client.app.state.db, shop, "O-3", lines=(("SKU-Z", "800.00", 1),), when=recent())  # above auto_max
    case = open_case(client, shop, {**RETURN, "order": "O-3"})
    assert case["state"] == "pending_review" and case["policy"]["within_policy"] is True
    r = act(client, shop, case, "reject", {"reason": "Item shows wear"})
    assert r.status_code == 200, r.text
    event = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["timeline"][-1]
    assert event["payload"]["override"]["rule_ids"] and event["payload"]["override"]["reason"] == "Item shows wear"


def test_a_large_amount_goes_up_for_approval_by_the_policy(client, shop, db):
    make_order(db, shop, "O-4", lines=(("TV-65", "6999.00", 1),), when=recent())  # cn-law: supervisor above 5,000
    case = open_case(client, shop, {**RETURN, "order": "O-4"})
    assert case["state"] == "pending_approval" and case["policy_verdict"] == "require_approval"
    assert case["timeline"][-1]["actor"]["kind"] == "policy"
    assert "M.approval.amount" in case["timeline"][-1]["payload"]["rule_ids"]
    assert act(client, shop, case, "approve").status_code == 403  # an agent may not
    assert act(client, shop, case, "approve", role="supervisor").status_code == 200


def test_each_case_keeps_the_policy_version_it_was_decided_under(client, shop, db):
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": HIGH_LIMITS}).status_code == 201
    make_order(db, shop, "O-5", lines=(("BIKE", "3000.00", 1),), when=recent())
    first = open_case(client, shop, {**RETURN, "order": "O-5"})
    assert first["policy_version"] == 1 and first["state"] == "awaiting_return"  # auto up to 5,000 under v1

    assert client.put("/api/v1/policy", headers=shop.headers("admin"),
                      json={"source": HIGH_LIMITS.replace("5000", "1000")}).status_code == 201
    make_order(db, shop, "O-6", lines=(("BIKE", "3000.00", 1),), when=recent())
    second = open_case(client, shop, {**RETURN, "order": "O-6"})
    assert second["policy_version"] == 2 and second["state"] == "pending_review"
    # The first case still says which version decided it, and that version can be read back.
    again = client.get(f"/api/v1/cases/{first['number']}", headers=shop.headers()).json()
    assert again["policy_version"] == 1 and again["policy"]["policy"]["policy_id"] == "high-limits"
    v1 = client.get("/api/v1/policy/versions/1", headers=shop.headers()).json()
    assert "auto_max_amount = 5000" in v1["source"]


def test_keep_the_item_under_a_value_skips_the_return_parcel(client, shop, db):
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": KEEP_CHEAP}).status_code == 201
    case = open_case(client, shop, {**RETURN, "lines": [{"line_no": 2, "quantity": 1}]})  # SKU-B 35.50
    assert case["needs_return"] is False and case["state"] == "resolving"
    assert case["policy"]["lines"][0]["decision"]["return_required"] is False


def test_order_facts_reach_the_policy(client, shop, db):
    """运费险 on the order covers the customer's return shipping; a high-risk customer goes to a person."""
    make_order(db, shop, "O-7", customer="C-7", when=recent(), shipping_insurance=True)
    case = open_case(client, shop, {**RETURN, "order": "O-7"})
    assert case["policy"]["lines"][0]["decision"]["insurance_covers"] is True
    make_order(db, shop, "O-8", customer="C-8", when=recent(), risk="high")
    risky = open_case(client, shop, {**RETURN, "order": "O-8"})
    assert risky["state"] == "pending_review" and "M.approval.risk" in risky["policy"]["rule_ids"]


def test_unreturned_gift_is_deducted_at_its_marked_price(client, shop, db):
    from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
    from returnflow.orders.service import upsert_orders

    record = OrderRecord(number="O-9", currency="CNY", customer=CustomerRecord(external_id="C-9"),
                         ordered_at=recent(), shipped_at=recent(), delivered_at=datetime.now(UTC) - timedelta(days=1),
                         lines=[LineRecord(1, "KETTLE", "Kettle", "general", 29900, 1, 1),
                                LineRecord(2, "MUG", "Gift mug", "general", 3900, 1, 1, gift=True)])
    with db.transaction() as s:
        upsert_orders(s, merchant_id=shop.id, orders=[record])
    # Returned together, the gift costs nothing; kept, it is charged at its marked price (CN10).
    both = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        **RETURN, "order": "O-9", "lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 1}]}).json()
    assert all(x["kind"] != "gift" for line in both["lines"] for x in line["decision"]["deductions"])
    case = open_case(client, shop, {**RETURN, "order": "O-9"})
    d = case["policy"]["lines"][0]["decision"]
    assert {"kind": "gift", "amount": "39.00", "rule": "CN10"} in d["deductions"]
    assert d["refundable"] == "260.00"


def test_imported_history_is_not_decided_again(client, shop, db):
    from returnflow.actor import Actor
    from returnflow.cases.schemas import CaseCreate
    from returnflow.cases.service import open_case as open_

    with db.transaction() as s:
        case = open_(s, actor=Actor(kind="system", role="system", merchant_id=shop.id),
                     data=CaseCreate(order="O-1", type="return_refund", channel="import",
                                     lines=[{"line_no": 1, "quantity": 1}]))
    with db.read() as s:
        row = s.scalar(select(Case).where(Case.number == case.number))
        assert row.policy_decision is None and row.state == "pending_review"
        assert s.scalar(select(CaseEvent.action).where(CaseEvent.case_id == row.id, CaseEvent.seq == 2)) is None


def test_a_customer_may_dry_run_only_their_own_orders(client, shop, db):
    """The portal's dry run: a customer sees the answer for their own orders only, and only as of now."""
    from returnflow.actor import Actor
    from returnflow.orders.models import Customer
    from returnflow.errors import Forbidden, NotFound
    from returnflow.assessment.dry_run import DryRunIn, run_dry

    make_order(db, shop, "O-10", customer="C-10", when=recent())
    with db.read() as s:
        customer_id = s.scalar(select(Customer.id).where(Customer.external_id == "C-1"))
        me = Actor(kind="customer", role="customer", merchant_id=shop.id, customer_id=customer_id)
        assert run_dry(s, me, DryRunIn(**RETURN))["verdict"] == "approve"
        with pytest.raises(NotFound):
            run_dry(s, me, DryRunIn(**{**RETURN, "order": "O-10"}))
        with pytest.raises(Forbidden):  # a customer asks about now, under the active version
            run_dry(s, me, DryRunIn(**{**RETURN, "at": "2026-11-06T10:00:00+08:00"}))


MERCHANT_FILE = """[policy]
id = "shop-2026"
extends = "taobao-current"

[window]
days = 15
counted_from = "signing"

[fees]
restocking_percent = 5

[keep_item]
max_amount = 20

[[rules]]
id = "final-sale-underwear"
kind = "final_sale"
categories = ["underwear"]
basis = "CN3"
"""


def test_the_public_policy_page_is_written_from_the_policy_the_engine_applies(client, shop):
    default = client.get("/api/v1/public/merchants/shop/policy")  # no sign-in
    assert default.status_code == 200
    body = default.json()
    assert body["version"] is None and body["policy_id"] == "cn-law"
    first = body["sections"][0]["items"][0]
    assert first["rule"] == "CN1" and "7 天" in first["text"]["zh-CN"] and "7 days" in first["text"]["en"]
    assert "消费者权益保护法" in first["source"]

    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": MERCHANT_FILE}).status_code == 201
    page = client.get("/api/v1/public/merchants/shop/policy").json()
    assert page["version"] == 1 and page["policy_id"] == "shop-2026"
    items = {it["rule"]: it for sec in page["sections"] for it in sec["items"]}
    assert "15 days" in items["CN1"]["text"]["en"] and "15 天" in items["CN1"]["text"]["zh-CN"]
    assert "5%" in items["M.restocking_fee"]["text"]["en"]
    assert "20 CNY" in items["M.keep_item"]["text"]["en"]
    assert "underwear" in items["final-sale-underwear"]["text"]["en"]
    assert "TB5" in items and "TB1" in items  # the platform clocks of the preset it extends

    # What the page promises is what the engine does: signed on 11-04 (Shanghai), 15 days from the day after.
    make_order(client.app.state.db, shop, "O-P")  # delivered 2026-11-04 18:00 Shanghai
    for at, eligible in (("2026-11-19T23:30:00+08:00", True), ("2026-11-20T00:30:00+08:00", False)):
        d = client.post("/api/v1/policy/dry-run", headers=shop.headers(),
                        json={**RETURN, "order": "O-P", "at": at}).json()
        assert d["lines"][0]["decision"]["eligible"] is eligible, (at, d)


def test_the_public_policy_of_an_unknown_merchant_is_a_clear_404(client, shop):
    r = client.get("/api/v1/public/merchants/nobody/policy", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 404 and r.json()["error"]["field"] == "code"


INSTANT = """[policy]
id = "tb-instant"
extends = "taobao-current"

[instant_refund]
max_amount = 1000
"""


def test_how_the_order_was_paid_decides_refund_on_dispatch_tb9(client, shop, db):
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": INSTANT}).status_code == 201
    make_order(db, shop, "O-RP", customer="C-RP", when=recent(),
               payments=[{"method": "alipay", "amount": 10000}, {"method": "red_packet", "amount": 3550}])
    make_order(db, shop, "O-AP", customer="C-AP", when=recent(), payments=[{"method": "alipay", "amount": 13550}])
    red = open_case(client, shop, {**RETURN, "order": "O-RP"})["policy"]["lines"][0]["decision"]
    plain = open_case(client, shop, {**RETURN, "order": "O-AP"})["policy"]["lines"][0]["decision"]
    assert red["refund_on_dispatch"] is False and "TB9" in red["rule_ids"]
    assert any("red_packet" in c["en"] for c in red["reasons"] if c["rule"] == "TB9")
    assert plain["refund_on_dispatch"] is True and "TB9" not in plain["rule_ids"]


def test_too_many_recent_refunds_refuse_refund_on_dispatch_tb9(client, shop, db):
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": INSTANT}).status_code == 201
    for i in range(6):  # six refund requests by C-1 in the last days (taobao-current allows 5)
        make_order(db, shop, f"O-H{i}", when=recent(), lines=(("SOCK", "9.90", 1),))
        open_case(client, shop, {**RETURN, "order": f"O-H{i}"})
    make_order(db, shop, "O-H9", when=recent())
    d = open_case(client, shop, {**RETURN, "order": "O-H9"})["policy"]["lines"][0]["decision"]
    assert d["refund_on_dispatch"] is False and "TB9" in d["rule_ids"]


RESTOCKING = """[policy]
id = "restock-10"
extends = "cn-law"

[fees]
restocking_percent = 10
"""


def test_the_refund_takes_the_deductions_the_policy_decided(client, shop, db):
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": RESTOCKING}).status_code == 201
    case = open_case(client, shop)  # SKU-A 100.00, approved by the policy with a 10% restocking fee
    assert {"kind": "restocking_fee", "amount": "10.00", "rule": "M.restocking_fee"} in \
        case["policy"]["lines"][0]["decision"]["deductions"]
    for action, role, payload in (("ship_return", "agent", {"carrier": "SF", "tracking_number": "SF1234567890"}),
                                  ("receive", "warehouse", {}), ("inspect", "warehouse", {})):
        r = act(client, shop, case, action, payload, role=role)
        assert r.status_code == 200, r.text
        case = r.json()
    quote = client.post(f"/api/v1/cases/{case['number']}/refunds/quote", headers=shop.headers(), json={})
    assert quote.status_code == 200, quote.text
    line = quote.json()["lines"][0]
    assert [(d["kind"], d["amount"]) for d in line["deductions"]] == [("restocking_fee", "10.00")]
    assert quote.json()["total"] == "90.00"
