"""Races: two refunds of one order decided at the same instant, and two payments of one refund settled at the same
instant — the order's caps hold and the case is resolved exactly once (threads released by a barrier)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from returnflow.cases.models import CaseEvent
from returnflow.errors import AppError
from returnflow.refunds import service, settle
from returnflow.refunds.models import Refund, RefundPayment
from returnflow.refunds.schemas import RefundCreate
from tests.support.money import paid_order, refund_only_case
from tests.support.world import make_shop

ROUNDS = 5


def _race(*jobs):
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except AppError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_refunds_of_one_order_at_once_refund_the_shipping_once(db):
    shop = make_shop(db)
    admin = shop.actors["admin"]
    for n in range(ROUNDS):
        order = f"R-{n}"
        paid_order(db, shop, order, payments=(("alipay", None),), customer=f"C-{n}")
        a = refund_only_case(db, shop, order, line_no=1)
        b = refund_only_case(db, shop, order, line_no=2)

        def job(number):
            def go():
                with db.transaction() as session:
                    return service.request_refund(session, actor=admin, number=number,
                                                  body=RefundCreate(refund_shipping=True)).number
            return go

        results = _race(job(a), job(b))
        assert all(isinstance(r, str) for r in results), results
        with db.read() as s:
            refunds = s.scalars(select(Refund).where(Refund.number.in_(results))).all()
            assert sorted(r.shipping_amount for r in refunds) == [0, 800]  # the 8.00 shipping, once


def test_two_payments_of_one_refund_settled_at_once_resolve_the_case_once(db):
    shop = make_shop(db)
    finance = shop.actors["finance"]
    for n in range(ROUNDS):
        order = f"S-{n}"
        paid_order(db, shop, order, payments=(("alipay", None), ("card", "50.00")), customer=f"D-{n}")
        case = refund_only_case(db, shop, order, line_no=1)
        with db.transaction() as session:
            refund = service.request_refund(session, actor=shop.actors["admin"], number=case, body=RefundCreate())
            legs = [leg.number for leg in session.scalars(select(RefundPayment).where(
                RefundPayment.refund_id == refund.id))]
        assert len(legs) == 2

        def job(leg):
            def go():
                with db.transaction() as session:
                    return settle.mark_paid(session, actor=finance, number=leg, reference=f"B-{leg}").state
            return go

        assert _race(job(legs[0]), job(legs[1])) == ["succeeded", "succeeded"]
        with db.read() as s:
            assert s.scalar(select(Refund.state).where(Refund.number == refund.number)) == "completed"
            resolves = s.scalar(select(func.count()).select_from(CaseEvent).where(
                CaseEvent.case_id == refund.case_id, CaseEvent.action == "resolve"))
            assert resolves == 1
