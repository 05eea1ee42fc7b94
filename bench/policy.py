#!/usr/bin/env python
"""Policy-engine throughput: line decisions per second on one core.

    .venv/bin/python bench/policy.py

Builds a merchant policy extending `taobao-current` (itself on `cn-law`) with enough merchant rules (final-sale,
window, holiday, restocking-fee and keep-the-item rules over SKUs, tags and categories) that preset rules plus
merchant rules make 200, and a 10-line order mixing no-reason returns, defects, exclusions, refunds before
shipping and rule hits. Decides every line of the order repeatedly for RF_BENCH_SECONDS (default 10) in this one
process, checks the decisions did not change between the first and the last round, and prints the rate as its
last line (decisions with their cited rule ids; the zh/en sentences are filled in lazily when read, and a short
second measurement shows the rate when every sentence is rendered as well). Target: 20,000 line decisions/s.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from returnflow.policy import Category, Customer, Gift, LineRequest, decide, load_policy

TARGET = 20_000
RULES = 200
SH = ZoneInfo("Asia/Shanghai")
KINDS = ["window", "holiday_window", "restocking_fee", "keep_item", "final_sale"]


def merchant_file(count: int) -> str:
    """A merchant policy with `count` [[rules]] spread over the rule kinds."""
    parts = [('[policy]\nid = "bench-shop"\nextends = "taobao-current"\n[fees]\nrestocking_percent = 5\n'
             '[approval]\nauto_max_amount = 800\nsupervisor_above_amount = 5000\nsupervisor_categories = ["jewellery"]\n'
             '[lists]\nblock_customers = ["bad-1", "bad-2"]\nallow_customers = ["vip-1"]\nblock_skus = ["SKU-X"]\n')]
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        selector = [f'skus = ["SKU-{i}"]', f'tags = ["tag-{i % 40}"]', f'categories = ["cat-{i % 25}"]'][i % 3]
        body = {"window": f"days = {15 + i % 30}",
                "holiday_window": "ordered_from = 2026-11-15\nordered_to = 2026-12-24\nreturn_until = 2027-01-15",
                "restocking_fee": f"percent = {1 + i % 20}", "keep_item": f"max_amount = {10 + i % 50}",
                "final_sale": 'basis = "CN3"'}[kind]
        parts.append(f'[[rules]]\nid = "r{i}"\nkind = "{kind}"\n{selector}\n{body}\n')
    return "\n".join(parts)


def order() -> list[LineRequest]:
    """Ten lines of one order, each taking a different path through the engine."""
    t = lambda day, hour=12: datetime(2026, 3, day, hour, tzinfo=SH)
    base = {"case_type": "return_refund", "reason_code": "no_reason_7day", "fault": "customer", "currency": "CNY",
            "quantity": 1, "customer": Customer("c-42"), "ordered_at": t(1, 9), "paid_at": t(1, 9),
            "shipped_at": t(1, 12), "delivered_at": t(1, 22), "signed_at": t(1, 23),
            "order_goods_total": Decimal("1290.00"), "free_shipping_threshold": Decimal("99.00"),
            "shipping_paid_by_merchant": Decimal("12.00")}
    lines = [
        {"category": Category("cat-3"), "sku": "SKU-1", "unit_price": Decimal("199.00"), "tags": frozenset({"tag-7"})},
        {"category": Category("apparel"), "sku": "SKU-2", "unit_price": Decimal("89.90"), "shipping_insurance": True},
        {"category": Category("phone", sanbao=True, warranty_months=12), "sku": "SKU-3", "unit_price": Decimal("2999.00"),
         "reason_code": "quality_issue", "fault": "merchant"},
        {"category": Category("custom", custom_made=True), "sku": "SKU-4", "unit_price": Decimal("350.00")},
        {"category": Category("cat-11"), "sku": "SKU-5", "unit_price": Decimal("25.00"), "tags": frozenset({"tag-13"})},
        {"category": Category("cosmetics", one_time_seal=True), "sku": "SKU-6", "unit_price": Decimal("129.00"),
         "opened": True},
        {"category": Category("tryable", needs_confirmation=True), "sku": "SKU-9", "unit_price": Decimal("499.00"),
         "confirmed_at_purchase": True, "tags": frozenset({"tag-4"})},
        {"category": Category("apparel"), "sku": "SKU-8", "unit_price": Decimal("159.00"), "case_type": "refund_only",
         "reason_code": "changed_mind", "shipped_at": None, "delivered_at": None, "signed_at": None},
        {"category": Category("jewellery"), "sku": "SKU-X", "unit_price": Decimal("5200.00"),
         "gifts": (Gift("GIFT-1", Decimal("39.00"), returned=False),)},
        {"category": Category("electronics", warranty_months=24), "sku": "SKU-10", "unit_price": Decimal("799.00"),
         "reason_code": "defect_after_use", "fault": "merchant", "customer": Customer("c-7", risk="high")},
    ]
    return [LineRequest(**{**base, **extra}) for extra in lines]  # type: ignore[arg-type]


def main() -> int:
    seconds = float(os.environ.get("RF_BENCH_SECONDS", "10"))
    preset_only = load_policy('[policy]\nid = "probe"\nextends = "taobao-current"\n')
    preset_rules = len(preset_only.citations)
    policy = load_policy(merchant_file(RULES - preset_rules))
    total_rules = len(policy.rules) + len(policy.citations)
    lines = order()
    now = datetime(2026, 3, 6, 15, tzinfo=SH)
    first = [decide(policy, request, now) for request in lines]
    print(f"policy {policy.id}: {preset_rules} preset rules + {len(policy.rules)} merchant rules = {total_rules}; "
          f"10-line order: {sum(d.eligible for d in first)} eligible, routes "
          f"{sorted(d.route.value for d in first)}")
    decided = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for request in lines:
            decide(policy, request, now)
        decided += len(lines)
        if decided % 1000 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - started
    last = [decide(policy, request, now) for request in lines]
    if last != first:
        print("FAIL: decisions changed between rounds")
        return 1
    rate = decided / elapsed
    print(f"{decided:,} line decisions in {elapsed:.1f} s")
    # the zh/en sentences are filled in when read; show what an agent screen reading all of them costs too
    rendered, started = 0, time.perf_counter()
    while time.perf_counter() - started < min(2.0, seconds / 5):
        for request in lines:
            for reason in decide(policy, request, now).reasons:
                reason.zh, reason.en  # noqa: B018
        rendered += len(lines)
    print(f"with every zh/en sentence rendered: {rendered / (time.perf_counter() - started):,.0f} line decisions/s")
    print(f"policy: {rate:,.0f} line decisions/s (10-line order, {total_rules} rules); target {TARGET:,}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
