"""The portal's return postage claim (CN7): when the form shows, and the amount as the customer typed it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..refunds import postage
from .frame import N_, PageError


def postage_context(session, case, allowed) -> dict:
    """The case's claim, and whether the customer may (still) claim: a quality return whose postage is not refunded."""
    claim = postage.claim_dict(session, case)
    open_ = (case.needs_return and "attach" in allowed and postage.merchant_fault(session, case)
             and (claim is None or claim["refund"] is None))
    return {"postage": claim, "postage_open": open_}


def postage_amount(raw: str) -> Decimal:
    try:
        amount = Decimal(raw.strip().replace("，", ".").replace(",", "."))
    except InvalidOperation:
        amount = Decimal(0)
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        raise PageError("amount", N_("Postage: enter the amount you paid, such as 12.00."), field="amount")
    return amount
