"""What the derivation step keeps: which events are derived, and how far the log is derived (jobs/derive.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class EventDerivation(Base):
    """An event whose derived rows are written: inserted in the transaction that writes them, so an event is derived
    exactly once (a second derivation fails on the key and rolls back)."""

    __tablename__ = "event_derivations"

    event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id"), primary_key=True, autoincrement=False)
    derived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DerivePosition(Base):
    """The low-water mark of a derivation stream: every event with an id up to `event_id` is derived.

    On PostgreSQL an event id can become visible after a higher one (ids are taken before commit), so a new mark is
    first kept as `pending_id` with the snapshot's `pending_xmax`; it becomes the mark once every transaction that
    was running then has ended (none can still add an event below it)."""

    __tablename__ = "derive_positions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_id: Mapped[int | None] = mapped_column(BigInteger)
    pending_xmax: Mapped[int | None] = mapped_column(BigInteger)
