"""Loading policy files: a preset chain plus the merchant's file, validated, merged and compiled, or refused whole."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..i18n import N_, gettext
from .errors import PolicyError, listed
from .schema import line_map, locate, validate

PRESETS = ("cn-law", "taobao-legacy", "taobao-current", "jd-pop", "eu-crd", "uk-ccr", "merchant-rules")
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


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset."""
    return resources.files(__package__).joinpath("presets", f"{name}.toml").read_text(encoding="utf-8")


def load_preset(name: str) -> Policy:
    """A shipped preset on its own."""
    return _resolve(name, preset_text(name), True, None)


def load_policy_file(path: str | Path, *, sources: Mapping[str, str] | None = None) -> Policy:
    """A merchant policy file from disk."""
    path = Path(path)
    return load_policy(path.read_text(encoding="utf-8"), source=path.name, sources=sources)


def load_policy(text: str, *, source: str = "policy.toml", sources: Mapping[str, str] | None = None) -> Policy:
    """A merchant policy from TOML text; `extends` names a preset or another file in `sources`."""
    return _resolve(source, text, False, sources)


def _resolve(source: str, text: str, preset: bool, sources: Mapping[str, str] | None) -> Policy:
    """Follows `extends` to the root, refusing unknown parents and cycles, then builds root-first."""
    chain: list[tuple[str, str, bool]] = [(source, text, preset)]
    parsed = _parse(source, text, preset=preset)
    seen = [parsed[0].get("policy", {}).get("id", source)]
    while True:
        data, lines, name = parsed[0], parsed[1], chain[-1][0]
        parent = data.get("policy", {}).get("extends")
        if parent is None:
            break
        if parent in seen:
            cycle = " -> ".join([*seen, parent])
            raise PolicyError("policy.extends", locate(lines, "policy.extends"), N_("extends cycle: {cycle}"),
                              source=name, cycle=cycle)
        if sources and parent in sources:
            item = (parent, sources[parent], False)
        elif parent in PRESETS:
            item = (parent, preset_text(parent), True)
        else:
            raise PolicyError("policy.extends", locate(lines, "policy.extends"),
                              N_("unknown policy '{parent}'; presets: {presets}"), source=name, parent=parent,
                              presets=listed(PRESETS))
        chain.append(item)
        seen.append(parent)
        parsed = _parse(item[0], item[1], preset=item[2])
    return _build(list(reversed(chain)))


MAX_DEPTH = 16  # tables and arrays inside each other; the schema itself goes 4 deep


