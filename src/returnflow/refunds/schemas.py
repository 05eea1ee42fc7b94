"""API shapes of refunds, compensations and money settings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..fields import Money, RowId
from .providers.config import ProvidersIn


class LinePick(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_line_id: RowId
    quantity: int = Field(ge=0, le=1_000_000)


class DeductionIn(BaseModel):
    """A deduction on one case line (restocking fee, broken free-shipping threshold, unreturned gift ...)."""

    model_config = ConfigDict(extra="forbid")

    case_line_id: RowId
    kind: str = Field(min_length=1, max_length=40)
    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    rule: str = Field(default="", max_length=40)


class ConsentIn(BaseModel):
    """The customer's consent to be refunded another way than the original payment route (CN9)."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, max_length=40, description="phone, chat, portal, email ...")
    statement: str = Field(min_length=1, max_length=1000, description="What the customer agreed to, in their words")
    given_at: datetime | None = None


class RefundCreate(BaseModel):
    """Refund a case: by default every refundable unit of every line, back along the original route."""

    model_config = ConfigDict(extra="forbid")

    route: str = Field(default="original", max_length=40, description="original | balance | a merchant route")
    lines: list[LinePick] | None = None
    refund_shipping: bool | None = Field(
        default=None, description="Refund the order's delivery (the standard price under a premium one, EU4); "
                                  "default: yes for a full withdrawal under EU/UK law, otherwise no")
    deductions: list[DeductionIn] = Field(default_factory=list, max_length=200)
    amount: Money | None = Field(default=None, description="A lower agreed total (never more than computed)")
    consent: ConsentIn | None = None
    note: str = Field(default="", max_length=2000)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class PaidMark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=200, description="Bank or cash reference of the payment")
    note: str = Field(default="", max_length=2000, description="Anything finance notes with the payment")


class CompensationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="coupon | credit | points")
    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(min_length=1, max_length=2000)
    code: str | None = Field(default=None, min_length=4, max_length=60)


class MoneyDecision(BaseModel):
    """Approving a compensation or balance spend; a `version` other than the row's current one is refused (stale)."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    note: str = Field(default="", max_length=2000)


class MoneyRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    reason: str = Field(min_length=1, max_length=2000)


class MoneySettingsIn(BaseModel):
    """Per merchant: approval limits by currency, gateways by payment method, extra refund routes."""

    model_config = ConfigDict(extra="forbid")

    agent_limit: dict[str, Money] = Field(default_factory=dict)
    supervisor_limit: dict[str, Money] = Field(default_factory=dict)
    gateways: dict[str, str] = Field(default_factory=dict, description="payment method -> manual | http")
    default_gateway: str = "manual"
    routes: dict[str, str] = Field(default_factory=dict, description="extra route -> gateway, e.g. bank_transfer")
    postage_cap: dict[str, Money] = Field(
        default_factory=dict, description="currency -> the most reimbursed of a customer's return postage (CN7)")
    providers: ProvidersIn | None = Field(
        default=None, description="WeChat Pay / Alipay credentials; left out: kept as stored; secrets never returned")


class BalanceSpend(BaseModel):
    """Paying with what the customer's ledger holds."""

    model_config = ConfigDict(extra="forbid")

    asset: str = Field(description="store_credit | points | coupon")
    currency: str = Field(min_length=3, max_length=3)
    amount: Money
    reference: str = Field(min_length=1, max_length=200, description="e.g. the new order's number")


class PostageClaimIn(BaseModel):
    """The customer's own return postage on a merchant-fault return (CN7), with the receipt photo."""

    model_config = ConfigDict(extra="forbid")

    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    receipt_id: RowId | None = Field(default=None, description="An attachment of the case: the postage receipt")


class DiminishedValueIn(BaseModel):
    """A diminished value found at inspection after an early refund (EU5/EU7), charged to the customer."""

    model_config = ConfigDict(extra="forbid")

    amount: Money
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(min_length=1, max_length=2000, description="The handling beyond what checking the goods needs")
