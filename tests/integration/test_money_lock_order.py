"""One lock order for money (refunds/locks.py) on PostgreSQL: finance executing a refund (its legs after the refund)
while others mark the same legs paid by hand (which once locked a leg before its refund) never deadlocks, and the
money moves once: one settlement voucher per leg, the refund completed once, the case resolved once."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from returnflow.cases.models import Case, CaseEvent
from returnflow.errors import AppError
from returnflow.flows import RecordEvent
from returnflow.refunds import service, settle
from returnflow.refunds.gateways import GatewaySettings
from returnflow.refunds.models import Refund, RefundPayment, Voucher
from returnflow.refunds.schemas import RefundCreate
from tests.support.money import paid_order, refund_only_case
from tests.support.world import make_shop

ROUNDS = 12


def _race(*jobs) -> list:
    """Runs the jobs at the same instant; each result is its value, or the exception it raised (any kind)."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # noqa: BLE001  (a deadlock is a database error, not an AppError: it must show)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a money path is still waiting"
    return results


def test_executing_a_refund_against_marking_its_legs_paid_never_deadlocks_and_pays_once(db):
    # PostgreSQL takes the row locks (where the old order deadlocked); SQLite's one writer must pay once as well.
    shop = make_shop(db)
    finance, admin = shop.actors["finance"], shop.actors["admin"]
    for n in range(ROUNDS):
        order = f"L-{n}"
        paid_order(db, shop, order, payments=(("alipay", None), ("card", "50.00"), ("bank", "20.00")),
                   customer=f"L-{n}")
        case = refund_only_case(db, shop, order, line_no=1)
        with db.transaction() as session:
            refund = service.request_refund(session, actor=admin, number=case, body=RefundCreate())
            number = refund.number
            legs = [leg.number for leg in session.scalars(select(RefundPayment).where(
                RefundPayment.refund_id == refund.id).order_by(RefundPayment.id))]
        assert len(legs) == 3

        def execute():
            settle.execute(db, GatewaySettings(), actor=finance, number=number)
            return "executed"

        def mark(leg):
            def go():
                with db.transaction() as session:
                    return settle.mark_paid(session, actor=finance, number=leg, reference=f"B-{leg}").state
            return go

        # Legs marked from the last one down, against the refund's own order (by id): the worst case for a lock
        # order that is not the same everywhere.
        results = _race(execute, *(mark(leg) for leg in reversed(legs)))
        assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, AppError)], results
        # Finance may come last, when the refund is already paid in full: refused, nothing sent.
        assert results[0] == "executed" or getattr(results[0], "key", None) == "refund_state", results
        assert results[1:] == ["succeeded"] * 3, results

        with db.read() as s:
            refund = s.scalar(select(Refund).where(Refund.number == number))
            ids = [leg.id for leg in s.scalars(select(RefundPayment).where(RefundPayment.refund_id == refund.id))]
            vouchers = s.scalar(select(func.count()).select_from(Voucher).where(
                Voucher.refund_payment_id.in_(ids), Voucher.kind == "refund_settlement"))
            settled = s.scalar(select(func.count()).select_from(RecordEvent).where(
                RecordEvent.kind == "refund_payment", RecordEvent.record_id.in_(ids),
                RecordEvent.action == "settle"))
            completed = s.scalar(select(func.count()).select_from(RecordEvent).where(
                RecordEvent.kind == "refund", RecordEvent.record_id == refund.id, RecordEvent.action == "complete"))
            resolved = s.scalar(select(func.count()).select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
                                .where(Case.number == case, CaseEvent.action == "resolve"))
        assert (refund.state, vouchers, settled, completed, resolved) == ("completed", 3, 3, 1, 1)
