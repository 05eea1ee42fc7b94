"""API shapes of orders, and their conversion to validated records (amounts to minor units)."""

from __future__ import annotations

from decimal import Decimal

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..errors import Explained, InvalidInput
from ..i18n import N_
from ..fields import Count, LineNo, Money
from ..money import MAX_MINOR, MoneyError, fmt, is_currency, to_minor
from .contacts import DEFAULT_REGION, check_customer
from .records import CustomerRecord, LineRecord, OrderRecord

Amount = Decimal | int | str


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, description="The shop's customer id")
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=200, description="Checked for form; compared without regard "
                                                                        "to case at the portal")
    phone: str | None = Field(default=None, max_length=40, description="Stored in E.164; without a country code it "
                                                                       "is read as a number of the merchant's "
                                                                       "country (CN by default)")
    locale: str | None = Field(default=None, max_length=10)
    country: str | None = Field(default=None, max_length=60)
    risk: Literal["normal", "high"] | None = Field(
        default=None, description="The shop's risk rating; 'high' sends the customer's requests to a person")
    channels: list[Literal["email", "sms", "push", "wechat"]] | None = Field(
        default=None, max_length=4, description="How the customer wants to be told about their cases (in-app "
                                                "messages in the portal are always kept); omitted: the merchant's "
                                                "defaults")
    wechat_openid: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                      description="The customer's WeChat openid at the merchant's official account "
                                                  "or mini program (WeChat template and subscribe messages)")


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str = Field(min_length=1, max_length=40, description="alipay, wechat_pay, card, balance, points ...")
    amount: Money
    reference: str | None = Field(default=None, max_length=100, description="The payment's id at its provider")


