"""EU5/EU7: after a withdrawal was refunded before inspection (on receipt or proof of dispatch), a diminished value
the inspection finds is settled later as a charge to the customer, never more than the goods refunded."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..cases.service import get_case
from ..db import utcnow
from ..errors import Forbidden
from ..money import MoneyError, fmt, to_minor
from . import charges
from .models import CustomerCharge, Refund
from .schemas import DiminishedValueIn
from .service import LIVE, REQUESTERS, refuse

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
        raise refuse("case", "a diminished value is charged afterwards only on a refund paid before inspection; "
                     "otherwise deduct it when refunding", "仅在验货前已退款的情况下才事后收取商品贬值费用；否则请在退款时扣除",
                     code="not_refunded_early", status=409)
    if case.state in AWAITING_GOODS:
        raise refuse("case", "the goods have not arrived yet: inspect them first", "商品尚未到达，请先验货",
                     code="goods_not_received", status=409)
    if body.currency.upper() != case.currency:
        raise refuse("currency", f"{body.currency} does not match the case currency {case.currency}",
                     f"币种 {body.currency} 与售后单币种 {case.currency} 不一致", code="wrong_currency")
    try:
        amount = to_minor(body.amount, case.currency)
    except MoneyError as exc:
        raise refuse("amount", str(exc), exc.zh) from None
    goods = session.scalar(select(func.coalesce(func.sum(Refund.goods_amount - Refund.deducted_amount), 0))
                           .where(Refund.case_id == case.id, Refund.state.in_(LIVE)))
    if amount <= 0 or amount > goods:
        raise refuse("amount", f"must be more than 0 and at most the {fmt(goods, case.currency)} refunded for the "
                     "goods (EU7)", f"须大于 0，且不超过已退商品金额 {fmt(goods, case.currency)}（EU7）")
    row = charges.open_charge(session, merchant_id=case.merchant_id, case_id=case.id, order_id=case.order_id,
                              purpose=PURPOSE, kind="charge", amount=amount, currency=case.currency, at=utcnow(),
                              by=actor.ref, reason=body.reason)
    if row is None:
        raise refuse("case", "a diminished value has already been charged on this case", "本售后单已收取过商品贬值费用",
                     code="already_charged", status=409)
    return row
