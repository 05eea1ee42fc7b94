"""Messages on a case between the customer and the merchant's staff. Who may read one is decided when it is
written: what the customer writes is theirs; staff choose "customer" (a reply, also sent to the customer) or
"internal" (for staff only, never shown or sent to the customer). The staff and portal pages and the JSON API
(cases/conversation_api.py) call these functions alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import Worded
from ..i18n import N_
from .conversation import CaseMessage
from .store import CaseRecord, enqueue
from .visibility import CUSTOMER, choice

MAX_BODY = 5000


def add_message(session: Session, *, case: CaseRecord, actor: Actor, body: str, at: datetime,
                visibility: str = CUSTOMER) -> CaseMessage:
    """Adds a message; a staff reply the customer may see is also sent to them (an outbox "notify" row,
    contract 1). A customer's message is always theirs to see."""
    author = "customer" if actor.kind == "customer" else "staff"
    text = body.strip()
    if not text:
        raise Worded("required", N_("Write a message first."), field="body")
    shown = CUSTOMER if author == "customer" else (choice(visibility) or CUSTOMER)
    message = CaseMessage(case_id=case.id, merchant_id=case.merchant_id, author_kind=author, author_ref=actor.ref,
                          author_name=actor.name, body=text[:MAX_BODY], created_at=at, visibility=shown)
    session.add(message)
    session.flush()
    customer = case.customer or {}
    if author == "staff" and shown == CUSTOMER and customer.get("email"):
        enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=at, payload={
            "channel": "email", "to": customer["email"], "locale": customer.get("locale") or "zh-CN",
            "template": "case_message", "data": {"case": case.number, "body": message.body}})
    return message


def messages_of(session: Session, case_id: int, *, customer: bool = False) -> list[CaseMessage]:
    """The case's messages in order; `customer`: only those the customer may see."""
    stmt = select(CaseMessage).where(CaseMessage.case_id == case_id)
    if customer:
        stmt = stmt.where(CaseMessage.visibility == CUSTOMER)
    return list(session.scalars(stmt.order_by(CaseMessage.id)))

