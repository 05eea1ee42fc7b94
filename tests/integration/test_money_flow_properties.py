"""Property: whatever finance and the gateways do to a refund's legs, in any order and repeated (execute, mark paid
by hand, a gateway answering succeeded / failed / no outcome yet), every leg's history is an unbroken chain of its
declared table's moves ending in its state, a leg is paid at most once (one settlement voucher, one `settle`), a
refused step changes nothing, and the refund completes exactly when every leg is paid — once."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from returnflow.errors import AppError
from returnflow.flows import OPENING, RecordEvent
from returnflow.refunds import service, settle
from returnflow.refunds.gateways import GatewaySettings, Outcome
from returnflow.refunds.models import Refund, RefundPayment, Voucher
from returnflow.refunds.money_flows import REFUND_PAYMENT
from returnflow.refunds.schemas import RefundCreate
from tests.support.money import paid_order, refund_only_case
from tests.support.world import make_shop

COUNTER = itertools.count()
STEPS = st.one_of(st.just(("execute", 0)), st.tuples(st.just("mark"), st.integers(0, 1)),
                  st.tuples(st.sampled_from(["succeeded", "failed", "sent"]), st.integers(0, 1)))


def _events(session, kind: str, record_id: int) -> list[RecordEvent]:
    return list(session.scalars(select(RecordEvent).where(RecordEvent.kind == kind, RecordEvent.record_id == record_id)
                                .order_by(RecordEvent.id)))


def _snapshot(db, refund_id: int) -> tuple:
    with db.read() as s:
        legs = s.execute(select(RefundPayment.id, RefundPayment.state).where(RefundPayment.refund_id == refund_id)
                         .order_by(RefundPayment.id)).all()
        events = s.scalar(select(func.count()).select_from(RecordEvent))
        vouchers = s.scalar(select(func.count()).select_from(Voucher))
    return tuple(legs), events, vouchers


def test_any_order_of_finance_and_gateway_steps_pays_each_leg_once(db):
    shop = make_shop(db)
    finance, admin = shop.actors["finance"], shop.actors["admin"]

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=st.lists(STEPS, min_size=1, max_size=9))
    def run(steps):
        n = next(COUNTER)
        order = f"P-{n}"
        paid_order(db, shop, order, payments=(("alipay", None), ("card", "50.00")), customer=f"P-{n}")
        case = refund_only_case(db, shop, order, line_no=1)
        with db.transaction() as session:
            refund = service.request_refund(session, actor=admin, number=case, body=RefundCreate())
            refund_id, number = refund.id, refund.number
            legs = [(leg.id, leg.number) for leg in session.scalars(select(RefundPayment).where(
                RefundPayment.refund_id == refund_id).order_by(RefundPayment.id))]
        for step, i in steps:
            before = _snapshot(db, refund_id)
            leg_id, leg_number = legs[i]
            try:
                if step == "execute":
                    settle.execute(db, GatewaySettings(), actor=finance, number=number)
                elif step == "mark":
                    with db.transaction() as session:
                        settle.mark_paid(session, actor=finance, number=leg_number, reference=f"B-{leg_number}")
                else:
                    with db.transaction() as session:
                        settle.record(session, leg_id, Outcome(step, provider_ref=f"P-{leg_number}"),
                                      by="gateway:fake", source="fake answer")
            except AppError:
                assert _snapshot(db, refund_id) == before, (step, i)  # a refusal changes nothing

        with db.read() as s:
            refund = s.get(Refund, refund_id)
            states = []
            for leg_id, _ in legs:
                leg = s.get(RefundPayment, leg_id)
                chain = _events(s, REFUND_PAYMENT.kind, leg_id)
                state = OPENING
                for event in chain:
                    assert event.from_state == state, [(e.action, e.from_state, e.to_state) for e in chain]
                    move = REFUND_PAYMENT.transition(event.action)
                    assert state in move.sources and event.to_state == move.to
                    state = event.to_state if event.to_state is not None else state
                assert state == leg.state
                assert sum(e.action == "settle" for e in chain) == (leg.state == "succeeded")
                vouchers = s.scalar(select(func.count()).select_from(Voucher).where(
                    Voucher.refund_payment_id == leg_id, Voucher.kind == "refund_settlement"))
                assert vouchers == (leg.state == "succeeded")
                states.append(leg.state)
            completed = [e.action for e in _events(s, "refund", refund_id)].count("complete")
        assert (refund.state == "completed") == (states == ["succeeded", "succeeded"]) == (completed == 1)

    run()
