"""Building requested lines and policies for the policy tests: one readable default, overridden per scenario."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from returnflow.policy import (
    PRESETS,
    Category,
    Customer,
    LineRequest,
    Policy,
    load_policy,
    load_preset,
)

SH = ZoneInfo("Asia/Shanghai")
BXL = ZoneInfo("Europe/Brussels")
LON = ZoneInfo("Europe/London")
UTC = ZoneInfo("UTC")
APPAREL = Category("apparel", checklist=("tags attached", "not soiled or damaged"))
DEFECT = {"reason_code": "quality_issue", "fault": "merchant"}

# merchant files used by the scenarios: each extends a preset and adds its own rules
MERCHANT_FILES: dict[str, str] = {
    "longer": """
[policy]
id = "shop-longer"
extends = "cn-law"
[window]
days = 15
""",
    "from-order": """
[policy]
id = "shop-from-order"
extends = "cn-law"
[window]
days = 30
counted_from = "order"
""",
    "from-order-short": """
[policy]
id = "shop-from-order-short"
extends = "cn-law"
[window]
days = 10
counted_from = "order"
""",
    "rules": """
[policy]
id = "shop-rules"
extends = "taobao-current"

[fees]
restocking_percent = 10

[approval]
auto_max_amount = 300
supervisor_above_amount = 2000
supervisor_categories = ["jewellery"]

[lists]
block_customers = ["bad-1"]
allow_customers = ["vip-1"]
block_skus = ["SKU-BLOCKED"]

[[rules]]
id = "final-sale-clearance"
kind = "final_sale"
tags = ["clearance"]
basis = "CN3"
zh = "清仓商品，下单时已确认不支持七天无理由退货。"
en = "Clearance item: you confirmed at checkout it cannot be returned without a reason."

[[rules]]
id = "vip-window"
kind = "window"
tags = ["vip"]
days = 30

[[rules]]
id = "holiday-2026"
kind = "holiday_window"
ordered_from = 2026-11-15
ordered_to = 2026-12-24
return_until = 2027-01-15

[[rules]]
id = "fee-electronics"
kind = "restocking_fee"
categories = ["electronics"]
percent = 20

[[rules]]
id = "keep-socks"
kind = "keep_item"
tags = ["socks"]
max_amount = 30
""",
    "green": """
[policy]
id = "shop-green"
extends = "cn-law"
[keep_item]
max_amount = 50
""",
    "tb-instant": """
[policy]
id = "tb-instant"
extends = "taobao-current"
[instant_refund]
max_amount = 1000
""",
    "eu-shop": """
[policy]
id = "eu-shop"
extends = "eu-crd"
[[rules]]
id = "made-to-measure"
kind = "final_sale"
tags = ["personalised"]
basis = "EU8"
""",
}


@cache
def policy(name: str) -> Policy:
    """A shipped preset or one of MERCHANT_FILES, loaded once."""
    if name in PRESETS:
        return load_preset(name)
    return load_policy(MERCHANT_FILES[name], source=f"{name}.toml")


def sh(day: int, hour: int = 12, minute: int = 0, month: int = 3, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def line(**overrides: object) -> LineRequest:
    """A delivered CNY 199.00 apparel line, no-reason return, signed 2026-03-01 23:00 Shanghai time."""
    values: dict[str, object] = {
        "case_type": "return_refund", "reason_code": "no_reason_7day", "fault": "customer", "category": APPAREL, "sku": "SKU-1",
        "currency": "CNY", "unit_price": Decimal("199.00"), "quantity": 1, "customer": Customer("c1"),
        "ordered_at": sh(1, 9), "paid_at": sh(1, 9), "shipped_at": sh(1, 12), "delivered_at": sh(1, 22), "signed_at": sh(1, 23)}
    values.update(overrides)
    return LineRequest(**values)  # type: ignore[arg-type]
