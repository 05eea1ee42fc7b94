"""Orders as the shop knows them: customers, products, orders and their lines (money in minor units)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("merchant_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str | None] = mapped_column(String(10))
    country: Mapped[str | None] = mapped_column(String(60))
    # The shop's risk rating of the customer (normal | high; None = normal); the policy routes high risk to people.
    risk: Mapped[str | None] = mapped_column(String(20))
    # The channels the customer wants to hear from us on (email, sms, push); None: the merchant's defaults.
    # In-app messages in the portal are always kept.
    channels: Mapped[list | None] = mapped_column(JSON(none_as_null=True))  # None is SQL NULL (kept on re-push)
    # The customer's WeChat openid at the merchant's official account or mini program, when the shop pushes it.
    wechat_openid: Mapped[str | None] = mapped_column(String(64))


class Category(Base):
    """A product category; its legal attributes and checklists arrive with the policy engine."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    name_en: Mapped[str] = mapped_column(String(200), default="")
    # {language tag: name} in any languages (labels.py); name_zh / name_en mirror its zh-CN and en entries.
    labels: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    attributes: Mapped[dict] = mapped_column(default=dict)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("merchant_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str | None] = mapped_column(String(60))
    supplier: Mapped[str | None] = mapped_column(String(200))


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("merchant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    number: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    goods_total: Mapped[int] = mapped_column(BigInteger, default=0)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_total: Mapped[int] = mapped_column(BigInteger, default=0)
    payments: Mapped[list] = mapped_column(default=list)
    country: Mapped[str | None] = mapped_column(String(60))
    sales_channel: Mapped[str | None] = mapped_column(String(60))
    ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Facts the return policy reads (CN6, CN10, TB9): when it was paid, 运费险, the free-shipping threshold met.
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipping_insurance: Mapped[bool] = mapped_column(default=False, server_default=false())
    free_shipping_threshold: Mapped[int | None] = mapped_column(BigInteger)
    shipping_cost: Mapped[int | None] = mapped_column(BigInteger)  # what shipping cost the merchant (free shipping)
    # EU4: the standard delivery's price when the buyer chose (and paid for) a premium one in shipping_fee.
    standard_shipping_fee: Mapped[int | None] = mapped_column(BigInteger)
    # What the order export said of it (records.ORDER_STATUSES; None: not stated). A cancelled order is no sale.
    status: Mapped[str | None] = mapped_column(String(20))

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.line_no",
                                                  cascade="all, delete-orphan")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"), Index("ix_order_lines_sku", "sku"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    line_no: Mapped[int]
    sku: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str | None] = mapped_column(String(60))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int]
    delivered_quantity: Mapped[int] = mapped_column(default=0)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # A gift given with the order (CN10: charged at its marked price, unit_price, if it does not come back).
    gift: Mapped[bool] = mapped_column(default=False, server_default=false())
    # CN3: checkout showed, and the buyer confirmed, that this item is excluded from the no-reason return.
    final_sale_confirmed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Split deliveries: this line's parcel (None: the order's delivered_at / signed_at apply).
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # CN12: the units' serial numbers, pushed with the order (more can be recorded at receiving or repair).
    serial_numbers: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    image_url: Mapped[str | None] = mapped_column(String(1000))  # the product photo the shop pushed
    # The variants the shop offers in exchange, as JSON text: the bulk upsert (COPY / driver SQL) writes plain text.
    exchange_variants: Mapped[str | None] = mapped_column(Text)
    # product | shipping | fee | discount | adjustment (records.LINE_KINDS): only products are sales.
    kind: Mapped[str] = mapped_column(String(20), default="product", server_default="product")

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderHookKey(Base):
    """The secret a merchant's shop platform signs pushed orders with (orders by signed webhook)."""

    __tablename__ = "order_hook_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), unique=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderHookSeen(Base):
    """A signed order push already taken (by its signature and its delivery id): a replay is refused."""

    __tablename__ = "order_hook_seen"
    __table_args__ = (UniqueConstraint("merchant_id", "signature"),
                      UniqueConstraint("merchant_id", "delivery"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    signature: Mapped[str] = mapped_column(String(64))
    delivery: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
