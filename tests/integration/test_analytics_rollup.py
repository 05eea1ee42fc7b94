"""The step summary (analytics_case_steps) equals what the case events say, after every kind of transition, and the
step-time report read from it equals the one computed from the raw events."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from returnflow.analytics import rollup
from returnflow.analytics.filters import parse
from returnflow.analytics.process import STEPS, nearest_rank, processing_times
from returnflow.actor import Actor
from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.cases.workflow import fire
from tests.support.flows import open_for, run
from tests.support.processes import run_returnflow
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

PLATFORM = Actor(kind="staff", role="platform", name="platform")


def epoch(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def test_summary_follows_every_event_and_the_report_equals_the_raw_events(db):
    shop = make_shop(db)
    for i in range(4):
        make_order(db, shop, f"O-{i}", customer=f"C-{i}")
    full = open_for(db, shop.actors["agent"], "O-0", "return_refund")
    for action, role in (("approve", "agent"), ("ship_return", "agent"), ("receive", "warehouse")):
        run(db, full, action, shop.actors[role])
    rejected = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    run(db, rejected, "reject", shop.actors["agent"])
    run(db, rejected, "close", shop.actors["agent"])
    open_for(db, shop.actors["agent"], "O-2", "refund_only")
    # Back-dated events (an import of history, say): the earliest time of each milestone wins.
    start = datetime.now(timezone.utc) - timedelta(days=10)
    with db.transaction() as session:
        record = open_case(session, actor=shop.actors["agent"], created_at=start, data=CaseCreate(
            order="O-3", type="refund_only", lines=[CaseLineCreate(line_no=1, quantity=1)],
            desired_outcome="refund"))
        fire(session, record, "approve", shop.actors["agent"], at=start + timedelta(hours=5),
             payload={"override_reason": "test"})
        fire(session, record, "resolve", shop.actors["agent"], at=start + timedelta(hours=9),
             payload={"answer": "done"})
    with db.read() as session:
        assert rollup.differences(session) == []
        f = parse(session, PLATFORM, {"merchant": shop.code})
        report = {r["step"]: r for r in processing_times(session, f).rows}
        # The same percentiles straight from the events.
        spans = {s: [] for s, _ in STEPS}
        for row in session.execute(rollup.raw_milestones()):
            t = {k: epoch(row[i]) for i, k in enumerate(
                ("intake", "decision", "shipped", "received", "inspected", "resolved", "closed"), start=3)}
            first = lambda *ks: next((t[k] for k in ks if t[k] is not None), None)  # noqa: E731
            for step, end, begin in (("decision", t["decision"], t["intake"]), ("shipped", t["shipped"], t["decision"]),
                                     ("received", t["received"], first("shipped", "decision")),
                                     ("inspected", t["inspected"], t["received"]),
                                     ("resolved", t["resolved"], first("inspected", "received", "decision", "intake")),
                                     ("closed", t["closed"], first("resolved", "decision")),
                                     ("total", t["closed"], t["intake"])):
                if end is not None and begin is not None:
                    spans[step].append(end - begin)
    want = {s: nearest_rank(v) for s, v in spans.items() if v}
    assert set(report) == set(want)
    for step, figures in want.items():
        assert {k: report[step][k] for k in figures} == figures, step
    assert report["resolved"]["p50"] == 4 * 3600  # the back-dated case: approved at +5 h, resolved at +9 h

    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}
    # A summary that drifted (a write outside the workflow) is found, and rebuilt from the events.
    with db.transaction() as session:
        session.execute(update(rollup.STEPS_TABLE).values(decision_at=None))
    with db.read() as session:
        assert len(rollup.differences(session)) == 3
    drift = run_returnflow(["report", "rollup-check"], env=env, timeout=120)
    assert drift.returncode == 1 and "rollup-rebuild" in drift.stdout
    with db.transaction() as session:
        assert rollup.rebuild(session) == 4
    with db.read() as session:
        assert rollup.differences(session) == []
    check = run_returnflow(["report", "rollup-check"], env=env, timeout=120)
    assert check.returncode == 0 and "equals the events" in check.stdout


def test_the_summary_keeps_the_first_decider_and_the_last_closing_through_a_reopening(db):
    """Who decided is the first decision's actor and the closing step the last closing's, as the satisfaction tile
    reads them (they used to be looked up among the events per answer); the seconds per step are the database's."""
    shop = make_shop(db)
    make_order(db, shop, "O-1", customer="C-1")
    number = open_for(db, shop.actors["agent"], "O-1", "refund_only", desired_outcome="refund")
    run(db, number, "reject", shop.actors["agent"], {"reason": "not our item"})
    run(db, number, "close", shop.actors["agent"])
    with db.read() as session:
        row = session.execute(select(rollup.STEPS_TABLE)).one()
    assert (row.decided_by, row.closed_from) == ("agent of shop", "rejected")
    assert row.decision_secs == pytest.approx((row.decision_at - row.intake_at).total_seconds(), abs=1e-3)
    assert row.total_secs == pytest.approx((row.closed_at - row.intake_at).total_seconds(), abs=1e-3)
    assert row.shipped_secs is None and row.received_secs is None and row.resolved_secs is None
    run(db, number, "reopen", shop.actors["supervisor"], {"reason": "the customer sent proof"})
    run(db, number, "approve", shop.actors["supervisor"])
    run(db, number, "resolve", shop.actors["supervisor"], {"answer": "refunded"})
    run(db, number, "close", shop.actors["supervisor"])
    with db.read() as session:
        assert rollup.differences(session) == []
        row = session.execute(select(rollup.STEPS_TABLE)).one()
    # The first decision and the first closing time stay; the state it was last closed from follows the events.
    assert row.decided_by == "agent of shop"
    assert row.closed_from == "resolved"
    # A drift in either is found, like a drift in the times.
    with db.transaction() as session:
        session.execute(update(rollup.STEPS_TABLE).values(decided_by="someone else"))
    with db.read() as session:
        assert len(rollup.differences(session)) == 1
