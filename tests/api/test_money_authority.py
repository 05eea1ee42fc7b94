"""Authority on every money move, through the API: compensation (coupon, store credit, points) at or below the
requester's limit is applied at once, above it waits with nothing on the customer's ledger until someone whose own
limit covers it approves (exactly once) or rejects it; a matrix over roles × amounts × kinds, bad amounts, stale and
racing approvals, and a property over any order of requests and decisions."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from returnflow.errors import AppError
from returnflow.refunds import grants
from returnflow.refunds.models import Compensation, LedgerEntry, Voucher
from returnflow.refunds.schemas import CompensationCreate
from tests.support.money import paid_order, refund_only_case
from tests.support.world import ROLES, make_shop

ASSET = {"coupon": "coupon", "credit": "store_credit", "points": "points"}
LIMITS = {"agent": Decimal("10.00"), "supervisor": Decimal("100.00")}
# Below, at and above each limit, and the amount an agent once granted in one call.
AMOUNTS = ("9.99", "10.00", "10.01", "99.99", "100.00", "100.01", "99999999.00")
APPROVERS = ("supervisor", "admin")


def _setup(client, db):
    shop = make_shop(db)
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    r = client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                   json={"agent_limit": {"CNY": "10.00"}, "supervisor_limit": {"CNY": "100.00"}})
    assert r.status_code == 200, r.text
    return shop, number


def _balance(client, shop, asset: str) -> Decimal:
    found = client.get("/api/v1/customers/C-1/balance", headers=shop.headers("admin")).json()["balances"]
    return sum((Decimal(b["amount"]) for b in found if b["asset"] == asset), Decimal(0))


def _within(role: str, amount: Decimal) -> bool:
    """Whether `role`'s own authority covers `amount` (admin: no limit)."""
    return role == "admin" or (role in LIMITS and amount <= LIMITS[role])


def _ask(client, shop, number, role, kind, amount, **more):
    return client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers(role),
                       json={"kind": kind, "amount": amount, "currency": "CNY", "reason": "late delivery", **more})


@pytest.mark.parametrize("kind", tuple(ASSET))
def test_matrix_of_roles_amounts_and_approvers(client, db, kind):
    shop, number = _setup(client, db)
    asset = ASSET[kind]
    checked = 0
    for role, amount in itertools.product(ROLES, AMOUNTS):
        value = Decimal(amount)
        before = _balance(client, shop, asset)
        r = _ask(client, shop, number, role, kind, amount)
        if role not in ("agent", "supervisor", "admin"):
            assert r.status_code == 403, (role, amount, r.text)
            assert _balance(client, shop, asset) == before
            checked += 1
            continue
        assert r.status_code == 201, (role, amount, r.text)
        made = r.json()
        expected = "applied" if _within(role, value) else "awaiting_approval"
        assert (made["state"], made["amount"]) == (expected, amount), (role, amount)
        assert _balance(client, shop, asset) == before + (value if expected == "applied" else 0), (role, amount)
        assert (made["code"] is not None) == (kind == "coupon" and expected == "applied")
        checked += 1
        if expected == "applied":
            continue
        # Who may approve it: a supervisor or admin whose own limit covers it, never the requester; the first one
        # allowed applies it, everyone after finds it applied (409), and the balance moves exactly once.
        applied = False
        for approver in ROLES:
            d = client.post(f"/api/v1/compensations/{made['id']}/approve", headers=shop.headers(approver),
                            json={"version": 1} if not applied else {})
            if approver not in APPROVERS:
                want = 403
            elif applied:
                want = 409
            elif approver == role or not _within(approver, value):
                want = 403
            else:
                want, applied = 200, True
            assert d.status_code == want, (role, amount, approver, d.text)
            checked += 1
        assert applied, (role, amount)
        got = client.get(f"/api/v1/compensations/{made['id']}", headers=shop.headers("finance")).json()
        assert got["state"] == "applied" and got["version"] == 2 and got["approved_by"] != made["created_by"]
        assert _balance(client, shop, asset) == before + value, (role, amount)
    with db.read() as s:
        entries = s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.compensation_id.is_not(None)))
        vouchers = s.scalar(select(func.count()).select_from(Voucher).where(Voucher.kind == "compensation"))
        applied_rows = s.scalar(select(func.count()).select_from(Compensation).where(Compensation.state == "applied"))
    assert entries == vouchers == applied_rows == 3 * len(AMOUNTS)  # every request of agent, supervisor, admin
    assert checked == 5 * len(AMOUNTS) + 7 * 5  # 35 requests; 7 awaited approval (5 agent's, 2 supervisor's) × 5


