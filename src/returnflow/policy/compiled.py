"""A compiled policy: what the engine reads (the Policy, its merchant rules indexed by kind, its clocks and the
warnings it was accepted with), built from the merged files by compile_merged; policy/loader.py reads and merges
them, policy/conflicts.py refuses what the law does not allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..i18n import gettext

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class MerchantRule:
    id: str
    kind: str
    order: int  # position in the merged policy; the first matching rule wins
    skus: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    basis: str | None = None
    ordered_from: date | None = None
    ordered_to: date | None = None
    return_until: date | None = None
    days: int = 0
    percent: Decimal = Decimal(0)
    max_amount: Decimal = Decimal(0)
    zh: str = ""
    en: str = ""
    text: tuple[tuple[str, str], ...] = ()  # the merchant's sentence by language ({language: text} in the file)
    conditions: frozenset[str] = frozenset()  # restocking_fee: unopened | opened | used (none: any)
    grades: frozenset[str] = frozenset()  # restocking_fee: inspection grades (none: any)

    def wording(self) -> dict[str, str]:
        """The merchant's own sentence by language: its `text` table, with the older `en` / `zh` keys (zh is
        zh-CN) where the table does not say."""
        old = {tag: said for tag, said in (("en", self.en), ("zh-CN", self.zh)) if said}
        return old | dict(self.text)

    def fits(self, condition: str, grade: str | None) -> bool:
        """Whether the line's condition and grade are among the rule's (a rule naming none takes any)."""
        return (not self.conditions or condition in self.conditions) and (not self.grades or grade in self.grades)

    @property
    def selective(self) -> bool:
        return bool(self.skus or self.tags or self.categories)


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """Merchant rules of one kind, indexed by SKU, tag and category so 200 rules cost a few dict look-ups."""

    by_sku: dict[str, tuple[MerchantRule, ...]] = field(default_factory=dict)
    by_tag: dict[str, tuple[MerchantRule, ...]] = field(default_factory=dict)
    by_category: dict[str, tuple[MerchantRule, ...]] = field(default_factory=dict)
    everywhere: tuple[MerchantRule, ...] = ()

    def matching(self, sku: str, tags: frozenset[str], category: str) -> list[MerchantRule]:
        """Rules that select this line, in policy order."""
        found = list(self.everywhere)
        found.extend(self.by_sku.get(sku, ()))
        found.extend(self.by_category.get(category, ()))
        for tag in tags:
            found.extend(self.by_tag.get(tag, ()))
        if len(found) > 1:
            found = sorted(set(found), key=lambda r: r.order)
        return found


@dataclass(frozen=True, slots=True)
class PolicyWarning:
    """Accepted, but the law has something to say about it: shown when the policy is saved."""

    field: str
    line: int | None
    rule: str
    text: str  # an English msgid of the catalogs

    def said(self, locale: str) -> str:
        return gettext(locale, self.text)

    @property
    def en(self) -> str:
        return self.text

    @property
    def zh(self) -> str:
        """In zh-CN, for readers not yet converted (use said(locale))."""
        return self.said("zh-CN")


@dataclass(frozen=True, slots=True)
class Clock:
    period: timedelta
    rule: str
    anchor: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled policy: the preset chain with the merchant's settings and rules on top."""

    id: str
    name: str
    chain: tuple[str, ...]
    timezone: ZoneInfo
    currency: str
    law: str  # cn | eu | none
    window_days: int
    window_rule: str
    counted_from: str
    statutory_days: int
    no_reason_exchange: bool
    missing_info_months: int
    defect_refund_days: int
    defect_exchange_days: int
    no_reason_payer: str
    deduct_free_shipping: bool
    insurance_covers: bool
    restocking_percent: Decimal
    keep_item_max: Decimal | None
    auto_max: Decimal
    supervisor_above: Decimal | None
    supervisor_categories: frozenset[str]
    high_risk_route: str
    blocked_route: str
    instant_refund_max: Decimal | None
    instant_refund_rule: str
    instant_refused_methods: frozenset[str]  # TB9: red packets, coins, instalments ...
    instant_max_recent_refunds: int | None  # TB9: the buyer's refunds in the last 90 days
    instant_refusal_rule: str
    defect_rule: str  # CN7, UK2, or M.defect
    clocks: dict[str, Clock]
    allow_customers: frozenset[str]
    block_customers: frozenset[str]
    allow_skus: frozenset[str]
    block_skus: frozenset[str]
    rules: tuple[MerchantRule, ...]
    index: dict[str, RuleIndex]
    citations: dict[str, tuple[str, str, str]]  # id -> (source, zh template, en template)
    extend_to_business_day: bool = False  # a window ending on a non-working day runs to the next working day
    warnings: tuple[PolicyWarning, ...] = ()


