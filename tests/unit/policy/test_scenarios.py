"""Table-driven decisions written from RULES.md: each scenario asserts the outcome and the rule ids cited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from returnflow.policy import (
    Anchor,
    Category,
    Customer,
    Gift,
    Outcome,
    Payer,
    Route,
    decide,
)

from .factory import BXL, DEFECT, LON, SH, UTC, line, policy, sh

R, E, P, S = Outcome.REFUND, Outcome.EXCHANGE, Outcome.REPAIR, Outcome.RESHIP
PHONE = Category("phone", sanbao=True, warranty_months=12, checklist=("serial number", "no activation traces"))
LAPTOP = Category("electronics", warranty_months=12)
CUSTOM = Category("custom", custom_made=True)
FRESH = Category("fresh", perishable=True)
SOFTWARE = Category("software", digital=True)
PAPER = Category("newspaper", periodical=True)
TRIAL = Category("tryable", needs_confirmation=True)
LIPSTICK = Category("cosmetics", one_time_seal=True)
HYGIENE = Category("earrings", hygiene_sealed=True)
VOUCHER = Category("e-card", virtual=True)
JEWEL = Category("jewellery")


@dataclass
class Scenario:
    name: str
    policy: str
    now: datetime
    request: dict[str, Any]
    eligible: bool
    rules: set[str]
    absent: set[str] = field(default_factory=set)
    outcomes: set[Outcome] | None = None
    payer: Payer | None = None
    returns: bool | None = None
    route: Route | None = None
    window_end: datetime | None = None
    deadlines: dict[str, tuple[str, Any]] = field(default_factory=dict)  # kind -> (rule, at | anchor)
    deductions: dict[str, Decimal] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def end(day: int, month: int = 3, year: int = 2026, tz=SH) -> datetime:
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=tz)


def bx(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BXL)


def lon(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=LON)


UK_LINE = {"currency": "GBP", "ordered_at": lon(1, 9), "shipped_at": lon(1, 12), "delivered_at": lon(1, 20),
           "signed_at": None}
EU_LINE = {"currency": "EUR", "ordered_at": bx(1, 9), "shipped_at": bx(1, 12), "delivered_at": bx(1, 20), "signed_at": None}
UNSHIPPED = {"case_type": "refund_only", "reason_code": "changed_mind", "shipped_at": None, "delivered_at": None,
                 "signed_at": None}
IN_TRANSIT = {"case_type": "refund_only", "reason_code": "not_received", "fault": "carrier", "delivered_at": None,
                  "signed_at": None}

SCENARIOS = [
    # --- cn-law: CN1 window arithmetic -------------------------------------------------------------------
    Scenario("CN1 signed 1st 23:00, last minute of the 8th", "cn-law", sh(8, 23, 59), {}, True, {"CN1", "CN6"},
             window_end=end(8), outcomes={R, E}, payer=Payer.CUSTOMER, returns=True, route=Route.AUTO),
    Scenario("CN1 signed 1st 23:00, first minute of the 9th is late", "cn-law", sh(9, 0, 0), {}, False, {"CN1"},
             absent={"CN6"}, outcomes=set(), window_end=end(8), route=Route.AGENT),
    Scenario("CN1 signed 00:01 on the 1st still ends with the 8th", "cn-law", sh(8, 20),
             {"signed_at": sh(1, 0, 1)}, True, {"CN1"}, window_end=end(8)),
    Scenario("CN1 counts the day in Shanghai, not UTC", "cn-law", sh(9, 12),
             {"signed_at": datetime(2026, 3, 1, 16, 30, tzinfo=UTC)}, True, {"CN1"}, window_end=end(9)),
    Scenario("CN1 falls back to delivery when signing is unknown", "cn-law", sh(8, 12),
             {"signed_at": None, "delivered_at": sh(2, 10)}, True, {"CN1"}, window_end=end(9)),
    Scenario("CN1 across a month end", "cn-law", sh(4, 12, month=4),
             {"signed_at": sh(28, 18)}, True, {"CN1"}, window_end=end(4, month=4)),
    # --- CN2/CN3 exclusions ------------------------------------------------------------------------------
    Scenario("CN2 custom-made goods refused", "cn-law", sh(3), {"category": CUSTOM}, False, {"CN2"},
             absent={"CN1"}, outcomes=set(), route=Route.AGENT),
    Scenario("CN2 perishable goods refused", "cn-law", sh(3), {"category": FRESH}, False, {"CN2"}),
    Scenario("CN2 unsealed software refused", "cn-law", sh(3), {"category": SOFTWARE, "opened": True}, False,
             {"CN2"}),
    Scenario("CN2 sealed software may go back", "cn-law", sh(3), {"category": SOFTWARE}, True, {"CN1"},
             absent={"CN2"}),
    Scenario("CN2 newspapers refused", "cn-law", sh(3), {"category": PAPER}, False, {"CN2"}),
    Scenario("CN3 confirmed at purchase: refused", "cn-law", sh(3),
             {"category": TRIAL, "confirmed_at_purchase": True}, False, {"CN3"}, absent={"CN1"}),
    Scenario("CN3 without recorded confirmation the exclusion does not hold", "cn-law", sh(3),
             {"category": TRIAL}, True, {"CN3.unconfirmed", "CN1"}, absent={"CN3"}),
    # --- CN4/CN5 condition -------------------------------------------------------------------------------
    Scenario("CN4 used beyond testing: checked on arrival, not refused at intake", "cn-law", sh(3), {"used": True},
             True, {"CN4.on_arrival", "CN1"}, absent={"CN4"}),
    Scenario("CN4 opened to inspect is still intact", "cn-law", sh(3), {"opened": True}, True, {"CN1"},
             absent={"CN4", "CN5"}),
    Scenario("CN5 cosmetics said to be unsealed: the seal is checked on arrival", "cn-law", sh(3),
             {"category": LIPSTICK, "opened": True}, True, {"CN5.on_arrival", "CN1"}, absent={"CN5"}),
    Scenario("CN2 activated digital content not on a medium refused", "cn-law", sh(3),
             {"category": VOUCHER, "used": True}, False, {"CN2"}),
    Scenario("CN2 unused digital content not on a medium may go back", "cn-law", sh(3),
             {"category": VOUCHER}, True, {"CN1"}, absent={"CN2"}),
    Scenario("CN5 cosmetics sealed may go back", "cn-law", sh(3), {"category": LIPSTICK}, True, {"CN1"},
             absent={"CN5"}),
    # --- CN6 shipping, CN8-CN10 refund -------------------------------------------------------------------
    Scenario("CN6 customer pays no-reason shipping", "cn-law", sh(3), {}, True, {"CN6"}, payer=Payer.CUSTOMER,
             extra={"insurance_covers": False}),
    Scenario("运费险 covers the customer's shipping", "cn-law", sh(3), {"shipping_insurance": True}, True,
             {"CN6", "P2.insurance"}, payer=Payer.CUSTOMER, extra={"insurance_covers": True}),
    Scenario("CN6 breaking the free-shipping threshold loses the shipping", "cn-law", sh(3),
             {"order_goods_total": Decimal("249.00"), "free_shipping_threshold": Decimal("99.00"),
              "shipping_paid_by_merchant": Decimal("10.00")}, True, {"CN6", "CN6.threshold"},
             deductions={"free_shipping": Decimal("10.00")}, extra={"refundable": Decimal("189.00")}),
    Scenario("CN6 threshold still met: no deduction", "cn-law", sh(3),
             {"order_goods_total": Decimal("400.00"), "free_shipping_threshold": Decimal("99.00"),
              "shipping_paid_by_merchant": Decimal("10.00")}, True, {"CN6"}, absent={"CN6.threshold"},
             deductions={}),
    Scenario("CN8 refund within 7 days of the goods coming back", "cn-law", sh(3), {}, True, {"CN8", "CN9"},
             deadlines={"refund": ("CN8", Anchor.RETURN_RECEIVED)}),
    Scenario("CN10 unreturned gift charged at marked price", "cn-law", sh(3),
             {"gifts": (Gift("GIFT-1", Decimal("25.00"), returned=False),)}, True, {"CN10"},
             deductions={"gift": Decimal("25.00")}, extra={"refundable": Decimal("174.00")}),
    Scenario("CN10 returned gift: nothing deducted", "cn-law", sh(3),
             {"gifts": (Gift("GIFT-1", Decimal("25.00")),)}, True, {"CN1"}, absent={"CN10"}, deductions={}),
    Scenario("CN10 gifts never take more than the line", "cn-law", sh(3),
             {"gifts": (Gift("G", Decimal("150.00"), False), Gift("H", Decimal("150.00"), False))}, True,
             {"CN10"}, deductions={"gift": Decimal("199.00")}, extra={"refundable": Decimal("0.00")}),
    # --- CN7/CN11-CN13 defects -------------------------------------------------------------------------------
    Scenario("CN7 quality defect on day 3: return, exchange or repair", "cn-law", sh(4), DEFECT, True, {"CN7"},
             outcomes={R, E, P}, payer=Payer.MERCHANT, returns=True),
    Scenario("CN7 quality defect on day 10: exchange or repair, merchant pays", "cn-law", sh(11), DEFECT, True,
             {"CN7"}, absent={"CN1", "CN6"}, outcomes={E, P}, payer=Payer.MERCHANT, route=Route.AGENT),
    Scenario("CN7 defect after the warranty: refused", "cn-law", sh(3, year=2027),
             dict(DEFECT, category=LAPTOP), False, {"CN7", "M.warranty_over"}, outcomes=set()),
    Scenario("CN11 三包 fault on day 5: return, exchange or repair", "cn-law", sh(6), dict(DEFECT, category=PHONE),
             True, {"CN11"}, outcomes={R, E, P}, payer=Payer.MERCHANT),
    Scenario("CN11 三包 fault on day 10: exchange or repair", "cn-law", sh(11), dict(DEFECT, category=PHONE),
             True, {"CN11"}, outcomes={E, P}),
    Scenario("CN11 三包 day 15 is the last exchange day", "cn-law", sh(16, 23), dict(DEFECT, category=PHONE),
             True, {"CN11"}, outcomes={E, P}),
    Scenario("CN11 三包 day 40 within warranty: repair, CN13 clock", "cn-law", sh(10, month=4),
             dict(DEFECT, category=PHONE), True, {"CN11", "CN13"}, outcomes={P},
             deadlines={"repair_completion": ("CN13", Anchor.REPAIR_START)}),
    Scenario("CN12 two failed repairs: exchange or return", "cn-law", sh(10, month=8),
             dict(DEFECT, category=PHONE, repairs_done=2), True, {"CN12", "CN11"}, outcomes={E, R}),
    Scenario("CN11 三包 after the warranty: refused", "cn-law", sh(2, year=2027), dict(DEFECT, category=PHONE),
             False, {"CN11"}, outcomes=set()),
    Scenario("wrong item sent: merchant pays the way back", "cn-law", sh(12),
             {"reason_code": "wrong_item", "fault": "merchant"}, True, {"CN7"}, payer=Payer.MERCHANT),
    Scenario("transit damage: merchant pays (PROCESS §2)", "cn-law", sh(3),
             {"reason_code": "damaged_in_transit", "fault": "carrier"}, True, {"P2.fault"},
             payer=Payer.MERCHANT, outcomes={R, E, P}),
    Scenario("missing item: reship or refund, nothing to send back", "cn-law", sh(3),
             {"reason_code": "missing_item", "fault": "merchant", "case_type": "reship"}, True, {"P2.missing"},
             outcomes={S, R}, returns=False, payer=Payer.NONE),
    Scenario("refund only for a defect goes to an agent, goods stay", "cn-law", sh(3),
             dict(DEFECT, case_type="refund_only"), True, {"CN7", "M.approval.agent"}, outcomes={R},
             returns=False, route=Route.AGENT),
    Scenario("CN14 fraud: three times the price, at least CNY 500", "cn-law", sh(3),
             dict(DEFECT, fraud_established=True, unit_price=Decimal("100.00")), True, {"CN14"}, route=Route.SUPERVISOR,
             extra={"compensation": Decimal(500)}),
    Scenario("CN14 fraud on a CNY 400 line: 1,200", "cn-law", sh(3),
             dict(DEFECT, fraud_established=True, unit_price=Decimal("400.00")), True, {"CN14"},
             extra={"compensation": Decimal("1200.00")}),
    # --- cn-law: routes and the merchant's default clocks ----------------------------------------------------
    Scenario("refund before shipping: merchant setting 48 h", "cn-law", sh(1, 10), UNSHIPPED, True,
             {"M.response"}, outcomes={R}, returns=False, payer=Payer.NONE,
             deadlines={"merchant_response": ("M.response", sh(3, 10))}),
    Scenario("inquiries get no return decision", "cn-law", sh(3), {"case_type": "inquiry", "fault": "none"},
             False, {"M.case_type"}, outcomes=set()),
    Scenario("above the auto limit an agent approves", "cn-law", sh(3), {"unit_price": Decimal("600.00")},
             True, {"M.approval.agent"}, route=Route.AGENT),
    Scenario("above the supervisor limit", "cn-law", sh(3), {"unit_price": Decimal("6000.00")}, True,
             {"M.approval.amount"}, route=Route.SUPERVISOR, extra={"authority_level": 2}),
    Scenario("high-risk customer goes to an agent", "cn-law", sh(3), {"customer": Customer("c9", risk="high")},
             True, {"M.approval.risk"}, route=Route.AGENT),
    Scenario("checklist from the category for inspection (CN5)", "cn-law", sh(4), dict(DEFECT, category=PHONE),
             True, {"CN11"}, extra={"checklist": ("serial number", "no activation traces")}),
    # --- taobao-current ----------------------------------------------------------------------------------------
    Scenario("TB1 current: seller has 24 h before shipping", "taobao-current", sh(1, 10), UNSHIPPED, True,
             {"TB1"}, outcomes={R}, deadlines={"merchant_response": ("TB1", sh(2, 10))}),
    Scenario("TB2 shipped not received: 36 h", "taobao-current", sh(2, 8), IN_TRANSIT, True, {"TB2"},
             outcomes={R, S}, returns=False, deadlines={"merchant_response": ("TB2", sh(3, 20))}),
    Scenario("TB5/TB6 return clocks run from agreement and dispatch", "taobao-current", sh(3), {}, True,
             {"CN1", "TB5", "TB6"}, deadlines={"customer_shipping": ("TB5", Anchor.AGREEMENT),
                                               "receipt_confirmation": ("TB6", Anchor.RETURN_DISPATCHED)}),
    Scenario("TB3 current: 5 days to revise after a refusal", "taobao-current", sh(12), {}, False,
             {"CN1", "TB3"}, deadlines={"customer_appeal": ("TB3", Anchor.REJECTION)},
             extra={"appeal_days": 5}),
    Scenario("taobao keeps the statutory CN2 exclusions", "taobao-current", sh(3), {"category": CUSTOM}, False,
             {"CN2", "TB3"}),
    Scenario("taobao defect on day 10 still CN7", "taobao-current", sh(11), DEFECT, True, {"CN7"},
             outcomes={E, P}, payer=Payer.MERCHANT),
    # --- taobao-legacy -----------------------------------------------------------------------------------------
    Scenario("TB1 legacy: 48 h before shipping", "taobao-legacy", sh(1, 10), UNSHIPPED, True, {"TB1"},
             deadlines={"merchant_response": ("TB1", sh(3, 10))}),
    Scenario("TB4 legacy: 5 days for shipped goods", "taobao-legacy", sh(3, 9), {}, True, {"TB4"},
             deadlines={"merchant_response": ("TB4", sh(8, 9))}),
    Scenario("TB4 legacy: 3 days for virtual goods", "taobao-legacy", sh(3, 9), {"category": VOUCHER}, True,
             {"TB4"}, deadlines={"merchant_response": ("TB4", sh(6, 9))}),
    Scenario("TB3 legacy: 7 days to revise", "taobao-legacy", sh(12), {}, False, {"TB3"},
             extra={"appeal_days": 7}),
    # --- jd-pop ------------------------------------------------------------------------------------------------
    Scenario("JD1 not shipped: 24 h", "jd-pop", sh(1, 10), UNSHIPPED, True, {"JD1"},
             deadlines={"merchant_response": ("JD1", sh(2, 10))}),
    Scenario("JD1 shipped not received: 72 h", "jd-pop", sh(2, 8), IN_TRANSIT, True, {"JD1"},
             deadlines={"merchant_response": ("JD1", sh(5, 8))}),
    Scenario("JD2 refund on dispatch under CNY 3,000", "jd-pop", sh(3), {"unit_price": Decimal("2000.00")}, True,
             {"JD2", "CN1"}, extra={"refund_on_dispatch": True},
             deadlines={"refund": ("JD2", Anchor.RETURN_DISPATCHED)}),
    Scenario("JD2 not above CNY 3,000", "jd-pop", sh(3), {"unit_price": Decimal("3500.00")}, True, {"CN1"},
             absent={"JD2"}, extra={"refund_on_dispatch": False}),
    Scenario("JD2 not for a high-risk buyer", "jd-pop", sh(3), {"customer": Customer("c2", risk="high")}, True,
             {"CN1"}, absent={"JD2"}, extra={"refund_on_dispatch": False}),
    Scenario("PP1 price drop within 30 days of ordering", "jd-pop", sh(25),
             {"case_type": "refund_only", "reason_code": "price_protection"}, True, {"PP1"}, outcomes={R},
             returns=False),
    Scenario("PP1 price drop on day 31 refused", "jd-pop", sh(1, 10, month=4),
             {"case_type": "refund_only", "reason_code": "price_protection"}, False, {"PP1"}),
    Scenario("no price protection under bare law", "cn-law", sh(5),
             {"case_type": "refund_only", "reason_code": "price_protection"}, False, {"M.price_protection"}),
    # --- eu-crd ------------------------------------------------------------------------------------------------
    Scenario("EU1 14 days from delivery", "eu-crd", bx(15, 23), EU_LINE, True, {"EU1", "EU6"},
             window_end=end(15, tz=BXL), payer=Payer.CUSTOMER),
    Scenario("EU1 day 16 is late", "eu-crd", bx(16, 8), EU_LINE, False, {"EU1"}, outcomes=set()),
    Scenario("EU2 no withdrawal information: +12 months", "eu-crd", bx(1, 12, month=12),
             dict(EU_LINE, withdrawal_info_given=False), True, {"EU2"}, window_end=end(15, 3, 2027, BXL)),
    Scenario("EU8 hygiene seal broken", "eu-crd", bx(3), dict(EU_LINE, category=HYGIENE, opened=True), False,
             {"EU8"}),
    Scenario("EU8 hygiene goods still sealed", "eu-crd", bx(3), dict(EU_LINE, category=HYGIENE), True, {"EU1"},
             absent={"EU8"}),
    Scenario("EU8 personalised goods", "eu-crd", bx(3), dict(EU_LINE, category=CUSTOM), False, {"EU8"}),
    Scenario("EU7 used: still withdrawable, diminished value, agent", "eu-crd", bx(3), dict(EU_LINE, used=True),
             True, {"EU7", "EU1"}, route=Route.AGENT),
    Scenario("EU4 refund within 14 days of the notice, EU5 withholding", "eu-crd", bx(3), EU_LINE, True,
             {"EU4", "EU5"}, deadlines={"refund": ("EU4", bx(17)), "customer_shipping": ("EU6", bx(17))}),
    Scenario("EU4 no free-shipping deduction", "eu-crd", bx(3),
             dict(EU_LINE, order_goods_total=Decimal(60), free_shipping_threshold=Decimal(50),
                  shipping_paid_by_merchant=Decimal("4.90"), unit_price=Decimal("30.00")), True, {"EU1"},
             absent={"CN6.threshold"}, deductions={}),
    Scenario("EU3 the request is the withdrawal statement, inside the period", "eu-crd", bx(10), EU_LINE, True,
             {"EU3", "EU1"}),
    Scenario("EU8 digital content started with recorded consent", "eu-crd", bx(3),
             dict(EU_LINE, category=Category("ebook", virtual=True), used=True, confirmed_at_purchase=True), False,
             {"EU8"}),
    Scenario("EU8 digital content started without recorded consent: still withdrawable", "eu-crd", bx(3),
             dict(EU_LINE, category=Category("ebook", virtual=True), used=True), True, {"EU8.unconfirmed", "EU1"}),
    Scenario("EU8 inseparably mixed after use", "eu-crd", bx(3),
             dict(EU_LINE, category=Category("paint-base", inseparable=True), used=True), False, {"EU8"}),
    # --- uk-ccr ------------------------------------------------------------------------------------------------
    Scenario("UK1 14 days to cancel from delivery", "uk-ccr", lon(15, 22), UK_LINE, True, {"UK1", "EU6"},
             window_end=end(15, tz=LON), deadlines={"customer_shipping": ("UK1.return", lon(29, 22)),
                                                    "refund": ("UK1.refund", Anchor.RETURN_RECEIVED)}),
    Scenario("UK1 day 16 is late", "uk-ccr", lon(16, 9), UK_LINE, False, {"UK1"}, outcomes=set()),
    Scenario("UK2 faulty on day 25: reject for a refund, trader pays the return", "uk-ccr", lon(26),
             dict(UK_LINE, reason_code="quality_issue", fault="merchant"), True, {"UK2"},
             outcomes={R, E, P}, payer=Payer.MERCHANT),
    Scenario("UK2 faulty on day 40: repair or replacement only", "uk-ccr", lon(10, month=4),
             dict(UK_LINE, reason_code="quality_issue", fault="merchant", category=LAPTOP), True, {"UK2"},
             outcomes={E, P}),
    # --- TB9: no instant refund ----------------------------------------------------------------------------------
    Scenario("TB9 red packet payment: no instant refund", "tb-instant", sh(3),
             {"payment_methods": frozenset({"alipay", "red_packet"})}, True, {"TB9"},
             extra={"refund_on_dispatch": False}),
    Scenario("TB9 too many refunds in 90 days: no instant refund", "tb-instant", sh(3), {"recent_refunds": 9}, True,
             {"TB9"}, extra={"refund_on_dispatch": False}),
    Scenario("instant refund for a plain Alipay order", "tb-instant", sh(3),
             {"payment_methods": frozenset({"alipay"}), "recent_refunds": 1}, True, {"M.instant_refund"},
             absent={"TB9"}, extra={"refund_on_dispatch": True}),
    # --- merchant rules on top of presets ----------------------------------------------------------------------
    Scenario("merchant 15-day window, day 12", "longer", sh(13), {}, True, {"M.window"}, absent={"CN1"},
             window_end=end(16)),
    Scenario("window counted from order, 30 days", "from-order", sh(29), {"signed_at": sh(5, 10)}, True,
             {"M.window"}, window_end=end(31)),
    Scenario("order-based window never undercuts CN1", "from-order-short", sh(15), {"signed_at": sh(9, 10)}, True,
             {"CN1"}, absent={"M.window"}, window_end=end(16)),
    Scenario("final sale with the CN3 confirmation", "rules", sh(3),
             {"tags": frozenset({"clearance"}), "confirmed_at_purchase": True}, False,
             {"final-sale-clearance", "CN3"}),
    Scenario("final sale without confirmation does not hold", "rules", sh(3), {"tags": frozenset({"clearance"})},
             True, {"CN3.unconfirmed", "CN1"}, absent={"final-sale-clearance"}),
    Scenario("restocking fee 10%", "rules", sh(3), {}, True, {"M.restocking_fee"},
             deductions={"restocking_fee": Decimal("19.90")}, extra={"refundable": Decimal("179.10")}),
    Scenario("restocking fee by category rule 20%", "rules", sh(3),
             {"category": Category("electronics"), "unit_price": Decimal("250.00")}, True, {"fee-electronics"},
             absent={"M.restocking_fee"}, deductions={"restocking_fee": Decimal("50.00")}),
    Scenario("no restocking fee on a defect", "rules", sh(3), DEFECT, True, {"CN7"}, deductions={}),
    Scenario("keep-the-item under CNY 30", "rules", sh(3), {"tags": frozenset({"socks"}), "unit_price": Decimal("19.00")},
             True, {"keep-socks"}, returns=False, payer=Payer.NONE),
    Scenario("keep-the-item does not apply above its value", "rules", sh(3),
             {"tags": frozenset({"socks"}), "unit_price": Decimal("39.00")}, True, {"CN6"}, absent={"keep-socks"},
             returns=True),
    Scenario("green returns for a low-value defect", "green", sh(11), dict(DEFECT, unit_price=Decimal("45.00")),
             True, {"M.keep_item", "CN7"}, returns=False, payer=Payer.NONE),
    Scenario("VIP tag: 30-day window", "rules", sh(25), {"tags": frozenset({"vip"})}, True, {"vip-window"},
             window_end=end(31)),
    Scenario("holiday window: ordered 20 Nov, return 10 Jan", "rules", datetime(2027, 1, 10, 12, tzinfo=SH),
             {"ordered_at": sh(20, month=11), "shipped_at": sh(21, month=11), "signed_at": sh(23, month=11),
              "delivered_at": sh(23, month=11)}, True, {"holiday-2026"}, window_end=end(15, 1, 2027)),
    Scenario("holiday window ignores orders outside it", "rules", datetime(2027, 1, 10, 12, tzinfo=SH),
             {"ordered_at": sh(10, month=11), "shipped_at": sh(11, month=11), "signed_at": sh(13, month=11),
              "delivered_at": sh(13, month=11)}, False, {"CN1"}, absent={"holiday-2026"}),
    Scenario("blocked customer: an agent looks", "rules", sh(3), {"customer": Customer("bad-1")}, True,
             {"M.block_customer"}, route=Route.AGENT),
    Scenario("blocked SKU: an agent looks", "rules", sh(3), {"sku": "SKU-BLOCKED"}, True, {"M.block_sku"},
             route=Route.AGENT),
    Scenario("allow-listed customer auto-approved above the limit", "rules", sh(3),
             {"customer": Customer("vip-1"), "unit_price": Decimal("800.00")}, True, {"M.allow"}, route=Route.AUTO),
    Scenario("jewellery needs a supervisor", "rules", sh(3), {"category": JEWEL}, True, {"M.approval.category"},
             route=Route.SUPERVISOR),
    Scenario("taobao clocks still apply under merchant rules", "rules", sh(1, 10), UNSHIPPED, True, {"TB1"},
             deadlines={"merchant_response": ("TB1", sh(2, 10))}),
    Scenario("EU merchant: personalised final sale (EU8)", "eu-shop", bx(3),
             dict(EU_LINE, tags=frozenset({"personalised"})), False, {"made-to-measure", "EU8"}),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(case: Scenario) -> None:
    decision = decide(policy(case.policy), line(**case.request), case.now)
    cited = set(decision.rule_ids)
    assert decision.eligible is case.eligible
    assert case.rules <= cited, f"missing {case.rules - cited}; cited {sorted(cited)}"
    assert not (case.absent & cited), f"unexpected {case.absent & cited}"
    if case.outcomes is not None:
        assert set(decision.outcomes) == case.outcomes
    if case.payer is not None:
        assert decision.shipping_payer is case.payer
    if case.returns is not None:
        assert decision.return_required is case.returns
    if case.route is not None:
        assert decision.route is case.route
    if case.window_end is not None:
        window = decision.deadline("customer_window")
        assert window is not None and window.at == case.window_end
    for kind, (rule, expected) in case.deadlines.items():
        deadline = decision.deadline(kind)
        assert deadline is not None and deadline.rule == rule, (kind, deadline)
        if isinstance(expected, Anchor):
            assert deadline.anchor is expected and deadline.at is None
        else:
            assert deadline.at == expected
    if case.deductions is not None:
        assert {d.kind: d.amount for d in decision.deductions} == case.deductions
    for key, expected in case.extra.items():
        if key == "appeal_days":
            assert decision.deadline("customer_appeal").period == timedelta(days=expected)
        else:
            assert getattr(decision, key) == expected, key
    for reason in decision.reasons:
        assert reason.source and reason.zh and reason.en and "{" not in reason.zh + reason.en, reason


def test_there_are_at_least_sixty_scenarios_over_every_preset() -> None:
    assert len(SCENARIOS) >= 60
    assert {"cn-law", "taobao-current", "taobao-legacy", "jd-pop", "eu-crd", "uk-ccr"} <= {s.policy for s in SCENARIOS}


def test_merchant_paying_no_reason_shipping_cites_its_own_setting() -> None:
    from returnflow.policy import load_policy
    shop = load_policy('[policy]\nid = "free-returns"\nextends = "cn-law"\n[shipping]\nno_reason_payer = "merchant"\n')
    decision = decide(shop, line(shipping_insurance=True), sh(3))
    assert decision.shipping_payer is Payer.MERCHANT and not decision.insurance_covers
    assert "M.shipping" in decision.rule_ids and "CN6" not in decision.rule_ids
    assert "商家" in decision.reasons[decision.rule_ids.index("M.shipping")].zh