def test_a_rejection_gives_nothing_keeps_the_reason_and_is_final(client, db):
    shop, number = _setup(client, db)
    made = _ask(client, shop, number, "agent", "credit", "99999999.00").json()
    assert made["state"] == "awaiting_approval"
    queue = client.get("/api/v1/compensations", params={"state": "awaiting_approval"},
                       headers=shop.headers("supervisor")).json()["items"]
    assert [c["id"] for c in queue] == [made["id"]]
    missing = client.post(f"/api/v1/compensations/{made['id']}/reject", headers=shop.headers("supervisor"), json={})
    assert (missing.status_code, missing.json()["error"]["field"]) == (422, "reason")
    assert client.post(f"/api/v1/compensations/{made['id']}/reject", headers=shop.headers("agent"),
                       json={"reason": "mine"}).status_code == 403
    done = client.post(f"/api/v1/compensations/{made['id']}/reject", headers=shop.headers("supervisor"),
                       json={"reason": "far above any real loss", "version": 1})
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["decision_note"]) == ("rejected", "far above any real loss")
    assert [h["to"] for h in done.json()["history"]] == ["awaiting_approval", "rejected"]
    after = client.post(f"/api/v1/compensations/{made['id']}/approve", headers=shop.headers("admin"), json={})
    assert (after.status_code, after.json()["error"]["code"]) == (409, "compensation_state")
    assert _balance(client, shop, "store_credit") == 0
    other = make_shop(db, "other")
    assert client.get(f"/api/v1/compensations/{made['id']}", headers=other.headers("admin")).status_code == 404
    assert client.post(f"/api/v1/compensations/{made['id']}/approve", headers=other.headers("admin"),
                       json={}).status_code == 404


def test_a_stale_approval_is_refused_in_the_callers_language(client, db):
    shop, number = _setup(client, db)
    made = _ask(client, shop, number, "agent", "coupon", "50.00").json()
    stale = client.post(f"/api/v1/compensations/{made['id']}/approve", json={"version": 7},
                        headers=shop.headers("supervisor", **{"Accept-Language": "en"}))
    assert (stale.status_code, stale.json()["error"]["code"], stale.json()["error"]["field"]) == \
        (409, "stale_version", "version")
    assert _balance(client, shop, "coupon") == 0
    ok = client.post(f"/api/v1/compensations/{made['id']}/approve", headers=shop.headers("supervisor"),
                     json={"version": 1, "note": "checked the order"})
    assert ok.status_code == 200 and ok.json()["code"].startswith("CP")
    assert _balance(client, shop, "coupon") == Decimal("50.00")


@pytest.mark.parametrize("amount", ["0", '"0"', '"-1.00"', '"1.001"', '"1e30"', "99999999999999999999", '"NaN"',
                                    '"Infinity"', '"abc"', "1e309", "-1e309", "true", "null", '""'])
def test_bad_amounts_are_refused_naming_the_field_and_change_nothing(client, db, amount):
    shop, number = _setup(client, db)
    body = '{"kind": "credit", "amount": %s, "currency": "CNY", "reason": "x"}' % amount
    for lang in ("zh-CN", "en"):
        r = client.post(f"/api/v1/cases/{number}/compensations", content=body.encode(),
                        headers=shop.headers("admin", **{"Accept-Language": lang, "Content-Type": "application/json"}))
        assert r.status_code == 422, (amount, r.text)
        assert r.json()["error"]["field"].split(".")[-1] == "amount", r.text
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["error"]["message"])
        assert chinese == (lang == "zh-CN"), r.text
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Compensation)) == 0
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_two_approvals_at_once_apply_it_once(db):
    """Two approvers (supervisor and admin) approve the same compensation at the same instant, several times."""
    shop = make_shop(db)
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    for n in range(5):
        with db.transaction() as session:
            comp = grants.compensate(session, actor=shop.actors["agent"], number=number, body=CompensationCreate(
                kind="credit", amount=Decimal("600.00"), currency="CNY", reason=f"round {n}"))
            comp_id, state = comp.id, comp.state
        assert state == "awaiting_approval"  # above the default agent limit of 500
        barrier, results = threading.Barrier(2), []

        def go(role):
            barrier.wait()
            try:
                with db.transaction() as session:
                    results.append(grants.approve(session, actor=shop.actors[role], comp_id=comp_id).state)
            except AppError as exc:
                results.append(exc.status)

        threads = [threading.Thread(target=go, args=(role,)) for role in APPROVERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(map(str, results)) == ["409", "applied"], results
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(LedgerEntry)
                            .where(LedgerEntry.compensation_id == comp_id)) == 1
            assert s.scalar(select(func.sum(LedgerEntry.amount))) == 60000 * (n + 1)


