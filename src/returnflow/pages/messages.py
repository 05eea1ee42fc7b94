"""Messages between the customer and the merchant's staff on a case (internal notes are workflow events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..cases.store import CaseRecord, enqueue
from ..cases.visibility import CUSTOMER
from .models import CaseMessage


def add_message(session: Session, *, case: CaseRecord, actor: Actor, body: str, at: datetime) -> CaseMessage:
    """Adds a message; a staff reply is also sent to the customer (an outbox "notify" row, contract 1)."""
    author = "customer" if actor.kind == "customer" else "staff"
    message = CaseMessage(case_id=case.id, merchant_id=case.merchant_id, author_kind=author, author_ref=actor.ref,
                          author_name=actor.name, body=body, created_at=at)
    session.add(message)
    session.flush()
    customer = case.customer or {}
    if author == "staff" and customer.get("email"):
        enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=at, payload={
            "channel": "email", "to": customer["email"], "locale": customer.get("locale") or "zh-CN",
            "template": "case_message", "data": {"case": case.number, "body": body}})
    return message


def messages_of(session: Session, case_id: int, *, customer: bool = False) -> list[CaseMessage]:
    """The case's messages in order; `customer`: only those the customer may see."""
    stmt = select(CaseMessage).where(CaseMessage.case_id == case_id)
    if customer:
        stmt = stmt.where(CaseMessage.visibility == CUSTOMER)
    return list(session.scalars(stmt.order_by(CaseMessage.id)))
