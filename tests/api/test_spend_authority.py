"""Authority over value taken off a customer's ledger (balance spends), through the API: within the spender's
limit it is taken at once, above it it waits (202, balance untouched) until an approver within limit approves it
once — never below zero — or rejects it; roles × amounts × assets."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from tests.support.money import paid_order, refund_only_case
from tests.support.world import ROLES, make_shop

AMOUNTS = ("9.99", "10.00", "10.01", "100.00", "100.01", "99999999.00")
LIMITS = {"agent": Decimal("10.00"), "supervisor": Decimal("100.00")}
KIND = {"store_credit": "credit", "points": "points", "coupon": "coupon"}
URL = "/api/v1/customers/C-1/balance/spend"


def _within(role, amount):
    return role == "admin" or (role in LIMITS and amount <= LIMITS[role])


def _balance(client, shop, asset):
    found = client.get("/api/v1/customers/C-1/balance", headers=shop.headers("admin")).json()["balances"]
    return sum((Decimal(b["amount"]) for b in found if b["asset"] == asset), Decimal(0))


def _funded(client, db, asset, amount="400000000.00"):
    shop = make_shop(db)
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"agent_limit": {"CNY": "10.00"}, "supervisor_limit": {"CNY": "100.00"}}).status_code == 200
    r = client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("admin"),
                    json={"kind": KIND[asset], "amount": amount, "currency": "CNY", "reason": "opening balance"})
    assert r.status_code == 201 and r.json()["state"] == "applied", r.text
    return shop


def _spend(client, shop, role, asset, amount, reference="O-2"):
    return client.post(URL, headers=shop.headers(role), json={"asset": asset, "currency": "CNY", "amount": amount,
                                                              "reference": reference})


@pytest.mark.parametrize("asset", tuple(KIND))
def test_matrix_of_roles_amounts_and_approvers(client, db, asset):
    shop = _funded(client, db, asset)
    waited = 0
    for role, amount in itertools.product(ROLES, AMOUNTS):
        value, before = Decimal(amount), _balance(client, shop, asset)
        r = _spend(client, shop, role, asset, amount)
        if role in ("warehouse", "finance"):
            assert r.status_code == 403 and _balance(client, shop, asset) == before, (role, amount)
            continue
        within = _within(role, value)
        assert r.status_code == (200 if within else 202), (role, amount, r.text)
        assert r.json()["state"] == ("applied" if within else "awaiting_approval")
        assert _balance(client, shop, asset) == before - (value if within else 0), (role, amount)
        if within:
            continue
        waited += 1
        applied = False
        for approver in ROLES:
            d = client.post(f"/api/v1/balance-spends/{r.json()['id']}/approve", headers=shop.headers(approver),
                            json={})
            if approver not in ("supervisor", "admin"):
                want = 403
            elif applied:
                want = 409
            elif approver == role or not _within(approver, value):
                want = 403
            else:
                want, applied = 200, True
            assert d.status_code == want, (role, amount, approver, d.text)
        assert applied and _balance(client, shop, asset) == before - value, (role, amount)
    assert waited == 4 + 2  # the agent's four above 10.00, the supervisor's two above 100.00
    assert client.get("/api/v1/balance-spends", params={"state": "awaiting_approval"},
                      headers=shop.headers("admin")).json()["items"] == []


def test_an_approved_spend_never_takes_the_balance_below_zero_and_a_rejected_one_takes_nothing(client, db):
    shop = _funded(client, db, "store_credit", amount="50.00")
    first = _spend(client, shop, "agent", "store_credit", "40.00").json()
    second = _spend(client, shop, "agent", "store_credit", "30.00").json()
    too_much = _spend(client, shop, "agent", "store_credit", "50.01")
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "insufficient_balance"
    assert (first["state"], second["state"]) == ("awaiting_approval", "awaiting_approval")
    ok = client.post(f"/api/v1/balance-spends/{first['id']}/approve", headers=shop.headers("supervisor"),
                     json={"version": 1})
    assert ok.status_code == 200 and ok.json()["balance"] == "10.00", ok.text
    short = client.post(f"/api/v1/balance-spends/{second['id']}/approve", headers=shop.headers("supervisor"),
                        json={})
    assert (short.status_code, short.json()["error"]["code"]) == (422, "insufficient_balance")
    stale = client.post(f"/api/v1/balance-spends/{second['id']}/reject", headers=shop.headers("supervisor"),
                        json={"reason": "no", "version": 3})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    no = client.post(f"/api/v1/balance-spends/{second['id']}/reject", headers=shop.headers("supervisor"),
                     json={"reason": "the new order was cancelled"})
    assert no.status_code == 200 and (no.json()["state"], no.json()["decision_note"]) == \
        ("rejected", "the new order was cancelled")
    assert _balance(client, shop, "store_credit") == Decimal("10.00")
    for bad in ("0", "-1", "1.001", "1e30", "Infinity"):
        r = _spend(client, shop, "admin", "store_credit", bad)
        assert (r.status_code, r.json()["error"]["field"]) == (422, "amount"), bad
    assert _balance(client, shop, "store_credit") == Decimal("10.00")


def test_two_approvals_of_one_spend_at_once_take_it_once(client, db):
    import threading

    from returnflow.errors import AppError
    from returnflow.refunds import credit

    shop = _funded(client, db, "store_credit", amount="1000.00")
    for n in range(4):
        made = _spend(client, shop, "agent", "store_credit", "100.00", reference=f"O-{n}").json()
        assert made["state"] == "awaiting_approval"
        barrier, results = threading.Barrier(2), []

        def go(role, spend_id=made["id"]):
            barrier.wait()
            try:
                with db.transaction() as session:
                    results.append(credit.approve(session, actor=shop.actors[role], spend_id=spend_id)["state"])
            except AppError as exc:
                results.append(exc.status)

        threads = [threading.Thread(target=go, args=(role,)) for role in ("supervisor", "admin")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(map(str, results)) == ["409", "applied"], results
        assert _balance(client, shop, "store_credit") == Decimal("1000.00") - 100 * (n + 1)
