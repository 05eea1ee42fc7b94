"""The policy's deadlines become the case's timers: what the public policy promises is what the worker does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.sla.models import Timer
from tests.sla.test_clock_walk import T0, timeline, worker
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

TAOBAO = """[policy]
id = "tb-shop"
extends = "taobao-current"
"""


def test_an_unanswered_request_within_the_policy_is_approved_at_the_policys_clock(client, db):
    shop = make_shop(db)
    # Delivered two days before T0, 800.00: inside the 7-day window but above the automatic limit (500).
    make_order(db, shop, when=T0 - timedelta(days=5), lines=(("COAT", "800.00", 1),))
    with db.transaction() as s:
        number = open_case(s, actor=shop.actors["agent"], created_at=T0, data=CaseCreate(
            order="O-1", type="return_refund", reason="no_reason_7day",
            lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    with db.read() as s:
        due = s.scalar(select(Timer).where(Timer.kind == "review.due", Timer.status == "pending"))
    assert due.due_at == T0 + timedelta(hours=48) and due.rule == "M.response" and due.action == "approve"

    w = worker(db)
    w.run_once(T0 + timedelta(hours=47), messages=False)
    assert [e[0] for e in timeline(db, number)] == ["open"]
    w.run_once(T0 + timedelta(hours=48), messages=False)
    assert timeline(db, number)[-1] == ("approve", "awaiting_return", "system", "M.response")
    # Then the customer's shipping clock of the policy (cn-law: 7 days, M.customer_ship) closes a return never sent.
    w.run_once(T0 + timedelta(hours=48 + 7 * 24), messages=False)
    assert timeline(db, number)[-1] == ("cancel", "cancelled", "system", "M.customer_ship")


def test_platform_clocks_of_the_preset_drive_the_timers(client, db):
    shop = make_shop(db)
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": TAOBAO}).status_code == 201
    # Shipped, not yet delivered: a refund-only request; TB2 gives the seller 36 hours.
    make_order(db, shop, when=T0 - timedelta(hours=30), delivered=False, lines=(("TV", "900.00", 1),))
    with db.transaction() as s:
        number = open_case(s, actor=shop.actors["agent"], created_at=T0, data=CaseCreate(
            order="O-1", type="refund_only", reason="changed_mind",
            lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    with db.read() as s:
        due = s.scalar(select(Timer).where(Timer.kind == "review.due", Timer.status == "pending"))
    assert due.rule == "TB2" and due.due_at == T0 + timedelta(hours=36)
    worker(db).run_once(T0 + timedelta(hours=36), messages=False)
    assert timeline(db, number)[-1] == ("approve", "resolving", "system", "TB2")


def test_silence_never_approves_what_needs_a_supervisor(client, db):
    shop = make_shop(db)
    make_order(db, shop, when=T0 - timedelta(days=5), lines=(("TV", "6999.00", 1),))  # above 5,000: supervisor
    with db.transaction() as s:
        number = open_case(s, actor=shop.actors["agent"], created_at=T0, data=CaseCreate(
            order="O-1", type="return_refund", reason="no_reason_7day",
            lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    assert timeline(db, number)[-1][0] == "require_approval"
    with db.read() as s:
        due = s.scalar(select(Timer).where(Timer.kind == "review.due", Timer.status == "pending"))
    assert due.action == "escalate"
    worker(db).run_once(T0 + timedelta(days=3), messages=False)
    assert timeline(db, number)[-1][0] == "escalate"