def compile_merged(merged: dict[str, Any], ids: tuple[str, ...], warnings: tuple[PolicyWarning, ...] = ()) -> Policy:
    """The Policy the engine reads, from the merged files (`ids`: the chain, root first)."""

    def get(section: str, key: str, default: Any) -> Any:
        return merged.get(section, {}).get(key, default)

    rules = []
    for order, raw in enumerate(merged["rules"]):
        values = {k: v for k, v in raw.items() if not k.startswith("_")}
        for key in ("skus", "tags", "categories", "conditions", "grades"):
            values[key] = frozenset(values.get(key, ()))
        rules.append(MerchantRule(order=order, **values))
    index = {}
    for kind in ("final_sale", "window", "holiday_window", "restocking_fee", "keep_item"):
        by_sku: dict[str, list[MerchantRule]] = {}
        by_tag: dict[str, list[MerchantRule]] = {}
        by_cat: dict[str, list[MerchantRule]] = {}
        everywhere = []
        for rule in (r for r in rules if r.kind == kind):
            if not rule.selective:
                everywhere.append(rule)
            for sku in rule.skus:
                by_sku.setdefault(sku, []).append(rule)
            for tag in rule.tags:
                by_tag.setdefault(tag, []).append(rule)
            for cat in rule.categories:
                by_cat.setdefault(cat, []).append(rule)
        index[kind] = RuleIndex(_frozen(by_sku), _frozen(by_tag), _frozen(by_cat), tuple(everywhere))
    clocks = {name: Clock(timedelta(hours=spec["hours"]) if "hours" in spec else timedelta(days=spec["days"]),
                          spec.get("rule", f"M.{name}"), spec.get("from")) for name, spec in merged["clocks"].items()}
    keep = get("keep_item", "max_amount", None)
    return Policy(
        id=ids[-1], name=get("policy", "name", ids[-1]), chain=ids,
        timezone=ZoneInfo(get("policy", "timezone", DEFAULT_TIMEZONE)), currency=get("policy", "currency", "CNY"),
        law=get("law", "family", "none"), window_days=get("window", "days", 0),
        window_rule=get("window", "rule", "M.window"), counted_from=get("window", "counted_from", "signing"),
        statutory_days=get("law", "min_window_days", 0), no_reason_exchange=get("window", "no_reason_exchange", True),
        missing_info_months=get("window", "missing_info_extension_months", 0),
        defect_refund_days=get("defect", "refund_days", 7), defect_exchange_days=get("defect", "exchange_days", 15),
        no_reason_payer=get("shipping", "no_reason_payer", "customer"),
        deduct_free_shipping=get("shipping", "deduct_free_shipping", False),
        insurance_covers=get("shipping", "insurance_covers", True),
        restocking_percent=get("fees", "restocking_percent", Decimal(0)), keep_item_max=keep,
        auto_max=get("approval", "auto_max_amount", Decimal(0)),
        supervisor_above=get("approval", "supervisor_above_amount", None),
        supervisor_categories=frozenset(get("approval", "supervisor_categories", ())),
        high_risk_route=get("approval", "high_risk", "agent"), blocked_route=get("approval", "blocked", "agent"),
        instant_refund_max=get("instant_refund", "max_amount", None),
        instant_refund_rule=get("instant_refund", "rule", "M.instant_refund"), clocks=clocks,
        instant_refused_methods=frozenset(get("instant_refund", "refused_methods", ())),
        instant_max_recent_refunds=get("instant_refund", "max_recent_refunds", None),
        instant_refusal_rule=get("instant_refund", "refusal_rule", "M.instant_refund.refused"),
        defect_rule=get("defect", "rule", "CN7" if get("law", "family", "none") == "cn" else "M.defect"),
        allow_customers=frozenset(get("lists", "allow_customers", ())),
        block_customers=frozenset(get("lists", "block_customers", ())),
        allow_skus=frozenset(get("lists", "allow_skus", ())), block_skus=frozenset(get("lists", "block_skus", ())),
        rules=tuple(rules), index=index,
        citations={rid: (c["source"], c["zh"], c["en"]) for rid, c in merged["citations"].items()},
        extend_to_business_day=get("window", "extend_to_business_day", False), warnings=warnings,
    )


def _frozen(by_key: dict[str, list[MerchantRule]]) -> dict[str, tuple[MerchantRule, ...]]:
    return {k: tuple(v) for k, v in by_key.items()}

