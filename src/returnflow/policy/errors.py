"""Errors of the policy engine: values a merchant can act on (which field, which line, what is allowed)."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy file that cannot be loaded: `field` and `line` point at the cause, `en`/`zh` explain it."""

    def __init__(self, field: str, line: int | None, en: str, zh: str, *, source: str = "") -> None:
        where = f"{source}:{line}" if source and line else (f"line {line}" if line else source or "policy")
        super().__init__(f"{where}: {field}: {en}")
        self.field = field
        self.line = line
        self.en = en
        self.zh = zh
        self.source = source
