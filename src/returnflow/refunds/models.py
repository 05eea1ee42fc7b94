"""Refunds, their payment legs, the customer ledger, compensations, finance vouchers and gateway webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class Refund(Base):
    """One refund decision for a case: what is refunded and why; paid out by its legs (RefundPayment)."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    route: Mapped[str] = mapped_column(String(40))  # original | balance | a merchant-configured route
    # awaiting_approval -> approved -> completed; awaiting_approval -> rejected
    state: Mapped[str] = mapped_column(String(20))
    goods_amount: Mapped[int] = mapped_column(BigInteger)
    shipping_amount: Mapped[int] = mapped_column(BigInteger)
    deducted_amount: Mapped[int] = mapped_column(BigInteger)
    capped_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    breakdown: Mapped[dict] = mapped_column(default=dict)
    consent: Mapped[dict | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_role: Mapped[str] = mapped_column(String(20))
    approved_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefundLine(Base):
    """Units of a case line a refund pays for; the sum over an order line's refunds is its cap."""

    __tablename__ = "refund_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id"), index=True)
    case_line_id: Mapped[int] = mapped_column(ForeignKey("case_lines.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]
    gross: Mapped[int] = mapped_column(BigInteger)
    deducted: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)


class RefundPayment(Base):
    """One leg of a refund, back to one payment method: pending -> sent -> succeeded | failed (-> retried: sent)."""

    __tablename__ = "refund_payments"
    __table_args__ = (Index("ix_refund_payments_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    number: Mapped[str] = mapped_column(String(50), unique=True)
    method: Mapped[str] = mapped_column(String(40))  # the order's payment method this leg goes back to
    destination: Mapped[str] = mapped_column(String(20))  # gateway | store_credit | points | coupon
    gateway: Mapped[str | None] = mapped_column(String(20))  # manual | http
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """A customer's balance movement: store credit, points or coupons; the balance is the sum (never updated)."""

    __tablename__ = "customer_ledger"
    # One entry per compensation: applying one twice (two approvals racing) fails on the index, never doubles.
    __table_args__ = (Index("ix_customer_ledger_owner", "merchant_id", "customer_id", "asset"),
                      Index("uq_customer_ledger_compensation", "compensation_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    asset: Mapped[str] = mapped_column(String(20))  # store_credit | points | coupon
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # + credited, - spent
    refund_payment_id: Mapped[int | None] = mapped_column(ForeignKey("refund_payments.id"), unique=True)
    compensation_id: Mapped[int | None] = mapped_column(ForeignKey("compensations.id"))
    memo: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Compensation(Base):
    """Goodwill for the merchant's fault: a coupon code, store credit or points, recorded and reported.

    state: applied (on the customer's ledger) | awaiting_approval (above the requester's limit: nothing moved)
    -> applied | rejected. `version` goes up with each move (a stale approve or reject is refused); its history
    is its record_events rows (refunds/money_flows.py declares the moves).
    """

    __tablename__ = "compensations"
    __table_args__ = (Index("ix_compensations_state", "merchant_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(10))  # coupon | credit | points
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str | None] = mapped_column(String(60), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="applied", server_default="applied")
    requested_role: Mapped[str] = mapped_column(String(20), default="", server_default="")
    approved_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class BalanceSpend(Base):
    """Value taken off a customer's ledger by staff (paid with store credit, points or a coupon): applied at once
    within the spender's limit, else awaiting_approval (the balance untouched) -> applied | rejected."""

    __tablename__ = "balance_spends"
    __table_args__ = (Index("ix_balance_spends_state", "merchant_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    asset: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(80))
    requested_role: Mapped[str] = mapped_column(String(20))
    approved_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Voucher(Base):
    """A finance voucher (财务凭证): numbered, balanced, never changed (the database refuses updates)."""

    __tablename__ = "vouchers"
    __table_args__ = (Index("ix_vouchers_merchant_period", "merchant_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    kind: Mapped[str] = mapped_column(String(30))  # refund_decision | refund_settlement | compensation
    currency: Mapped[str] = mapped_column(String(3))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    refund_payment_id: Mapped[int | None] = mapped_column(ForeignKey("refund_payments.id"))
    compensation_id: Mapped[int | None] = mapped_column(ForeignKey("compensations.id"))
    memo: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VoucherLine(Base):
    __tablename__ = "voucher_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), index=True)
    account: Mapped[str] = mapped_column(String(40))
    debit: Mapped[int] = mapped_column(BigInteger, default=0)
    credit: Mapped[int] = mapped_column(BigInteger, default=0)


class GatewayWebhook(Base):
    """Every webhook a gateway sent, accepted or not, with what was done about it (the reconciliation's input)."""

    __tablename__ = "gateway_webhooks"
    __table_args__ = (Index("ix_gateway_webhooks_event", "gateway", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str | None] = mapped_column(String(100))
    refund_payment_id: Mapped[int | None] = mapped_column(ForeignKey("refund_payments.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # applied | duplicate | rejected
    reason: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerCharge(Base):
    """Money taken FROM the customer for a case: a hold (pre-authorisation, later captured or released) or a
    direct charge; today the security of an advance exchange (先发后退). One per case and purpose.

    state: hold: holding -> held -> capturing -> captured | releasing -> released (hold_failed: not authorised);
           charge: charging -> charged | failed (awaiting_finance: a manual gateway, finance collects by hand);
           awaiting_approval (priced above the decider's limit) -> holding | charging, or rejected | withdrawn.
    """

    __tablename__ = "customer_charges"
    __table_args__ = (UniqueConstraint("case_id", "purpose"), Index("ix_customer_charges_state", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    number: Mapped[str] = mapped_column(String(50), unique=True)
    purpose: Mapped[str] = mapped_column(String(30))  # advance_exchange
    kind: Mapped[str] = mapped_column(String(10))  # hold | charge
    method: Mapped[str] = mapped_column(String(40))  # the order's payment method it is taken from
    gateway: Mapped[str] = mapped_column(String(20))  # manual | http
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(200))
    voucher: Mapped[str | None] = mapped_column(String(50))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PostageClaim(Base):
    """The customer's own return postage on a merchant-fault return (CN7), capped by the merchant's setting and
    refunded with the case on its own voucher line; `refund_id` once a refund has paid it."""

    __tablename__ = "postage_claims"
    __table_args__ = (UniqueConstraint("case_id", name="uq_postage_claims_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    currency: Mapped[str] = mapped_column(String(3))
    asked: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # what is reimbursed: asked, capped
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    claimed_by: Mapped[str] = mapped_column(String(80))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
