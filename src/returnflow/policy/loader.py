"""Loading policy files: a preset chain plus the merchant's file, validated, merged and compiled (compiled.py), or
refused whole (conflicts.py)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
import re

from ..i18n import N_
from .errors import PolicyError, listed
from .schema import line_map, locate, validate
from .compiled import Policy, compile_merged
from .conflicts import check_conflicts, check_statutory_clock

PRESETS = ("cn-law", "taobao-legacy", "taobao-current", "jd-pop", "eu-crd", "uk-ccr", "merchant-rules")


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
                    check_statutory_clock(merged["clocks"].get(clock), spec, name, locate(lines, f"clocks.{clock}"),
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
    warnings = check_conflicts(merged, origin)
    return compile_merged(merged, tuple(ids), warnings)