def test_balance_is_the_sum_of_applied_grants_whatever_the_order(client, db):
    shop, number = _setup(client, db)
    ids: list[tuple[int, str, Decimal]] = []
    expected = {asset: Decimal(0) for asset in ASSET.values()}
    op = st.one_of(
        st.tuples(st.just("ask"), st.sampled_from(("agent", "supervisor", "admin")), st.sampled_from(tuple(ASSET)),
                  st.integers(1, 20_000)),
        st.tuples(st.just("approve"), st.sampled_from(APPROVERS), st.integers(0, 50), st.none()),
        st.tuples(st.just("reject"), st.sampled_from(APPROVERS), st.integers(0, 50), st.none()))

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops=st.lists(op, min_size=1, max_size=12))
    def run(ops):
        for name, role, what, cents in ops:
            if name == "ask":
                amount = Decimal(cents) / 100
                r = _ask(client, shop, number, role, what, str(amount))
                assert r.status_code == 201, r.text
                ids.append((r.json()["id"], ASSET[what], amount))
                if r.json()["state"] == "applied":
                    expected[ASSET[what]] += amount
                continue
            if not ids:
                continue
            comp_id, asset, amount = ids[what % len(ids)]
            body = {"reason": "no"} if name == "reject" else {}
            r = client.post(f"/api/v1/compensations/{comp_id}/{name}", headers=shop.headers(role), json=body)
            assert r.status_code in (200, 403, 409), r.text
            if r.status_code == 200 and name == "approve":
                expected[asset] += amount
        for asset, total in expected.items():
            assert _balance(client, shop, asset) == total
        with db.read() as s:
            applied = s.scalar(select(func.coalesce(func.sum(Compensation.amount), 0))
                               .where(Compensation.state == "applied"))
        assert Decimal(applied) / 100 == sum(expected.values())

    run()


# ---- charges to the customer: the replacement priced above the order (advance exchange) ------------------------

CHARGE_EXTRAS = ("9.99", "10.00", "10.01", "100.00", "100.01")  # the price difference the shipper decides


def test_matrix_of_roles_and_priced_charges_and_their_approvers(client, db):
    from tests.support.returns import case_awaiting_return, shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"agent_limit": {"CNY": "10.00"}, "supervisor_limit": {"CNY": "100.00"}}).status_code == 200
    assert client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"),
                      json={"hold": True}).status_code == 200
    seen = {"holding": 0, "awaiting_approval": 0}
    for n, (role, extra) in enumerate(itertools.product(ROLES, CHARGE_EXTRAS)):
        case = case_awaiting_return(client, shop, db, f"AX-{n}", type_="exchange", advance=True, claim=[(1, 1)])
        item = {"line_id": case["lines"][0]["id"], "sku": "SKU-A-GOLD", "quantity": 1,
                "unit_price": str(Decimal("100.00") + Decimal(extra))}  # the order's SKU-A is 100.00
        r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers(role),
                        json={"version": case["version"], "carrier": "SF", "tracking_number": f"SF{3000000000000 + n}",
                              "items": [item]})
        if role == "finance":  # finance does not ship
            assert r.status_code == 403, r.text
            continue
        assert r.status_code == 201, (role, extra, r.text)
        charge = client.get(f"/api/v1/cases/{case['number']}/advance-exchange", headers=shop.headers()).json()["charge"]
        expected = "holding" if _within(role, Decimal(extra)) else "awaiting_approval"
        assert (charge["state"], charge["amount"]) == (expected, str(Decimal("100.00") + Decimal(extra))), (role, extra)
        seen[expected] += 1
        if expected == "holding":
            continue
        applied = False
        for approver in ROLES:
            d = client.post(f"/api/v1/money/charges/{charge['number']}/approve", headers=shop.headers(approver),
                            json={})
            if approver not in APPROVERS:
                want = 403
            elif applied:
                want = 409
            elif approver == role or not _within(approver, Decimal(extra)):
                want = 403
            else:
                want, applied = 200, True
            assert d.status_code == want, (role, extra, approver, d.text)
        assert applied
        after = client.get(f"/api/v1/cases/{case['number']}/advance-exchange", headers=shop.headers()).json()
        assert after["charge"]["state"] == "holding"  # its hold now goes to the gateway, once
    # warehouse: no money authority (all 5 wait); agent: 3 above 10.00; supervisor: 1 above 100.00
    assert seen == {"holding": 11, "awaiting_approval": 9}
    assert client.get("/api/v1/money/charges", headers=shop.headers("supervisor")).json()["items"] == []


