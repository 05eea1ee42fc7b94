"""Plain order records, already validated, as the importer and the API hand them to storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# What an order export may say of an order; only a cancelled one is not a sale.
ORDER_STATUSES = ("pending", "paid", "shipped", "completed", "cancelled")
# What a line is; only products count in sales and return rates.
LINE_KINDS = ("product", "shipping", "fee", "discount", "adjustment")


@dataclass(slots=True)
class CustomerRecord:
    external_id: str
    name: str = ""
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    country: str | None = None
    risk: str | None = None
    channels: list[str] | None = None  # email, sms, push; None: the merchant's defaults
    wechat_openid: str | None = None


@dataclass(slots=True)
class LineRecord:
    line_no: int
    sku: str
    title: str
    category: str | None
    unit_price: int  # minor units
    quantity: int
    delivered_quantity: int
    discount: int = 0  # minor units
    gift: bool = False
    final_sale_confirmed: bool = False
    delivered_at: datetime | None = None  # split deliveries: this line's own parcel
    signed_at: datetime | None = None
    serial_numbers: list[str] | None = None  # CN12: one per unit
    image_url: str | None = None
    variants: list[dict] = field(default_factory=list)  # sku, attributes, price (minor units), available
    kind: str = "product"  # LINE_KINDS


@dataclass(slots=True)
class OrderRecord:
    number: str
    currency: str
    customer: CustomerRecord | None = None
    discount: int = 0
    shipping_fee: int = 0
    paid_total: int | None = None
    payments: list[dict] = field(default_factory=list)
    country: str | None = None
    sales_channel: str | None = None
    ordered_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    signed_at: datetime | None = None
    lines: list[LineRecord] = field(default_factory=list)
    paid_at: datetime | None = None
    shipping_insurance: bool = False
    free_shipping_threshold: int | None = None  # minor units
    shipping_cost: int | None = None  # minor units: what a free-shipping order's delivery cost the merchant
    standard_shipping_fee: int | None = None  # minor units: the standard delivery's price under a premium one (EU4)
    status: str | None = None  # ORDER_STATUSES; None: the source did not say

    @property
    def goods_total(self) -> int:
        """What the goods cost the buyer before discounts; a gift's marked price is never paid (CN10)."""
        return sum(line.unit_price * line.quantity for line in self.lines if not line.gift and line.kind == "product")
