"""Stored policy versions: every merchant policy file ever saved, numbered 1, 2, 3... per merchant, never changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class PolicyVersion(Base):
    """One saved merchant policy file (TOML), as it was written; the highest version is the active one."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("merchant_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    version: Mapped[int]
    source: Mapped[str] = mapped_column(Text)
    extends: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))
