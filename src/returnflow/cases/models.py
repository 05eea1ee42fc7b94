"""The after-sales case (售后单), its lines, its immutable event log, evidence and reasons."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow


class CaseType(str, enum.Enum):
    REFUND_ONLY = "refund_only"
    RETURN_REFUND = "return_refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    RESHIP = "reship"
    INQUIRY = "inquiry"
    COMPLAINT = "complaint"


class Channel(str, enum.Enum):
    PORTAL = "portal"
    APP = "app"
    HOTLINE = "hotline"
    CHAT = "chat"
    EMAIL = "email"
    WECHAT = "wechat"
    AGENT = "agent"
    API = "api"
    IMPORT = "import"


class CaseState(str, enum.Enum):
    PENDING_REVIEW = "pending_review"
    AWAITING_CUSTOMER = "awaiting_customer"
    PENDING_APPROVAL = "pending_approval"
    AWAITING_RETURN = "awaiting_return"
    RETURN_IN_TRANSIT = "return_in_transit"
    RECEIVED = "received"
    INSPECTED = "inspected"
    IN_REPAIR = "in_repair"
    RESOLVING = "resolving"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    DISPUTED = "disputed"
    CANCELLED = "cancelled"
    CLOSED = "closed"


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_merchant_state", "merchant_id", "state"),
        Index("ix_cases_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30))
    reason_code: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    desired_outcome: Mapped[str] = mapped_column(String(40), default="")
    advance: Mapped[bool] = mapped_column(default=False)
    needs_return: Mapped[bool] = mapped_column(default=True)
    holds_quantity: Mapped[bool] = mapped_column(default=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    escalation_level: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)
    external_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    claimed_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The policy decision the case was opened under (assessment/apply.py), and the stored policy version it used
    # (None: the merchant's default preset), so an old decision can always be explained.
    policy_version: Mapped[int | None] = mapped_column()
    policy_decision: Mapped[dict | None] = mapped_column()

    lines: Mapped[list[CaseLine]] = relationship(back_populates="case", order_by="CaseLine.id",
                                                 cascade="all, delete-orphan")

    # Optimistic concurrency: every UPDATE says WHERE version = <loaded>; a lost race is a 409.
    __mapper_args__ = {"version_id_col": version}


class CaseLine(Base):
    """One order line claimed by a case; "what arrived" and "what we decided" are kept apart."""

    __tablename__ = "case_lines"
    __table_args__ = (UniqueConstraint("case_id", "order_line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]
    reason_code: Mapped[str | None] = mapped_column(String(60))
    received_quantity: Mapped[int] = mapped_column(default=0)
    accepted_quantity: Mapped[int] = mapped_column(default=0)
    inspection: Mapped[dict] = mapped_column(default=dict)
    # The replacement the customer chose for an exchange: sku, attributes, price (decimal string), currency.
    variant: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))

    case: Mapped[Case] = relationship(back_populates="lines")


class CaseEvent(Base):
    """An immutable record of one transition: who, when, from, to, what was said."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int]
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(80))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # customer | internal, decided when the event is written (cases/visibility.py).
    visibility: Mapped[str] = mapped_column(String(10), default="customer", server_default="customer")


class Attachment(Base):
    """An evidence file (photo or video), stored behind the storage interface with its checksum."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
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
    uploaded_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # customer | internal (cases/visibility.py): a warehouse or inspection photo is internal unless staff share it.
    visibility: Mapped[str] = mapped_column(String(10), default="customer", server_default="customer")


class Reason(Base):
    """A return reason; rows with no merchant are the default taxonomy, a merchant's rows extend or hide them."""

    __tablename__ = "reasons"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    code: Mapped[str] = mapped_column(String(60))
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    # {language tag: label}, in any languages, none required (labels.py reads it along the fallback chain);
    # label_zh / label_en mirror its zh-CN and en entries ('' when not given).
    labels: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    fault: Mapped[str] = mapped_column(String(20), default="customer")
    case_types: Mapped[list] = mapped_column(default=list)
    sort: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)


class OutboxMessage(Base):
    """A side effect written in the same transaction as the change that caused it; the worker delivers it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_event_item", "event_id", "event_item", unique=True),
                      # The claim: the lanes with pending messages, then each lane's due ones (notify.outbox); by
                      # status alone: the backlog, the lists by status.
                      Index("ix_outbox_status_lane_due", "status", "lane", "available_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    topic: Mapped[str] = mapped_column(String(80))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    payload: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Claimed lowest first: customer sign-in codes (0) go ahead of everything else (100).
    priority: Mapped[int] = mapped_column(SmallInteger, default=100, server_default=text("100"))
    # Who waits behind whom: one merchant's one destination; a worker keeps one delivery in flight per lane.
    lane: Mapped[str] = mapped_column(String(80), default=lambda ctx: outbox_lane(ctx.get_current_parameters()),
                                      server_default="")
    # A message carrying a one-time code: never shown to staff, never replayed, redacted once sent, dead or expired.
    secret: Mapped[bool] = mapped_column(default=False, server_default=false())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A message derived from a case event (returnflow/derive.py): the event and the message's place among the event's
    # messages; unique together, so deriving an event twice cannot queue its messages twice.
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_item: Mapped[int | None] = mapped_column(SmallInteger)


def outbox_lane(row: dict) -> str:
    """`<merchant>:<topic>:<destination>`: a webhook endpoint or a notification channel (email, sms, ...)."""
    payload = row.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    destination = payload.get("endpoint_id") or payload.get("channel") or ""
    return f"{row.get('merchant_id') or 0}:{row.get('topic') or ''}:{destination}"[:80]


class NumberSequence(Base):
    """Counters behind human-readable numbers such as AS2611240001."""

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class WebhookEndpoint(Base):
    """A shop's or ERP's URL that receives every case event (or the listed ones), signed with its secret (notify/webhooks.py
    delivers them; the case loader reads whether a merchant has one)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventLink(Base):
    """An event's link in its case's hash chain (written by audit/chain.py, read with the case)."""

    __tablename__ = "case_event_chain"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
