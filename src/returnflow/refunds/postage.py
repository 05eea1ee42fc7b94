"""CN7: the customer's own return postage on a merchant-fault return, claimed with its receipt (portal or agent),
capped by the merchant's `postage_cap` and refunded with the case's next refund on its own leg and voucher line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import reasons
from ..cases.models import Attachment
from ..cases.service import get_case
from ..cases.store import CaseRecord
from ..db import utcnow
from ..errors import Forbidden
from ..money import MoneyError, fmt, to_minor
from .models import PostageClaim, Refund
from .schemas import PostageClaimIn
from .money_settings import money_settings
from .refusal import refuse
from ..i18n import N_

CLAIMANTS = ("customer", "agent", "supervisor", "admin")


def merchant_fault(session: Session, case: CaseRecord) -> bool:
    """Whether the return is the merchant's fault (quality, wrong item ...): by the decided lines, else the reason."""
    lines = (case.policy_decision or {}).get("lines") or []
    if lines:
        return any(line.get("fault") == "merchant" for line in lines)
    codes = [case.reason_code] + [line.reason_code for line in case.lines]
    return any(reasons.fault_of(session, case.merchant_id, code) == "merchant" for code in codes if code)


def cap_of(session: Session, merchant_id: int, currency: str) -> int | None:
    """The most a postage claim reimburses in `currency`; None: no cap set."""
    value = money_settings(session, merchant_id)["postage_cap"].get(currency)
    return None if value is None else to_minor(value, currency)


def claim(session: Session, *, actor: Actor, number: str, body: PostageClaimIn) -> PostageClaim:
    """Records (or replaces, until refunded) the case's postage claim."""
    if actor.role not in CLAIMANTS:
        raise Forbidden("forbidden_role", role=actor.role, what="claim return postage", allowed=list(CLAIMANTS))
    case = get_case(session, actor=actor, number=number)
    if not case.needs_return:
        raise refuse("case", N_("nothing is sent back on this case, so there is no return postage"),
                     code="postage_not_allowed", status=409)
    if not merchant_fault(session, case):
        raise refuse("case",
                     N_("return postage is reimbursed only when the return is the shop's fault (e.g. a quality "
                        "problem); on a no-reason return the customer pays it (CN6)"),
                     code="postage_not_allowed", status=409)
    if body.currency.upper() != case.currency:
        raise refuse("currency", N_("{currency} does not match the case currency {case_currency}"),
                     currency=body.currency,
                     case_currency=case.currency, code="wrong_currency")
    try:
        asked = to_minor(body.amount, case.currency)
    except MoneyError as exc:
        raise refuse("amount", exc.text, **exc.values) from None
    if asked <= 0:
        raise refuse("amount", N_("must be more than 0"))
    if body.receipt_id is None:
        raise refuse("receipt_id", N_("a photo of the postage receipt is needed"))
    receipt = session.get(Attachment, body.receipt_id)
    if receipt is None or receipt.case_id != case.id:
        raise refuse("receipt_id", N_("not a file of this case; upload the receipt to the case first"))
    existing = session.scalar(select(PostageClaim).where(PostageClaim.case_id == case.id).with_for_update())
    if existing is not None and existing.refund_id is not None:
        raise refuse("case", N_("the postage of this case has already been refunded"),
                     code="postage_refunded", status=409)
    cap = cap_of(session, case.merchant_id, case.currency)
    amount = asked if cap is None else min(asked, cap)
    row = existing or PostageClaim(merchant_id=case.merchant_id, case_id=case.id)
    row.currency, row.asked, row.amount, row.receipt_id = case.currency, asked, amount, receipt.id
    row.claimed_by, row.created_at = actor.ref, utcnow()
    session.add(row)
    session.flush()
    return row


def claim_dict(session: Session, case: CaseRecord) -> dict | None:
    row = session.scalar(select(PostageClaim).where(PostageClaim.case_id == case.id))
    if row is None:
        return None
    refund = session.scalar(select(Refund.number).where(Refund.id == row.refund_id)) if row.refund_id else None
    c = row.currency
    return {"currency": c, "asked": fmt(row.asked, c), "amount": fmt(row.amount, c), "capped": row.amount < row.asked,
            "receipt_id": row.receipt_id, "claimed_by": row.claimed_by, "created_at": row.created_at,
            "refund": refund}
