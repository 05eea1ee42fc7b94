"""Plain data in and out of the policy engine: one requested case line, and the decision about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from ..i18n import ENGLISH, expand, match, pgettext, pick
from .texts import SENTENCE_CONTEXT, fill


class Outcome(str, enum.Enum):
    REFUND = "refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    RESHIP = "reship"


class Payer(str, enum.Enum):
    MERCHANT = "merchant"
    CUSTOMER = "customer"
    NONE = "none"  # nothing travels back


class Route(str, enum.Enum):
    """Who may approve: the system, an agent, or a higher authority level (审批权限分级)."""

    AUTO = "auto"
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class Anchor(str, enum.Enum):
    """The event a deadline runs from; only REQUEST and the order's own dates are known when deciding."""

    ORDER = "order"
    SIGNING = "signing"
    REQUEST = "request"
    AGREEMENT = "agreement"
    RETURN_DISPATCHED = "return_dispatched"
    RETURN_RECEIVED = "return_received"
    REJECTION = "rejection"
    REPAIR_START = "repair_start"


@dataclass(frozen=True, slots=True)
class Category:
    """A product category with its legal attributes (CN2, CN3, CN5, CN11, EU8)."""

    code: str
    custom_made: bool = False
    perishable: bool = False
    digital: bool = False
    periodical: bool = False
    hygiene_sealed: bool = False
    one_time_seal: bool = False  # CN5: food, cosmetics, medical devices, contraceptives
    needs_confirmation: bool = False  # CN3: excluded only with the buyer's recorded confirmation
    sanbao: bool = False  # 三包 applies (CN11-CN13)
    warranty_months: int = 0
    virtual: bool = False  # TB4: virtual goods have a shorter seller clock; EU8: digital content not on a medium
    inseparable: bool = False  # EU8: inseparably mixed with other items once used (fuel, paint base ...)
    checklist: tuple[str, ...] = ()  # what inspection checks for "intact" (CN5)


@dataclass(frozen=True, slots=True)
class Gift:
    sku: str
    marked_price: Decimal
    returned: bool = True


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    risk: str = "normal"  # normal | high


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One requested case line with everything the policy may look at; money in Decimal, times tz-aware."""

    case_type: str  # cases.models.CaseType value
    reason_code: str
    fault: str  # merchant | customer | carrier | none (cases.reasons)
    category: Category
    sku: str
    currency: str
    unit_price: Decimal
    quantity: int
    customer: Customer
    ordered_at: datetime
    line_amount: Decimal | None = None  # paid for this line after discounts; unit_price * quantity if None
    tags: frozenset[str] = frozenset()
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    signed_at: datetime | None = None
    opened: bool = False  # seal broken / unpacked
    used: bool = False  # used beyond inspecting and reasonable testing (CN4)
    confirmed_at_purchase: bool = False  # the order recorded the CN3 confirmation
    withdrawal_info_given: bool = True  # EU2
    shipping_insurance: bool = False  # the order carries 运费险
    order_goods_total: Decimal | None = None
    free_shipping_threshold: Decimal | None = None
    shipping_paid_by_merchant: Decimal = Decimal(0)  # the shipping a free-shipping order cost the seller
    gifts: tuple[Gift, ...] = ()
    repairs_done: int = 0  # CN12: completed repairs of this unit within the warranty
    grade: str | None = None  # the inspection grade, once known (a restocking fee may depend on it)
    last_received_at: datetime | None = None  # EU1: the order's last item delivered (split deliveries)
    fraud_established: bool = False  # CN14
    payment_methods: frozenset[str] = frozenset()  # how the order was paid (TB9: red packets, instalments ...)
    recent_refunds: int = 0  # the buyer's refund requests in the last 90 days (TB9)

    @property
    def amount(self) -> Decimal:
        return self.line_amount if self.line_amount is not None else self.unit_price * self.quantity

    @property
    def received_at(self) -> datetime | None:
        return self.signed_at or self.delivered_at

    @property
    def condition(self) -> str:
        """What the customer says about the goods: used (beyond testing), opened, or unopened."""
        return "used" if self.used else "opened" if self.opened else "unopened"


@dataclass(frozen=True, slots=True)
class Citation:
    """One rule that fired: its id, its source, and a sentence an agent can read to the customer.

    The sentences are filled in when read (`zh`, `en`), so deciding stays cheap when nobody reads them.
    """

    rule: str
    source: str
    zh_template: str
    en_template: str
    params: tuple[tuple[str, object], ...] = ()
    wording: tuple[tuple[str, str], ...] = ()  # a merchant's own sentence by language (its policy file's `text`)

    @property
    def zh(self) -> str:
        return fill(self.zh_template, self.params, "zh")

    @property
    def en(self) -> str:
        return fill(self.en_template, self.params, "en")

    def text(self, locale: str) -> str:
        """The sentence in `locale`: the catalogs' translation of a preset's or a built-in sentence (context
        'policy'); a sentence the catalogs do not hold (a merchant's own) along the fallback chain. The same
        citation in the same language reads the same (catalogs are loaded once): remembered (`_worded`)."""
        try:
            return _worded(self, locale)
        except TypeError:  # a parameter that cannot be a key (a list, say): worded afresh
            return self._word(locale)

    def _word(self, locale: str) -> str:
        found = pgettext(locale, SENTENCE_CONTEXT, self.en_template)
        own = dict(self.wording)
        mine = match(locale, list(own)) if own else None
        if mine:
            found = own[mine]  # the merchant wrote this language (or one of its family) in its `text` table
        elif found == self.en_template and match(locale) != ENGLISH:
            found = pick({"en": self.en_template, "zh-CN": self.zh_template}, locale)
        return fill(found, self.params, "zh" if found != self.en_template and expand(locale)[0] == "zh" else "en")


@lru_cache(maxsize=4096)
def _worded(citation: Citation, locale: str) -> str:
    return citation._word(locale)


@dataclass(frozen=True, slots=True)
class Deduction:
    kind: str  # restocking_fee | free_shipping | gift
    amount: Decimal
    rule: str


@dataclass(frozen=True, slots=True)
class Deadline:
    """A clock that applies: `at` is known when its anchor has happened, otherwise use `due(anchor_time)`."""

    kind: str  # customer_window | merchant_response | customer_shipping | receipt_confirmation | refund | ...
    rule: str
    anchor: Anchor
    period: timedelta | None = None
    at: datetime | None = None

    def due(self, anchor_time: datetime) -> datetime:
        """The deadline once its anchor event happened at `anchor_time`."""
        if self.at is not None or self.period is None:
            return self.at  # type: ignore[return-value]
        return anchor_time + self.period


@dataclass(frozen=True, slots=True)
class Decision:
    policy_id: str
    eligible: bool
    outcomes: tuple[Outcome, ...]
    return_required: bool
    shipping_payer: Payer
    insurance_covers: bool
    deductions: tuple[Deduction, ...]
    refundable: Decimal
    route: Route
    authority_level: int
    deadlines: tuple[Deadline, ...]
    reasons: tuple[Citation, ...]
    checklist: tuple[str, ...] = ()
    compensation: Decimal = Decimal(0)
    refund_on_dispatch: bool = False

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(c.rule for c in self.reasons)

    def deadline(self, kind: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.kind == kind), None)

    @property
    def total_deductions(self) -> Decimal:
        return sum((d.amount for d in self.deductions), Decimal(0))
