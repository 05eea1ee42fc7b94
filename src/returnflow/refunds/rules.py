"""What the rules decide around a refund: the delivery refunded on a full withdrawal (EU4), the customer's return
postage still owed on a case (CN7), refunding before inspection on receipt or proof of dispatch (EU5), and the
restocking fee that depends on the inspection grade."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.ports import PORTS
from ..cases.store import CaseRecord
from . import calc
from .models import PostageClaim, Refund
from ..policy import service as policy_service


def default_refund_shipping(session: Session, merchant_id: int, facts: calc.OrderFacts, prior: calc.Prior,
                            asks: list[calc.LineAsk]) -> bool:
    """EU4: the delivery (its standard price under a premium one) comes back when the refund completes a full
    withdrawal under EU/UK law (every paid unit of the order refunded); otherwise only when asked."""
    if policy_service.active(session, merchant_id)[1].law != "eu":
        return False
    asked: dict[int, int] = {}
    for ask in asks:
        asked[ask.order_line_id] = asked.get(ask.order_line_id, 0) + ask.quantity
    return all(prior.units.get(line.id, 0) + asked.get(line.id, 0) >= line.quantity
               for line in facts.lines if line.paid > 0)


def open_claim(session: Session, case_id: int) -> PostageClaim | None:
    """The case's postage claim that no live refund has paid yet (a rejected refund releases it)."""
    row = session.scalar(select(PostageClaim).where(PostageClaim.case_id == case_id))
    if row is None:
        return None
    if row.refund_id is not None:
        state = session.scalar(select(Refund.state).where(Refund.id == row.refund_id))
        if state != "rejected":
            return None
    return row


def postage_due(session: Session, case: CaseRecord) -> int:
    """CN7: what the case's open postage claim reimburses (0 without one)."""
    row = open_claim(session, case.id)
    return row.amount if row is not None and row.currency == case.currency else 0


EARLY_STATES = frozenset({"awaiting_return", "return_in_transit", "received"})


def early_refund(session: Session, case: CaseRecord) -> str | None:
    """EU5: under EU/UK law a withdrawal may be refunded, without inspection, once the goods are back ("receipt") or
    a carrier has scanned the return parcel ("dispatch"), whichever comes first; None when neither holds yet."""
    if case.type != "return_refund" or not case.needs_return or case.state not in EARLY_STATES:
        return None

    if policy_service.active(session, case.merchant_id)[1].law != "eu":
        return None
    if case.state == "received":
        return "receipt"
    return "dispatch" if PORTS.return_scanned(session, case) else None  # answered by logistics (cases/ports.py)


def grade_fee(fees, grade: str | None) -> dict | None:
    """The first fee (in rule order) whose grades include the grade inspection recorded; none before inspection."""
    if not grade:
        return None
    return next((fee for fee in fees if grade in fee.get("grades", ())), None)
