"""With a controlled clock, a case nobody touches walks through its deadlines to the automatic outcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from returnflow.cases.models import CaseEvent
from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from returnflow.sla.models import Timer
from tests.support.flows import run
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in Shanghai


def worker(db) -> Worker:
    return Worker(db, DeliverySettings(smtp_host=""), name="test")


def timeline(db, number):
    from returnflow.cases.models import Case

    with db.read() as s:
        case_id = s.scalar(select(Case.id).where(Case.number == number))
        return [(e.action, e.to_state, e.actor_role, e.payload.get("rule")) for e in
                s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))]


def put_settings(client, shop, body):
    r = client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_case_left_alone_is_approved_then_closed_when_the_customer_never_ships(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    put_settings(client, shop, {"steps": {"review": {"hours": 24, "auto_action": "approve", "rule": "TB4"}}})
    with db.transaction() as s:
        from returnflow.cases.schemas import CaseCreate, CaseLineCreate
        from returnflow.cases.service import open_case

        number = open_case(s, actor=shop.actors["agent"], created_at=T0, data=CaseCreate(
            order="O-1", type="return_refund", lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    w = worker(db)
    w.run_once(T0 + timedelta(hours=23), messages=False)
    assert [e[0] for e in timeline(db, number)] == ["open"]  # the reminder only (2 h before), no outcome yet
    w.run_once(T0 + timedelta(hours=24), messages=False)
    assert timeline(db, number)[-1] == ("approve", "awaiting_return", "system", "TB4")
    w.run_once(T0 + timedelta(hours=24 + 7 * 24 - 1), messages=False)
    assert timeline(db, number)[-1][0] == "approve"
    w.run_once(T0 + timedelta(hours=24 + 7 * 24), messages=False)
    # the default timer cites the shop's own preset (cn-law's customer_ship clock), never Taobao's TB5
    assert timeline(db, number)[-1] == ("cancel", "cancelled", "system", "M.customer_ship")
    with db.read() as s:
        left = s.scalars(select(Timer).where(Timer.status == "pending")).all()
    assert left == []


def test_a_missed_review_escalates_on_working_time_and_reminds_the_owner_before(client, db):
    shop = make_shop(db)
    start = datetime(2026, 9, 18, 9, 0, tzinfo=timezone.utc)
    make_order(db, shop, when=start - timedelta(days=30))  # past the return window: the policy leaves it to staff
    # Friday 2026-09-18 17:00 Shanghai; review takes 9 working hours: Sat 19 and Sun rest, Sun 20 is a make-up
    # working day (调休) — so the deadline is Sunday 2026-09-20 17:00, not Monday.
    start = datetime(2026, 9, 18, 9, 0, tzinfo=timezone.utc)
    with db.transaction() as s:
        from returnflow.cases.schemas import CaseCreate, CaseLineCreate
        from returnflow.cases.service import open_case

        number = open_case(s, actor=shop.actors["agent"], created_at=start, data=CaseCreate(
            order="O-1", type="return_refund", lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    with db.read() as s:
        due = s.scalar(select(Timer.due_at).where(Timer.kind == "review.due"))
    assert due == datetime(2026, 9, 20, 9, 0, tzinfo=timezone.utc)
    worker(db).run_once(due, messages=False)
    last = timeline(db, number)[-1]
    assert last == ("escalate", "pending_review", "system", "SLA.review")
    r = client.get(f"/api/v1/cases/{number}", headers=shop.headers())
    assert r.json()["escalation_level"] == 1


def test_the_review_clock_pauses_while_the_customer_is_asked_for_more(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    put_settings(client, shop, {"steps": {"review": {"hours": 10}}})
    with db.transaction() as s:
        from returnflow.cases.schemas import CaseCreate, CaseLineCreate
        from returnflow.cases.service import open_case

        number = open_case(s, actor=shop.actors["agent"], created_at=T0, data=CaseCreate(
            order="O-1", type="return_refund", lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    from returnflow.cases.service import act, get_case

    def do(action, payload, at):
        with db.transaction() as s:
            case = get_case(s, actor=shop.actors["agent"], number=number)
            from returnflow.cases.workflow import fire

            fire(s, case, action, shop.actors["agent"], payload=payload, at=at)

    do("request_info", {"message": "photo please"}, T0 + timedelta(hours=4))  # 6 h left
    worker(db).run_once(T0 + timedelta(hours=30), messages=False)  # waiting on the customer: nothing fires
    assert timeline(db, number)[-1][0] == "request_info"
    do("customer_reply", {"message": "here"}, T0 + timedelta(hours=40))
    with db.read() as s:
        due = s.scalar(select(Timer.due_at).where(Timer.kind == "review.due", Timer.status == "pending"))
    assert due == T0 + timedelta(hours=46)
    _ = (act, run)
