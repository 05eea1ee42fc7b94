"""EU5/EU7: after a withdrawal was refunded before inspection (on receipt or proof of dispatch), a diminished value
the inspection finds is settled later as a charge to the customer, never more than the goods refunded."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.service import get_case
from ..db import utcnow
from ..errors import Forbidden
from ..money import MoneyError, fmt, to_minor
from . import charges
from .models import CustomerCharge, Refund
from .schemas import DiminishedValueIn
from .money_flows import REQUESTERS
from .quote import LIVE
from .refusal import refuse
from ..i18n import N_

PURPOSE = "diminished_value"
AWAITING_GOODS = ("awaiting_return", "return_in_transit")


def settle_later(session: Session, *, actor: Actor, number: str, body: DiminishedValueIn) -> CustomerCharge:
    """Charges the customer the diminished value of goods refunded early, within what was refunded for them."""
    if actor.role not in REQUESTERS:
        raise Forbidden("forbidden_role", role=actor.role, what="charge a diminished value", allowed=list(REQUESTERS))
    case = get_case(session, actor=actor, number=number)
    early = [b for b, in session.execute(select(Refund.breakdown).where(Refund.case_id == case.id,
                                                                         Refund.state.in_(LIVE)))
             if b.get("early")]
    if not early:
        raise refuse("case",
                     N_("a diminished value is charged afterwards only on a refund paid before inspection; otherwise "
                        "deduct it when refunding"),
                     code="not_refunded_early", status=409)
    if case.state in AWAITING_GOODS:
        raise refuse("case", N_("the goods have not arrived yet: inspect them first"),
                     code="goods_not_received", status=409)
    if body.currency.upper() != case.currency:
        raise refuse("currency", N_("{currency} does not match the case currency {case_currency}"),
                     currency=body.currency,
                     case_currency=case.currency, code="wrong_currency")
    try:
        amount = to_minor(body.amount, case.currency)
    except MoneyError as exc:
        raise refuse("amount", exc.text, **exc.values) from None
    goods = session.scalar(select(func.coalesce(func.sum(Refund.goods_amount - Refund.deducted_amount), 0))
                           .where(Refund.case_id == case.id, Refund.state.in_(LIVE)))
    if amount <= 0 or amount > goods:
        raise refuse("amount", N_("must be more than 0 and at most the {goods} refunded for the goods (EU7)"),
                     goods=fmt(goods, case.currency))
    row = charges.open_charge(session, merchant_id=case.merchant_id, case_id=case.id, order_id=case.order_id,
                              purpose=PURPOSE, kind="charge", amount=amount, currency=case.currency, at=utcnow(),
                              by=actor.ref, reason=body.reason)
    if row is None:
        raise refuse("case", N_("a diminished value has already been charged on this case"),
                     code="already_charged", status=409)
    return row
