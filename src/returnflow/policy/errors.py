"""Errors of the policy engine: values a merchant can act on (which field, which line, what is allowed), said as
English msgids of the catalogs with {placeholders}, so every language of the desk reads them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import i18n
from ..i18n import N_, SUPPORTED, gettext


def listed(words: Iterable[Any]) -> dict[str, str]:
    """A list said in every language of the desk, each with its own separator ("a, b" / "a、b")."""
    words = [str(w) for w in words]
    return {tag: gettext(tag, N_(", ")).join(words) for tag in SUPPORTED}


def said(text: str, values: dict[str, Any], locale: str) -> str:
    """`text` (an English msgid) in `locale`, its placeholders filled (i18n.said)."""
    return i18n.said(locale, text, values)


class PolicyError(ValueError):
    """A policy file that cannot be loaded: `field` and `line` point at the cause, `text` (a msgid with
    placeholders filled from `values`) explains it; `said(locale)` reads it in any language."""

    def __init__(self, field: str, line: int | None, text: str, /, *, source: str = "", **values: Any) -> None:
        self.field = field
        self.line = line
        self.text = text
        self.values = values
        self.source = source
        where = f"{source}:{line}" if source and line else (f"line {line}" if line else source or "policy")
        super().__init__(f"{where}: {field}: {self.en}")

    def said(self, locale: str) -> str:
        return said(self.text, self.values, locale)

    def every(self) -> dict[str, str]:
        """The problem in every language of the desk: {language: text}."""
        return {tag: self.said(tag) for tag in SUPPORTED}

    @property
    def en(self) -> str:
        return self.said("en")

    @property
    def zh(self) -> str:
        """In zh-CN, for readers not yet converted (use said(locale))."""
        return self.said("zh-CN")
