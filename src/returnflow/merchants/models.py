"""A merchant (shop): the owner of orders, cases, policies and staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_currency: Mapped[str] = mapped_column(String(3), default="CNY")
    default_locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    settings: Mapped[dict] = mapped_column(default=dict)
    # ISO 3166 code; customer phones without a country code are read as this country's numbers (None: CN).
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaSettings(Base):
    """A merchant's promise per step (review, shipping, receipt, inspection, refund, repair ...) and its calendar."""

    __tablename__ = "sla_settings"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    settings: Mapped[dict] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="")