class VariantIn(BaseModel):
    """A variant the shop offers as the replacement in an exchange (another size, colour ...)."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=100)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=10,
                                       description='What the shopper picks by, e.g. {"尺码": "L", "颜色": "蓝"}')
    price: Decimal = Field(ge=0, description="Its unit price; the difference to the line's is shown to the shopper")
    available: int = Field(ge=0, le=1_000_000, description="How many the shop can send; 0 shows it as sold out")


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_no: LineNo | None = None
    sku: str = Field(min_length=1, max_length=100)
    title: str = Field(default="", max_length=300)
    category: str | None = Field(default=None, max_length=60)
    unit_price: Money = Field(ge=0)
    quantity: int = Field(ge=1, le=1_000_000)
    delivered_quantity: Count | None = None
    discount: Money = Field(default=Decimal(0), ge=0)
    gift: bool = Field(default=False, description="A free gift; unit_price is its marked price (CN10)")
    final_sale_confirmed: bool = Field(
        default=False, description="Checkout showed, and the buyer confirmed, that this item is excluded from the "
                                   "no-reason return (CN3)")
    # Split deliveries: when this line's parcel was delivered / signed for (default: the order's times).
    delivered_at: AwareDatetime | None = None
    signed_at: AwareDatetime | None = None
    serial_numbers: list[str] | None = Field(
        default=None, max_length=1000, description="The units' serial numbers (at most one per unit), for the "
                                                   "repair history of each unit (CN12)")
    image_url: str | None = Field(default=None, max_length=1000, pattern=r"^https?://\S+$",
                                  description="The product photo shown to the shopper (http or https)")
    variants: list[VariantIn] = Field(default_factory=list, max_length=100,
                                      description="What the shopper may choose as the replacement in an exchange")


class OrderIn(BaseModel):
    """An order as the shop pushes it; re-sending the same number updates it."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=100)
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")
    customer: CustomerIn | None = None
    currency: str = Field(min_length=3, max_length=3)
    discount: Money = Field(default=Decimal(0), ge=0)
    shipping_fee: Money = Field(default=Decimal(0), ge=0)
    paid_total: Money | None = Field(default=None, ge=0)
    payments: list[PaymentIn] = Field(default_factory=list)
    country: str | None = Field(default=None, max_length=60)
    sales_channel: str | None = Field(default=None, max_length=60)
    ordered_at: AwareDatetime | None = None
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    signed_at: AwareDatetime | None = None
    paid_at: AwareDatetime | None = None
    shipping_insurance: bool = Field(default=False, description="The order carries return-shipping insurance (运费险)")
    free_shipping_threshold: Money | None = Field(
        default=None, ge=0, description="The free-shipping threshold this order met, if it shipped free (CN6)")
    shipping_cost: Money | None = Field(
        default=None, ge=0, description="What shipping this free-shipping order cost the merchant (CN6 deduction)")
    standard_shipping_fee: Decimal | None = Field(
        default=None, ge=0, description="When a premium delivery was chosen: what standard delivery costs; a "
                                        "withdrawal refunds this, never the premium surcharge (EU4)")
    lines: list[OrderLineIn] = Field(min_length=1, max_length=2000)

    def _standard_fee(self, minor) -> int | None:
        if self.standard_shipping_fee is None:
            return None
        if self.standard_shipping_fee > self.shipping_fee:
            raise Explained("standard_shipping_fee", N_("the standard delivery ({standard}) costs more than the "
                                                     "delivery paid ({paid})"),
                            standard=self.standard_shipping_fee, paid=self.shipping_fee)
        return minor(self.standard_shipping_fee, "standard_shipping_fee")

    def to_record(self, region: str = DEFAULT_REGION) -> OrderRecord:
        """Validates amounts against the currency and the customer's contact (phones without a country code read as
        `region`'s) and returns the storage record."""
        currency = self.currency.upper()
        if not is_currency(currency):
            raise InvalidInput("unknown_currency", field="currency", got=self.currency)

        def minor(value: Decimal, field: str) -> int:
            try:
                return to_minor(value, currency)
            except MoneyError as exc:
                raise exc.refusal(field) from None

        delivered = self.delivered_at is not None or self.signed_at is not None
        lines = []
        numbers = set()
        for i, line in enumerate(self.lines):
            line_no = line.line_no or i + 1
            if line_no in numbers:
                raise Explained(f"lines[{i}].line_no", N_("line {line} appears twice"), line=line_no)
            numbers.add(line_no)
            arrived = delivered or line.delivered_at is not None or line.signed_at is not None
            delivered_qty = line.delivered_quantity if line.delivered_quantity is not None else (
                line.quantity if arrived else 0)
            if delivered_qty > line.quantity:
                raise Explained(f"lines[{i}].delivered_quantity",
                                N_("{delivered} delivered is more than the {ordered} ordered"),
                                delivered=delivered_qty, ordered=line.quantity)
            serials = [x.strip() for x in line.serial_numbers or ()]
            if any(not x or len(x) > 100 for x in serials):
                raise Explained(f"lines[{i}].serial_numbers", N_("a serial number is 1 to 100 characters"))
            if len(serials) > line.quantity or len(set(serials)) != len(serials):
                raise Explained(f"lines[{i}].serial_numbers",
                                N_("at most one distinct serial number per unit ({ordered} ordered)"),
                                ordered=line.quantity)
            unit = minor(line.unit_price, f"lines[{i}].unit_price")
            discount = minor(line.discount, f"lines[{i}].discount")
            if discount > unit * line.quantity:
                raise Explained(f"lines[{i}].discount", N_("larger than the line's value"))
            variants = [{"sku": v.sku, "attributes": dict(v.attributes),
                         "price": minor(v.price, f"lines[{i}].variants[{k}].price"), "available": v.available}
                        for k, v in enumerate(line.variants)]
            lines.append(LineRecord(line_no=line_no, sku=line.sku, title=line.title, category=line.category,
                                    unit_price=unit, quantity=line.quantity, delivered_quantity=delivered_qty,
                                    discount=discount, gift=line.gift,
                                    final_sale_confirmed=line.final_sale_confirmed,
                                    delivered_at=line.delivered_at, signed_at=line.signed_at,
                                    serial_numbers=serials or None, image_url=line.image_url,
                                    variants=variants))
        if sum(line.unit_price * line.quantity for line in lines) > MAX_MINOR:
            limit = fmt(MAX_MINOR, currency)
            raise Explained("lines", N_("the order's goods total is beyond the largest amount stored ({limit})"),
                            limit=limit)
        payments = [{"method": p.method, "amount": minor(p.amount, f"payments[{i}].amount")}
                    | ({"reference": p.reference} if p.reference else {}) for i, p in enumerate(self.payments)]
        record = OrderRecord(
            number=self.number, currency=currency,
            customer=CustomerRecord(external_id=self.customer.id, name=self.customer.name, email=self.customer.email,
                                    phone=self.customer.phone, locale=self.customer.locale,
                                    country=self.customer.country, risk=self.customer.risk,
                                    channels=sorted(set(self.customer.channels))
                                    if self.customer.channels is not None else None,
                                    wechat_openid=self.customer.wechat_openid)
            if self.customer else None,
            discount=minor(self.discount, "discount"), shipping_fee=minor(self.shipping_fee, "shipping_fee"),
            paid_total=minor(self.paid_total, "paid_total") if self.paid_total is not None else None,
            payments=payments, country=self.country, sales_channel=self.sales_channel, ordered_at=self.ordered_at,
            shipped_at=self.shipped_at, delivered_at=self.delivered_at, signed_at=self.signed_at, lines=lines,
            paid_at=self.paid_at, shipping_insurance=self.shipping_insurance,
            free_shipping_threshold=(minor(self.free_shipping_threshold, "free_shipping_threshold")
                                     if self.free_shipping_threshold is not None else None),
            shipping_cost=minor(self.shipping_cost, "shipping_cost") if self.shipping_cost is not None else None,
            standard_shipping_fee=self._standard_fee(minor))
        if payments and record.paid_total is not None and sum(p["amount"] for p in payments) != record.paid_total:
            raise Explained("payments", N_("the payments do not add up to paid_total"))
        if record.customer is not None:
            check_customer(record.customer, region)
        return record