def _priced_exchange(client, db, shop, order, tracking, price):
    from tests.support.returns import case_awaiting_return

    case = case_awaiting_return(client, shop, db, order, type_="exchange", advance=True, claim=[(1, 1)])
    item = {"line_id": case["lines"][0]["id"], "sku": "SKU-A-GOLD", "quantity": 1, "unit_price": price}
    r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers("agent"),
                    json={"version": case["version"], "carrier": "SF", "tracking_number": tracking, "items": [item]})
    assert r.status_code == 201, r.text
    return case["number"]


def _escalations(client, shop, number):
    events = client.get(f"/api/v1/cases/{number}/timeline", headers=shop.headers()).json()
    return [e["payload"]["reason"] for e in events
            if e["action"] == "escalate" and e["payload"].get("rule") == "advance_exchange"]


def test_a_rejected_charge_takes_nothing_and_the_overdue_return_goes_to_a_person(client, db):
    from returnflow.cases.models import OutboxMessage
    from returnflow.db import utcnow
    from tests.sla.test_clock_walk import worker
    from tests.support.returns import shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"),
               json={"hold": True, "on_overdue": "charge", "grace_days": 0, "return_days": 1})
    shipped = utcnow()
    number = _priced_exchange(client, db, shop, "AX-1", "SF3000000000001", "99999999.00")
    waiting = client.get("/api/v1/money/charges", headers=shop.headers("supervisor")).json()["items"]
    assert [(c["state"], c["amount"]) for c in waiting] == [("awaiting_approval", "99999999.00")]
    charge = waiting[0]["number"]
    assert client.post(f"/api/v1/money/charges/{charge}/reject", headers=shop.headers("supervisor"),
                       json={"reason": ""}).status_code == 422
    done = client.post(f"/api/v1/money/charges/{charge}/reject", headers=shop.headers("supervisor"),
                       json={"reason": "the gold variant is a mistake"})
    assert done.status_code == 200 and done.json()["state"] == "rejected", done.text
    again = client.post(f"/api/v1/money/charges/{charge}/approve", headers=shop.headers("admin"), json={})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "charge_state")
    worker(db).run_once(shipped + timedelta(days=2))  # the original is overdue: a person decides, nothing is taken
    assert any("rejected" in reason for reason in _escalations(client, shop, number))
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.topic == "customer_charge")) == 0


def test_a_charge_opened_at_the_deadline_for_a_dear_replacement_waits_for_approval(client, db):
    from returnflow.db import utcnow
    from tests.sla.test_clock_walk import worker
    from tests.support.returns import shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"),
               json={"hold": False, "on_overdue": "charge", "grace_days": 0, "return_days": 1})
    shipped = utcnow()
    number = _priced_exchange(client, db, shop, "AX-2", "SF3000000000002", "900.00")  # 800.00 above the order
    worker(db).run_once(shipped + timedelta(days=2))
    info = client.get(f"/api/v1/cases/{number}/advance-exchange", headers=shop.headers()).json()
    assert (info["charge"]["state"], info["charge"]["amount"]) == ("awaiting_approval", "900.00")
    ok = client.post(f"/api/v1/money/charges/{info['charge']['number']}/approve", headers=shop.headers("admin"),
                     json={"note": "the customer chose gold"})
    assert ok.status_code == 200 and ok.json()["state"] == "charging", ok.text


def test_a_charge_awaiting_approval_is_withdrawn_when_the_original_arrives(client, db):
    """An advance exchange priced above its shipper's limit waits for approval; the original arriving first means
    there is nothing to take: the waiting hold is withdrawn, and no approval can start it afterwards."""
    from returnflow.cases.models import OutboxMessage
    from returnflow.db import utcnow
    from tests.sla.test_clock_walk import worker
    from tests.support.returns import ship_back, shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"),
               json={"hold": True, "on_overdue": "charge", "grace_days": 0, "return_days": 1})
    number = _priced_exchange(client, db, shop, "AX-3", "SF3000000000003", "99999999.00")
    waiting = client.get("/api/v1/money/charges", headers=shop.headers("supervisor")).json()["items"]
    assert [c["state"] for c in waiting] == ["awaiting_approval"]
    case = ship_back(client, shop, client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json(),
                     number="SF1234567890124")
    assert client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"),
                       json={"code": "SF1234567890124"}).status_code == 201
    worker(db).run_once(utcnow() + timedelta(days=3))  # long past the deadline: nothing is taken
    info = client.get(f"/api/v1/cases/{case['number']}/advance-exchange", headers=shop.headers()).json()
    assert info["charge"]["state"] == "withdrawn", info
    late = client.post(f"/api/v1/money/charges/{waiting[0]['number']}/approve", headers=shop.headers("admin"),
                       json={})
    assert late.status_code == 409
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.topic == "customer_charge")) == 0
