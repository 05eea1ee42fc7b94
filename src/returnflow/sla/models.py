"""Deadline timers and each merchant's SLA settings (and, through notify.models, the notification tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow
from ..merchants.models import SlaSettings  # noqa: F401  (the merchant's settings row: its clock lives there)


class Timer(Base):
    """A durable deadline: written in the transaction of the transition that starts it, fired once by the worker.

    status: pending → fired | moot (its action no longer fits the case) | cancelled (the step ended) |
    paused (the case waits on the customer; `remaining_seconds` of working time are kept for the resume).
    """

    __tablename__ = "sla_timers"
    __table_args__ = (Index("ix_sla_timers_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(default=dict)
    rule: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    remaining_seconds: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
