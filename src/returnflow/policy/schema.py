"""What a policy file may say: every section and field, its type and its allowed values, with line lookup."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..money import is_currency
from .errors import PolicyError

Check = Callable[[Any], Any]  # returns the normalised value or raises ValueError((en, zh))


def _fail(en: str, zh: str) -> ValueError:
    return ValueError((en, zh))


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"must be a whole number, got {value!r}", f"必须是整数，实际为 {value!r}")
    if value < 0:
        raise _fail(f"must not be negative, got {value}", f"不能为负数，实际为 {value}")
    return value


def amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _fail(f"must be an amount, got {value!r}", f"必须是金额，实际为 {value!r}")
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise _fail(f"not a number: {value!r}", f"不是数字：{value!r}") from None
    if not result.is_finite() or result < 0:
        raise _fail(f"must be a non-negative amount, got {value}", f"必须是非负金额，实际为 {value}")
    return result


def percent(value: Any) -> Decimal:
    result = amount(value)
    if result > 100:
        raise _fail(f"a percentage must be between 0 and 100, got {value}", f"百分比必须在 0 到 100 之间，实际为 {value}")
    return result


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"must be true or false, got {value!r}", f"必须是 true 或 false，实际为 {value!r}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"must be a non-empty string, got {value!r}", f"必须是非空字符串，实际为 {value!r}")
    return value


def strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail("must be a list of strings", "必须是字符串列表")
    return tuple(value)


CONDITIONS = ("unopened", "opened", "used")


def conditions(value: Any) -> tuple[str, ...]:
    found = strings(value)
    wrong = [v for v in found if v not in CONDITIONS]
    if wrong:
        raise _fail(f"conditions are {', '.join(CONDITIONS)}; got {wrong[0]!r}",
                    f"状况只能是 {'、'.join(CONDITIONS)}；实际为 {wrong[0]!r}")
    return found


def a_date(value: Any) -> date:
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise _fail(f"must be a date like 2026-11-01, got {value!r}", f"必须是日期（如 2026-11-01），实际为 {value!r}")
    return value


def one_of(*allowed: str) -> Check:
    def check(value: Any) -> str:
        if value not in allowed:
            raise _fail(f"must be one of {', '.join(allowed)}, got {value!r}",
                        f"必须是 {'、'.join(allowed)} 之一，实际为 {value!r}")
        return value
    return check


def timezone(value: Any) -> str:
    try:
        ZoneInfo(text(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"unknown timezone {value!r}", f"未知时区 {value!r}") from None
    return value


def currency(value: Any) -> str:
    if not isinstance(value, str) or not is_currency(value):
        raise _fail(f"unknown currency {value!r}", f"未知币种 {value!r}")
    return value


def rule_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}", value):
        raise _fail(f"a rule id is 1-40 letters, digits, '.', '-' or '_', got {value!r}",
                    f"规则编号须为 1-40 个字母、数字或 . - _，实际为 {value!r}")
    return value


CLOCK_NAMES = ("unshipped_refund", "in_transit_refund", "shipped_response", "virtual_response", "customer_ship",
               "receipt_confirmation", "refund", "appeal", "price_protection", "repair")
ANCHORS = ("request", "agreement", "return_dispatched", "return_received", "rejection", "repair_start", "order")
CLOCK = {"hours": non_negative_int, "days": non_negative_int, "rule": rule_id, "from": one_of(*ANCHORS)}
COUNTED_FROM = ("order", "shipment", "delivery", "signing")

SECTIONS: dict[str, dict[str, Check]] = {
    "policy": {"id": rule_id, "name": text, "extends": rule_id, "timezone": timezone, "currency": currency},
    "window": {"days": non_negative_int, "counted_from": one_of(*COUNTED_FROM), "rule": rule_id,
               "no_reason_exchange": boolean, "missing_info_extension_months": non_negative_int,
               "extend_to_business_day": boolean},
    "defect": {"refund_days": non_negative_int, "exchange_days": non_negative_int, "rule": rule_id},
    "shipping": {"no_reason_payer": one_of("customer", "merchant"), "deduct_free_shipping": boolean,
                 "insurance_covers": boolean},
    "fees": {"restocking_percent": percent},
    "keep_item": {"max_amount": amount},
    "approval": {"auto_max_amount": amount, "supervisor_above_amount": amount, "supervisor_categories": strings,
                 "high_risk": one_of("agent", "supervisor"), "blocked": one_of("agent", "supervisor")},
    "instant_refund": {"max_amount": amount, "rule": rule_id, "refused_methods": strings,
                       "max_recent_refunds": non_negative_int, "refusal_rule": rule_id},
    "lists": {"allow_customers": strings, "block_customers": strings, "allow_skus": strings, "block_skus": strings},
}
PRESET_SECTIONS: dict[str, dict[str, Check]] = {
    "law": {"family": one_of("cn", "eu", "none"), "min_window_days": non_negative_int, "no_fees": boolean,
            "final_sale_bases": strings},
}
RULE_KINDS = ("final_sale", "window", "holiday_window", "restocking_fee", "keep_item")
RULE_FIELDS: dict[str, Check] = {
    "id": rule_id, "kind": one_of(*RULE_KINDS), "skus": strings, "tags": strings, "categories": strings,
    "basis": rule_id, "ordered_from": a_date, "ordered_to": a_date, "return_until": a_date,
    "days": non_negative_int, "percent": percent, "max_amount": amount, "zh": text, "en": text,
    "conditions": conditions, "grades": strings,
}
CITATION_FIELDS: dict[str, Check] = {"source": text, "zh": text, "en": text}

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"']+)\s*=")


def line_map(source_text: str) -> dict[str, int]:
    """Where each field is written: 'window.days' -> 12, 'rules[1].kind' -> 30 (TOML keeps no positions)."""
    lines: dict[str, int] = {}
    prefix = ""
    counters: dict[str, int] = {}
    for number, raw in enumerate(source_text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            name = header.group(2).replace('"', "").replace(" ", "")
            if header.group(1) == "[[":
                index = counters.get(name, -1) + 1
                counters[name] = index
                prefix = f"{name}[{index}]"
            else:
                prefix = name
            lines.setdefault(prefix, number)
            continue
        key = _KEY.match(raw)
        if key:
            path = f"{prefix}.{key.group(1).strip(chr(34))}" if prefix else key.group(1).strip('"')
            lines.setdefault(path, number)
    return lines


def locate(lines: dict[str, int], path: str) -> int | None:
    """The line of `path`, or of its nearest written parent."""
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return None


def validate(data: dict[str, Any], lines: dict[str, int], *, source: str, preset: bool) -> dict[str, Any]:
    """Checks every field of one parsed file and returns it normalised; raises PolicyError at the first fault."""

    def error(path: str, en: str, zh: str) -> PolicyError:
        return PolicyError(path, locate(lines, path), en, zh, source=source)

    def checked(path: str, check: Check, value: Any) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            en, zh = exc.args[0] if isinstance(exc.args[0], tuple) else (str(exc), str(exc))
            raise error(path, en, zh) from None

    sections = dict(SECTIONS, **PRESET_SECTIONS) if preset else SECTIONS
    out: dict[str, Any] = {}
    for name, body in data.items():
        if name == "rules":
            if not isinstance(body, list):
                raise error("rules", "rules must be written as [[rules]] tables", "rules 必须写成 [[rules]] 表")
            out["rules"] = [_rule(i, r, checked, error, source, lines) for i, r in enumerate(body)]
        elif name == "clocks":
            out["clocks"] = {}
            for clock, spec in _table(body, "clocks", error).items():
                path = f"clocks.{clock}"
                if clock not in CLOCK_NAMES:
                    raise error(path, f"unknown clock; allowed: {', '.join(CLOCK_NAMES)}",
                                f"未知时钟；可用：{'、'.join(CLOCK_NAMES)}")
                spec = _fields(_table(spec, path, error), path, CLOCK, checked, error)
                if not preset and not str(spec.get("rule", "M.")).startswith("M."):
                    raise error(f"{path}.rule", "a merchant clock cites a merchant rule id starting with 'M.'; "
                                "statutory and platform ids belong to presets",
                                "商家时钟须引用以 'M.' 开头的商家规则编号；法律和平台编号只属于预设")
                if ("hours" in spec) == ("days" in spec):
                    raise error(path, "give exactly one of hours or days", "hours 与 days 须且只能写一个")
                out["clocks"][clock] = spec
        elif name == "citations" and preset:
            out["citations"] = {rid: _fields(_table(spec, f"citations.{rid}", error), f"citations.{rid}",
                                             CITATION_FIELDS, checked, error)
                                for rid, spec in _table(body, "citations", error).items()}
        elif name in sections:
            out[name] = _fields(_table(body, name, error), name, sections[name], checked, error)
            if name == "window" and "rule" in out[name] and not preset:
                raise error("window.rule", "only presets name the statutory rule of the window",
                            "只有预设可以指定退货期限所依据的法定规则")
        else:
            allowed = sorted(set(sections) | {"rules", "clocks"} | ({"citations"} if preset else set()))
            raise error(name, f"unknown section; allowed: {', '.join(allowed)}", f"未知配置段；可用：{'、'.join(allowed)}")
    return out


def _table(value: Any, path: str, error: Callable[..., PolicyError]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error(path, "must be a table", "必须是表（table）")
    return value


def _fields(body: dict[str, Any], path: str, spec: dict[str, Check], checked: Callable[..., Any],
            error: Callable[..., PolicyError]) -> dict[str, Any]:
    out = {}
    for key, value in body.items():
        if key not in spec:
            raise error(f"{path}.{key}", f"unknown field; allowed: {', '.join(spec)}", f"未知字段；可用：{'、'.join(spec)}")
        out[key] = checked(f"{path}.{key}", spec[key], value)
    return out


def _rule(index: int, body: Any, checked: Callable[..., Any], error: Callable[..., PolicyError], source: str,
          lines: dict[str, int]) -> dict[str, Any]:
    path = f"rules[{index}]"
    rule = _fields(_table(body, path, error), path, RULE_FIELDS, checked, error)
    for required in ("id", "kind"):
        if required not in rule:
            raise error(path, f"a rule needs {required!r}", f"规则缺少 {required!r}")
    kind = rule["kind"]
    needs = {"window": ("days",), "holiday_window": ("ordered_from", "ordered_to", "return_until"),
             "restocking_fee": ("percent",), "keep_item": ("max_amount",)}.get(kind, ())
    for required in needs:
        if required not in rule:
            raise error(f"{path}.{required}", f"a {kind} rule needs {required!r}", f"{kind} 规则缺少 {required!r}")
    if kind == "holiday_window" and not rule["ordered_from"] <= rule["ordered_to"] <= rule["return_until"]:
        raise error(f"{path}.ordered_to", "need ordered_from <= ordered_to <= return_until",
                    "须满足 ordered_from <= ordered_to <= return_until")
    rule["_where"] = (source, locate(lines, path), path)
    rule["_at"] = {key: lines.get(f"{path}.{key}") for key in list(rule) if not key.startswith("_")}
    return rule