def _check_depth(data: Any) -> None:
    """Raises RecursionError for nesting deeper than MAX_DEPTH (tomllib itself may raise it first)."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise RecursionError
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def _parse(source: str, text: str, *, preset: bool) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        data = tomllib.loads(text, parse_float=Decimal)
        _check_depth(data)
    except RecursionError:
        raise PolicyError("(syntax)", None, N_("nests tables or arrays more than {depth} deep"), source=source,
                          depth=MAX_DEPTH) from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            import re
            found = re.search(r"line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
        raise PolicyError("(syntax)", line, N_("not valid TOML: {problem}"), source=source, problem=str(exc)) from None
    lines = line_map(text)
    return validate(data, lines, source=source, preset=preset), lines


def _build(chain: list[tuple[str, str, bool]]) -> Policy:
    """Merges root-first: later files override settings, add rules and list entries."""
    merged: dict[str, Any] = {"rules": [], "clocks": {}, "citations": {}}
    origin: dict[str, tuple[str, int | None]] = {}
    ids: list[str] = []
    for name, text, preset in chain:
        data, lines = _parse(name, text, preset=preset)
        ids.append(data.get("policy", {}).get("id", name))
        for section, body in data.items():
            if section == "rules":
                merged["rules"].extend(body)
            elif section == "clocks":
                for clock, spec in body.items():
                    _check_statutory_clock(merged["clocks"].get(clock), spec, name, locate(lines, f"clocks.{clock}"),
                                           f"clocks.{clock}")
                    merged["clocks"][clock] = spec
            elif section == "citations":
                merged[section].update(body)
            elif section == "lists":
                target = merged.setdefault("lists", {})
                for key, values in body.items():
                    target[key] = tuple(target.get(key, ())) + tuple(values)
                    origin[f"lists.{key}"] = (name, locate(lines, f"lists.{key}"))
            else:
                merged.setdefault(section, {}).update(body)
                for key in body:
                    origin[f"{section}.{key}"] = (name, locate(lines, f"{section}.{key}"))
    warnings = _check_conflicts(merged, origin)
    return _compile(merged, tuple(ids), warnings)


def _period(spec: dict[str, Any]) -> timedelta:
    return timedelta(hours=spec["hours"]) if "hours" in spec else timedelta(days=spec["days"])


def _check_statutory_clock(before: dict[str, Any] | None, after: dict[str, Any], source: str, line: int | None,
                           path: str) -> None:
    """A clock the law sets (CN8, EU4, ...) is a maximum: a later file may shorten it, never lengthen it."""
    if before is None or not before.get("rule", "").startswith(("CN", "EU")):
        return
    if _period(after) > _period(before):
        raise PolicyError(path, line, N_("{rule} allows at most {period}; a policy may only be faster"), source=source,
                          rule=before["rule"], period=str(_period(before)))


def _conflict(origin: dict[str, tuple[str, int | None]], path: str, text: str, **values: Any) -> PolicyError:
    source, line = origin.get(path, ("policy", None))
    return PolicyError(path, line, text, source=source, **values)


def _check_conflicts(merged: dict[str, Any], origin: dict[str, tuple[str, int | None]]) -> tuple[PolicyWarning, ...]:
    law = merged.get("law", {})
    floor = law.get("min_window_days", 0)
    days = merged.get("window", {}).get("days", 0)
    if days < floor:
        raise _conflict(origin, "window.days", N_("{days} days is shorter than the statutory {floor} days ({rule}); "
                                                  "only longer windows may be set"),
                        days=days, floor=floor, rule=merged.get("window", {}).get("rule", "law"))
    fee = merged.get("fees", {}).get("restocking_percent", Decimal(0))
    if law.get("no_fees") and fee > 0:
        raise _conflict(origin, "fees.restocking_percent", NO_FEES)
    warnings: list[PolicyWarning] = []
    if law.get("family") == "cn" and fee > 0:
        warnings.append(_fee_warning("fees.restocking_percent", origin.get("fees.restocking_percent", ("", None))[1]))
    bases = law.get("final_sale_bases", ())
    seen: dict[str, str] = {}
    for rule in merged["rules"]:
        source, line, path = rule["_where"]
        if rule["id"] in seen:
            raise PolicyError(f"{path}.id", line, N_("rule id '{rule}' is used twice"), source=source, rule=rule["id"])
        seen[rule["id"]] = path
        if rule["kind"] == "final_sale" and law.get("family") in ("cn", "eu") and rule.get("basis") not in bases:
            raise PolicyError(f"{path}.basis", line,
                              N_("sellers may not widen the statutory exclusions; give basis = one of {bases}"),
                              source=source, bases=listed(bases))
        if rule["kind"] == "restocking_fee" and law.get("no_fees"):
            raise PolicyError(f"{path}.kind", line, NO_FEES, source=source)
        if rule["kind"] == "restocking_fee" and law.get("family") == "cn":
            if "opened" in rule.get("conditions", ()):
                raise PolicyError(f"{path}.conditions", rule["_at"].get("conditions") or line,
                                  N_("CN4 allows opening to inspect and reasonable testing: an item only opened is "
                                     "still in good condition, so no fee may depend on it; name \"used\" or "
                                     "\"unopened\""), source=source)
            warnings.append(_fee_warning(f"{path}.percent", rule["_at"].get("percent") or line))
        elif rule.get("conditions") or rule.get("grades"):
            if rule["kind"] != "restocking_fee":
                key = "conditions" if rule.get("conditions") else "grades"
                raise PolicyError(f"{path}.{key}", rule["_at"].get(key) or line,
                                  N_("only a restocking_fee rule can depend on the condition or grade"), source=source)
        if rule["kind"] == "window" and rule["days"] < floor:
            raise PolicyError(f"{path}.days", line, N_("shorter than the statutory {floor} days"), source=source,
                              floor=floor)
    lists = merged.get("lists", {})
    for kind in ("customers", "skus"):
        both = set(lists.get(f"allow_{kind}", ())) & set(lists.get(f"block_{kind}", ()))
        if both:
            raise _conflict(origin, f"lists.block_{kind}", N_("on both the allow and the block list: {names}"),
                            names=str(sorted(both)))
    approval = merged.get("approval", {})
    auto, top = approval.get("auto_max_amount"), approval.get("supervisor_above_amount")
    if auto is not None and top is not None and auto > top:
        raise _conflict(origin, "approval.auto_max_amount", N_("auto-approval limit is above the supervisor limit"))
    return tuple(warnings)


NO_FEES = N_("this law forbids fees on withdrawal (EU4: all payments are refunded, free of charge); loss of value "
             "from handling beyond checking the goods (EU7) is assessed item by item, not as a fixed fee")


def _fee_warning(path: str, line: int | None) -> PolicyWarning:
    """CN: the law lets a no-reason return cost the customer the return shipping (CN6), not a fee; accepted, but
    the shop must have stated the fee to the buyer before the purchase."""
    return PolicyWarning(path, line, "CN6",
                         N_("PRC law lets a no-reason return cost the customer only the return shipping (CN6); a "
                            "restocking fee is not in the law: it holds only if the shop stated it before the "
                            "purchase, and never for an item merely opened to inspect (CN4)"))


def _compile(merged: dict[str, Any], ids: tuple[str, ...], warnings: tuple[PolicyWarning, ...] = ()) -> Policy:
    get = lambda section, key, default: merged.get(section, {}).get(key, default)
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
        freeze = lambda d: {k: tuple(v) for k, v in d.items()}
        index[kind] = RuleIndex(freeze(by_sku), freeze(by_tag), freeze(by_cat), tuple(everywhere))
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
