"""Tables of the conversation around a case: the messages between the customer and staff (customer-visible or
internal, decided when written), the plans a customer confirms and the hand-offs to other teams. The services
that write them are cases/messages.py, cases/plans.py and cases/handoffs.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class CaseMessage(Base):
    """A message between the customer and the merchant's staff on a case; `visibility` "internal": staff only."""

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    author_kind: Mapped[str] = mapped_column(String(20))  # customer | staff
    author_ref: Mapped[str] = mapped_column(String(80), default="")
    author_name: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    attachment_ids: Mapped[list] = mapped_column(default=list)  # files sent with the message (attachments.id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    visibility: Mapped[str] = mapped_column(String(10), default="customer", server_default="customer")


class CasePlan(Base):
    """A plan an agent proposes (partial refund, exchange, repair ...) that the customer accepts or declines before
    it is carried out (PROCESS.md §2: the customer confirms the plan before anything costly is executed).

    status: proposed → accepted | declined | withdrawn. One proposed plan per case at a time."""

    __tablename__ = "case_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(30))
    amount: Mapped[int | None] = mapped_column(BigInteger)  # minor units of `currency` (refunds, compensation)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    proposed_by: Mapped[str] = mapped_column(String(80))
    proposed_name: Mapped[str] = mapped_column(String(200), default="")
    answer_note: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(80))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseHandoff(Base):
    """A hand-off of a case to another team (QC, product, supplier appraisal): internal unless the staff member
    who writes it shares it with the customer (then they see the team and the note).

    status: open → accepted (the team took it) → done (returned with a note); an open one may be done at once."""

    __tablename__ = "case_handoffs"
    __table_args__ = (Index("ix_case_handoffs_team_status", "merchant_id", "team", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    team: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_by: Mapped[str] = mapped_column(String(80))
    created_name: Mapped[str] = mapped_column(String(200), default="")
    done_note: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[str | None] = mapped_column(String(80))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    visibility: Mapped[str] = mapped_column(String(10), default="internal", server_default="internal")
