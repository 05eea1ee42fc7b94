"""Receiving (what arrived), inspection (what we decided), disposition of each unit, repair work orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Receipt(Base):
    """A parcel scanned at the receiving desk; with no case it is an exception waiting to be matched."""

    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_merchant_status", "merchant_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    # unmatched: waiting in the exceptions queue; matched: matched from it later; received: found by its scan
    status: Mapped[str] = mapped_column(String(20))
    scanned_code: Mapped[str] = mapped_column(String(100))
    carrier: Mapped[str | None] = mapped_column(String(20))
    tracking_number: Mapped[str | None] = mapped_column(String(60))
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    condition: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list] = mapped_column(default=list)  # attachment ids of the case
    received_by: Mapped[str] = mapped_column(String(80), default="")
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReceiptLine(Base):
    """How many units of a case line were in a parcel, and their state as they arrived."""

    __tablename__ = "receipt_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    case_line_id: Mapped[int] = mapped_column(ForeignKey("case_lines.id"), index=True)
    quantity: Mapped[int]
    condition: Mapped[str] = mapped_column(String(20))


class Inspection(Base):
    """The inspector's finding and verdict on one case line (one per line)."""

    __tablename__ = "inspections"
    __table_args__ = (UniqueConstraint("case_line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_line_id: Mapped[int] = mapped_column(ForeignKey("case_lines.id"))
    quantity: Mapped[int]  # units inspected
    accepted_quantity: Mapped[int]
    checklist: Mapped[dict] = mapped_column(default=dict)
    grade: Mapped[str] = mapped_column(String(10))
    verdict: Mapped[str] = mapped_column(String(30))  # accept | accept_with_deduction | reject
    deduction: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units of the case currency
    currency: Mapped[str] = mapped_column(String(3))
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list] = mapped_column(default=list)
    inspector: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Disposition(Base):
    """Where one returned unit went; each is an inventory movement the shop's stock can follow."""

    __tablename__ = "dispositions"
    __table_args__ = (UniqueConstraint("case_line_id", "unit_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_line_id: Mapped[int] = mapped_column(ForeignKey("case_lines.id"))
    unit_no: Mapped[int]
    sku: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # restock | refurbish | return_to_vendor | scrap | donate
    supplier: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepairOrder(Base):
    """A repair work order (维修单) for a case line, with its outcome and cost; 三包 counts failed repairs."""

    __tablename__ = "repair_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    mode: Mapped[str] = mapped_column(String(10))  # mail_in | on_site
    status: Mapped[str] = mapped_column(String(20))  # open | repaired | failed
    fault: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    in_warranty: Mapped[bool] = mapped_column(default=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parts_waiting_days: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    serial_number: Mapped[str | None] = mapped_column(String(100))  # the unit repaired (CN12: history per unit)


class ReceiptPhoto(Base):
    """A photo taken of a parcel at the desk before it matched a case; when matched it becomes the case's
    attachment (`attachment_id`), the stored file staying where it is."""

    __tablename__ = "receipt_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    # The copy people see when it differs from the original (location data stripped, HEIC as JPEG); None: the original.
    view_key: Mapped[str | None] = mapped_column(String(300))
    view_type: Mapped[str | None] = mapped_column(String(100))
    view_size: Mapped[int | None] = mapped_column(BigInteger)
    view_sha256: Mapped[str | None] = mapped_column(String(64))
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    uploaded_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
