"""Marketplace after-sales sync tables: a merchant's connector to a platform, the platform's requests as last
pulled (linked to a case, or waiting for their order), and the desk's decisions going back, one per (case, decision).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class MarketplaceConnector(Base):
    """One merchant's connection to one platform's open API: credentials, where the last pull ended, the schedule."""

    __tablename__ = "marketplace_connectors"
    __table_args__ = (UniqueConstraint("merchant_id", "platform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    platform: Mapped[str] = mapped_column(String(20))               # taobao
    app_key: Mapped[str] = mapped_column(String(100), default="")
    app_secret: Mapped[str] = mapped_column(String(300), default="")  # the value, or env:RETURNFLOW_MARKET_…
    session_key: Mapped[str] = mapped_column(String(300), default="")  # the shop's authorisation (TOP `session`)
    api_url: Mapped[str] = mapped_column(String(500), default="")    # set by the deployment; no default address
    options: Mapped[dict] = mapped_column(default=dict)              # platform extras (Taobao seller_address_id)
    active: Mapped[bool] = mapped_column(default=True)
    every_minutes: Mapped[int] = mapped_column(default=10)
    cursor: Mapped[datetime | None] = mapped_column(UTCDateTime)     # the end of the last pull's window
    next_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketplaceRequest(Base):
    """A platform's after-sales request as last pulled. `case_id` once it became a case; until then `problem` says
    why not (its order is unknown, ...) and every pull tries again. `conflict` is set when the platform changed it
    while a desk decision on it had not reached the platform: staff decide, nothing is overwritten."""

    __tablename__ = "marketplace_requests"
    __table_args__ = (UniqueConstraint("merchant_id", "platform", "external_id"),
                      Index("ix_marketplace_requests_open", "merchant_id", "case_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))            # Taobao refund_id
    order_ref: Mapped[str] = mapped_column(String(100))             # Taobao tid
    status: Mapped[str] = mapped_column(String(60), default="")     # the platform's status
    version: Mapped[str] = mapped_column(String(40), default="")    # the platform's version (refund_version)
    platform_created: Mapped[datetime] = mapped_column(UTCDateTime)
    platform_modified: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(default=dict)                # the request as the platform sent it
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), unique=True)
    problem: Mapped[dict | None] = mapped_column()                  # {"code", tag: text, ...} while it is no case
    tries: Mapped[int] = mapped_column(default=0)
    conflict: Mapped[dict | None] = mapped_column()                 # {tag: text, ..., "seen", "platform", "at"}
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pulled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketplacePush(Base):
    """A desk decision going back to the platform: one per (case, decision), sent once, carrying the platform version
    the desk decided on. status: pending | sent | held (a conflict waits for staff) | stale (the platform refused the
    version) | failed (the platform refused it for another reason) | dropped (staff kept the platform's side)."""

    __tablename__ = "marketplace_pushes"
    __table_args__ = (UniqueConstraint("case_id", "decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("marketplace_requests.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    decision: Mapped[str] = mapped_column(String(20))   # agree_refund | agree_return | refuse | received
    version: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(default=dict)  # what the decision carries (amount in minor units, message)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
