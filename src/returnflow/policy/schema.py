"""What a policy file may say: every section and field, its type and its allowed values, with line lookup."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..i18n import N_
from ..money import is_currency
from .errors import PolicyError, listed

Check = Callable[[Any], Any]  # returns the normalised value or raises ValueError((msgid, {placeholder: value}))


def _fail(text: str, **values: Any) -> ValueError:
    return ValueError((text, values))


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(N_("must be a whole number, got {value}"), value=repr(value))
    if value < 0:
        raise _fail(N_("must not be negative, got {value}"), value=value)
    return value


def amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _fail(N_("must be an amount, got {value}"), value=repr(value))
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise _fail(N_("not a number: {amount}"), amount=repr(value)) from None
    if not result.is_finite() or result < 0:
        raise _fail(N_("must be a non-negative amount, got {value}"), value=value)
    return result


def percent(value: Any) -> Decimal:
    result = amount(value)
    if result > 100:
        raise _fail(N_("a percentage must be between 0 and 100, got {value}"), value=value)
    return result


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(N_("must be true or false, got {value}"), value=repr(value))
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(N_("must be a non-empty string, got {value}"), value=repr(value))
    return value


LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


def wording(value: Any) -> tuple[tuple[str, str], ...]:
    """A merchant's sentence in any languages, as a table {language tag: sentence} (e.g. en, zh-CN, zh-Hant, fr);
    stored as sorted (tag, sentence) pairs."""
    if not isinstance(value, dict) or not value:
        raise _fail(N_("must be a table of sentences by language, such as {{ en = \"...\", zh-Hant = \"...\" }}"))
    for tag, sentence in value.items():
        if not LANGUAGE_TAG.fullmatch(str(tag)):
            raise _fail(N_("'{tag}' is not a language tag such as en, zh-CN or zh-Hant"), tag=tag)
        if not isinstance(sentence, str) or not sentence.strip():
            raise _fail(N_("must be a non-empty string, got {value}"), value=repr(sentence))
    return tuple(sorted((str(tag).replace("_", "-"), sentence) for tag, sentence in value.items()))


def strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(N_("must be a list of strings"))
    return tuple(value)


CONDITIONS = ("unopened", "opened", "used")


def conditions(value: Any) -> tuple[str, ...]:
    found = strings(value)
    wrong = [v for v in found if v not in CONDITIONS]
    if wrong:
        raise _fail(N_("conditions are {conditions}; got {value}"), conditions=listed(CONDITIONS), value=repr(wrong[0]))
    return found


def a_date(value: Any) -> date:
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise _fail(N_("must be a date like 2026-11-01, got {value}"), value=repr(value))
    return value


def one_of(*allowed: str) -> Check:
    def check(value: Any) -> str:
        if value not in allowed:
            raise _fail(N_("must be one of {choices}, got {value}"), choices=listed(allowed), value=repr(value))
        return value
    return check


def timezone(value: Any) -> str:
    try:
        ZoneInfo(text(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(N_("unknown timezone {value}"), value=repr(value)) from None
    return value


def currency(value: Any) -> str:
    if not isinstance(value, str) or not is_currency(value):
        raise _fail(N_("unknown currency {value}"), value=repr(value))
    return value


def rule_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}", value):
        raise _fail(N_("a rule id is 1-40 letters, digits, '.', '-' or '_', got {value}"), value=repr(value))
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
    "days": non_negative_int, "percent": percent, "max_amount": amount, "zh": text, "en": text, "text": wording,
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

    def error(path: str, text: str, **values: Any) -> PolicyError:
        return PolicyError(path, locate(lines, path), text, source=source, **values)

    def checked(path: str, check: Check, value: Any) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            text, values = exc.args[0] if isinstance(exc.args[0], tuple) else (N_("{problem}"), {"problem": str(exc)})
            raise error(path, text, **values) from None

    sections = dict(SECTIONS, **PRESET_SECTIONS) if preset else SECTIONS
    out: dict[str, Any] = {}
    for name, body in data.items():
        if name == "rules":
            if not isinstance(body, list):
                raise error("rules", N_("rules must be written as [[rules]] tables"))
            out["rules"] = [_rule(i, r, checked, error, source, lines) for i, r in enumerate(body)]
        elif name == "clocks":
            out["clocks"] = {}
            for clock, spec in _table(body, "clocks", error).items():
                path = f"clocks.{clock}"
                if clock not in CLOCK_NAMES:
                    raise error(path, N_("unknown clock; allowed: {choices}"), choices=listed(CLOCK_NAMES))
                spec = _fields(_table(spec, path, error), path, CLOCK, checked, error)
                if not preset and not str(spec.get("rule", "M.")).startswith("M."):
                    raise error(f"{path}.rule", N_("a merchant clock cites a merchant rule id starting with 'M.'; "
                                                   "statutory and platform ids belong to presets"))
                if ("hours" in spec) == ("days" in spec):
                    raise error(path, N_("give exactly one of hours or days"))
                out["clocks"][clock] = spec
        elif name == "citations" and preset:
            out["citations"] = {rid: _fields(_table(spec, f"citations.{rid}", error), f"citations.{rid}",
                                             CITATION_FIELDS, checked, error)
                                for rid, spec in _table(body, "citations", error).items()}
        elif name in sections:
            out[name] = _fields(_table(body, name, error), name, sections[name], checked, error)
            if name == "window" and "rule" in out[name] and not preset:
                raise error("window.rule", N_("only presets name the statutory rule of the window"))
        else:
            allowed = sorted(set(sections) | {"rules", "clocks"} | ({"citations"} if preset else set()))
            raise error(name, N_("unknown section; allowed: {choices}"), choices=listed(allowed))
    return out


def _table(value: Any, path: str, error: Callable[..., PolicyError]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error(path, N_("must be a table"))
    return value


def _fields(body: dict[str, Any], path: str, spec: dict[str, Check], checked: Callable[..., Any],
            error: Callable[..., PolicyError]) -> dict[str, Any]:
    out = {}
    for key, value in body.items():
        if key not in spec:
            raise error(f"{path}.{key}", N_("unknown field; allowed: {choices}"), choices=listed(spec))
        out[key] = checked(f"{path}.{key}", spec[key], value)
    return out


def _rule(index: int, body: Any, checked: Callable[..., Any], error: Callable[..., PolicyError], source: str,
          lines: dict[str, int]) -> dict[str, Any]:
    path = f"rules[{index}]"
    rule = _fields(_table(body, path, error), path, RULE_FIELDS, checked, error)
    for required in ("id", "kind"):
        if required not in rule:
            raise error(path, N_("a rule needs '{name}'"), name=required)
    kind = rule["kind"]
    needs = {"window": ("days",), "holiday_window": ("ordered_from", "ordered_to", "return_until"),
             "restocking_fee": ("percent",), "keep_item": ("max_amount",)}.get(kind, ())
    for required in needs:
        if required not in rule:
            raise error(f"{path}.{required}", N_("a {kind} rule needs '{name}'"), kind=kind, name=required)
    if kind == "holiday_window" and not rule["ordered_from"] <= rule["ordered_to"] <= rule["return_until"]:
        raise error(f"{path}.ordered_to", N_("need ordered_from <= ordered_to <= return_until"))
    rule["_where"] = (source, locate(lines, path), path)
    rule["_at"] = {key: lines.get(f"{path}.{key}") for key in list(rule) if not key.startswith("_")}
    return rule
