"""Helpers for the money rules' scenarios: orders delivered relative to now, cases opened and brought to a refund
through the API and the workflow."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from returnflow.db import utcnow
from tests.support.flows import run
from tests.support.world import Shop, make_order

LINES = (("A", "60.00", 1), ("B", "50.00", 1), ("C", "30.00", 1))


def recent_order(db, shop: Shop, number: str, *, lines=LINES, days_ago: int = 2, **facts) -> str:
    """An order delivered `days_ago` days before now (so the no-reason window is open)."""
    return make_order(db, shop, number, lines=lines, when=utcnow() - timedelta(days=days_ago + 3), **facts)


def open_case(client, shop: Shop, order: str, picks: list[tuple[int, int]], *, reason: str = "no_reason_7day",
              type_: str = "return_refund") -> dict:
    r = client.post("/api/v1/cases", headers=shop.headers("agent"), json={
        "order": order, "type": type_, "reason": reason,
        "lines": [{"line_no": n, "quantity": q} for n, q in picks]})
    assert r.status_code == 201, r.text
    return client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()


def to_inspected(db, shop: Shop, case: dict) -> None:
    """From wherever the case stands: approve, the customer ships, the warehouse receives and accepts every unit."""
    number, state = case["number"], case["state"]
    if state == "pending_review":  # not approved automatically by the policy
        run(db, number, "approve", shop.actors["agent"])
        state = "awaiting_return"
    if state == "awaiting_return":
        run(db, number, "ship_return", shop.actors["agent"])
    run(db, number, "receive", shop.actors["warehouse"], {})
    run(db, number, "inspect", shop.actors["warehouse"],
        {"lines": [{"line_id": line["id"], "quantity": line["quantity"], "verdict": "ok"} for line in case["lines"]]})


def policy_deductions(case_or_dry: dict, kind: str) -> Decimal:
    dry = "number" not in case_or_dry  # a dry run has no case number
    lines = case_or_dry["lines"] if dry else case_or_dry["policy"]["lines"]
    return sum((Decimal(d["amount"]) for line in lines for d in line["decision"]["deductions"] if d["kind"] == kind),
               Decimal(0))


def refund_deductions(refund_or_quote: dict, kind: str) -> Decimal:
    return sum((Decimal(d["amount"]) for line in refund_or_quote["lines"] for d in line["deductions"]
                if d["kind"] == kind), Decimal(0))
