"""The one order in which money paths take row locks (as Saleor's lock_objects.py): never backwards.

    case → order → refund → its legs (by id) → customer charges → compensations → customer (balance) → spends

A path may skip a level but never takes a lock of an earlier level after one of a later level, so two paths
(finance executing a refund while another marks one of its legs paid, a webhook settling a leg while the desk moves
the case) wait for each other instead of deadlocking on PostgreSQL. Every function here takes its level's lock
(SELECT ... FOR UPDATE; SQLite's single writer serialises anyway) and reads the row as the last writer left it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.models import Case
from ..orders.models import Customer, Order
from .models import BalanceSpend, Compensation, CustomerCharge, Refund, RefundPayment

LOCK_ORDER = ("case", "order", "refund", "refund_payment", "customer_charge", "compensation", "customer",
              "balance_spend")


def _for_update(stmt):
    return stmt.with_for_update().execution_options(populate_existing=True)


def case(session: Session, case_id: int | None) -> None:
    if case_id is not None:
        session.execute(select(Case.id).where(Case.id == case_id).with_for_update())


def order(session: Session, order_id: int) -> None:
    session.execute(select(Order.id).where(Order.id == order_id).with_for_update())


def refund(session: Session, refund_id: int) -> Refund | None:
    """The refund, after its case (taking a lock this transaction holds again is free)."""
    case(session, session.scalar(select(Refund.case_id).where(Refund.id == refund_id)))
    return session.scalar(_for_update(select(Refund).where(Refund.id == refund_id)))


def refund_by_number(session: Session, number: str) -> Refund | None:
    refund_id = session.scalar(select(Refund.id).where(Refund.number == number))
    return None if refund_id is None else refund(session, refund_id)


def legs(session: Session, refund_id: int, *, gateway_only: bool = False) -> list[RefundPayment]:
    """The refund's legs, locked in id order (the refund is locked before)."""
    stmt = select(RefundPayment).where(RefundPayment.refund_id == refund_id)
    if gateway_only:
        stmt = stmt.where(RefundPayment.destination == "gateway")
    return list(session.scalars(_for_update(stmt.order_by(RefundPayment.id))))


def leg(session: Session, *, leg_id: int | None = None, number: str | None = None,
        idempotency_key: str | None = None) -> RefundPayment | None:
    """One leg, found by id, number or idempotency key, locked after its case and its refund."""
    found = select(RefundPayment.id, RefundPayment.refund_id)
    if leg_id is not None:
        found = found.where(RefundPayment.id == leg_id)
    elif number is not None:
        found = found.where(RefundPayment.number == number)
    else:
        found = found.where(RefundPayment.idempotency_key == idempotency_key)
    row = session.execute(found).first()
    if row is None:
        return None
    refund(session, row.refund_id)
    return session.scalar(_for_update(select(RefundPayment).where(RefundPayment.id == row.id)))


def charge(session: Session, charge_id: int, *, with_case: bool = True) -> CustomerCharge | None:
    """A charge to the customer, after its case (the order every case transition takes them)."""
    if with_case:
        case(session, session.scalar(select(CustomerCharge.case_id).where(CustomerCharge.id == charge_id)))
    return session.scalar(_for_update(select(CustomerCharge).where(CustomerCharge.id == charge_id)))


def charge_by_number(session: Session, number: str) -> CustomerCharge | None:
    charge_id = session.scalar(select(CustomerCharge.id).where(CustomerCharge.number == number))
    return None if charge_id is None else charge(session, charge_id)


def compensation(session: Session, comp_id: int) -> Compensation | None:
    return session.scalar(_for_update(select(Compensation).where(Compensation.id == comp_id)))


def customer(session: Session, merchant_id: int, *, external_id: str | None = None,
             customer_id: int | None = None) -> Customer | None:
    """The customer whose balance is about to move: two spends of one balance are checked one after the other."""
    stmt = select(Customer).where(Customer.merchant_id == merchant_id)
    stmt = stmt.where(Customer.external_id == external_id) if external_id is not None else \
        stmt.where(Customer.id == customer_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def spend(session: Session, spend_id: int) -> BalanceSpend | None:
    return session.scalar(_for_update(select(BalanceSpend).where(BalanceSpend.id == spend_id)))
