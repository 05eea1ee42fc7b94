"""Return addresses (warehouses), shipments in both directions, and the carrier events that follow them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class ReturnAddress(Base):
    """A merchant's warehouse that takes returns; routed to by product category and by region."""

    __tablename__ = "return_addresses"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(Text)
    address_en: Mapped[str] = mapped_column(Text, default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    regions: Mapped[list] = mapped_column(default=list)  # order countries / provinces it serves; empty: any
    categories: Mapped[list] = mapped_column(default=list)  # product categories it takes; empty: any
    carriers: Mapped[list] = mapped_column(default=list)  # recommended carriers, in order
    is_default: Mapped[bool] = mapped_column(default=False)
    auto_receive_on_delivery: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Shipment(Base):
    """A parcel for a case: the customer's return (inbound) or an exchange, reship or repaired item (outbound)."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("merchant_id", "carrier", "tracking_number"),
                      Index("ix_shipments_tracking_number", "tracking_number"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    purpose: Mapped[str] = mapped_column(String(20))  # return | exchange | reship | repair
    carrier: Mapped[str] = mapped_column(String(20))
    tracking_number: Mapped[str] = mapped_column(String(60))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("return_addresses.id"))
    status: Mapped[str] = mapped_column(String(30), default="registered")
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pickup: Mapped[dict] = mapped_column(default=dict)  # a booked pickup (上门取件), as booked
    # The aggregator's tracking subscription: {provider, state, at, resubscribed, last_abort, message}
    subscription: Mapped[dict | None] = mapped_column(default=None)
    items: Mapped[list] = mapped_column(default=list)  # outbound: [{case_line_id, sku, quantity}]
    return_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # advance exchange: the return's deadline
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackingEvent(Base):
    """One carrier event as received and normalised; events for unknown parcels wait here to be matched."""

    __tablename__ = "tracking_events"
    __table_args__ = (UniqueConstraint("merchant_id", "dedupe_key"),
                      Index("ix_tracking_events_number", "merchant_id", "tracking_number"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(20))
    tracking_number: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(30))
    raw_code: Mapped[str] = mapped_column(String(60), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(300), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20))
    dedupe_key: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PickupClaim(Base):
    """One courier booking at a time per case: claimed (committed) before the carrier is asked, so two requests at
    once book once; `booking` while asked, `booked` once recorded, `failed` when the carrier refused or did not
    answer (a new request may try again)."""

    __tablename__ = "pickup_claims"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="booking")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
