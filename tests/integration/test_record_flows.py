"""flows.move runs the money records' declared tables: a move the table does not allow, or by a role it does not
list, is refused and changes nothing; an allowed one sets the state, bumps the version and writes one event, and
the API's `history` is read from those events in the shape it always had."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from returnflow.errors import Conflict, Forbidden
from returnflow.flows import OPENING, RecordEvent, history, move
from returnflow.refunds import charges, grants
from returnflow.refunds.models import Compensation
from returnflow.refunds.money_flows import CHARGE_OPS, COMPENSATION, MONEY_FLOWS
from returnflow.refunds.schemas import CompensationCreate
from tests.support.money import paid_order, refund_only_case
from tests.support.world import make_shop

AT = datetime(2026, 6, 15, 9, 0, tzinfo=timezone.utc)


def test_every_table_names_only_its_own_states_and_reaches_them_all():
    for flow in MONEY_FLOWS:
        states = set(flow.states)
        reached = {t.to for t in flow.transitions if t.to is not None}
        for t in flow.transitions:
            assert t.sources <= states | {OPENING}, (flow.kind, t.action)
            assert t.to is None or t.to in states, (flow.kind, t.action)
            assert t.roles, (flow.kind, t.action)
        assert len({t.action for t in flow.transitions}) == len(flow.transitions), flow.kind
        opened = {"requested"} if "requested" in states else set()  # inserted in it and moved on at once
        assert states - reached == opened, flow.kind
    assert charges.OPS is CHARGE_OPS  # the gateway operations and the table are one declaration


def _events(db, comp_id: int) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(RecordEvent).where(
            RecordEvent.kind == "compensation", RecordEvent.record_id == comp_id))


def test_move_refuses_what_the_table_does_not_allow_and_records_what_it_does(db):
    shop = make_shop(db)
    paid_order(db, shop, "F-1")
    case = refund_only_case(db, shop, "F-1")
    with db.transaction() as s:  # above the agent's limit: awaits approval
        comp = grants.compensate(s, actor=shop.actors["agent"], number=case,
                                 body=CompensationCreate(kind="credit", amount="900.00", currency="CNY", reason="late"))
        comp_id = comp.id
        answered = grants.compensation_dict(comp)
    assert (answered["state"], answered["version"]) == ("awaiting_approval", 1)
    assert [(h.get("from"), h["to"], h["by"], h["role"]) for h in answered["history"]] == [
        ("requested", "awaiting_approval", shop.actors["agent"].ref, "agent")]

    with pytest.raises(Conflict) as refused, db.transaction() as s:
        move(s, COMPENSATION, s.get(Compensation, comp_id), "apply", by="user:1", role="admin", at=AT)
    assert refused.value.key == "illegal_move" and refused.value.params["state"] == "awaiting_approval"
    with pytest.raises(Forbidden), db.transaction() as s:
        move(s, COMPENSATION, s.get(Compensation, comp_id), "approve", by="user:1", role="agent", at=AT)
    with db.read() as s:
        row = s.get(Compensation, comp_id)
        assert (row.state, row.version) == ("awaiting_approval", 1)
    assert _events(db, comp_id) == 1

    with db.transaction() as s:
        move(s, COMPENSATION, s.get(Compensation, comp_id), "reject", by="user:77", role="supervisor", at=AT,
             data={"reason": "not ours"})
    with db.read() as s:
        row = s.get(Compensation, comp_id)
        assert (row.state, row.version) == ("rejected", 2)
        assert history(s, "compensation", comp_id)[-1] == {"at": AT.isoformat(), "from": "awaiting_approval",
                                                           "to": "rejected", "by": "user:77", "reason": "not ours"}
