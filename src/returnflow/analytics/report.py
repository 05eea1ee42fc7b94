"""The shape every report answers with (columns, rows, status, note) and the registry of reports by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from ..i18n import ENGLISH, N_, SUPPORTED, every, gettext, match, pgettext, pick
from .filters import Filters

# Column kinds: text, int, money (a decimal string in the row's currency), percent (a decimal string, 2 places),
# seconds (a whole number), decimal (a decimal string, 2 places), list (shown joined).
@dataclass(frozen=True)
class Column:
    key: str
    en: str
    zh: str
    kind: str = "text"

    def label(self, locale: str) -> str:
        """The header in `locale`: the catalog's (context: the key); a header the catalogs cannot know (one built
        from a value) is read from its (en, zh-CN) pair along the fallback chain."""
        found = pgettext(locale, self.key, self.en)
        if found != self.en or match(locale) == ENGLISH:
            return found
        return pick({"en": self.en, "zh-CN": self.zh}, locale)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": {tag: self.label(tag) for tag in SUPPORTED}, "kind": self.kind}


@dataclass
class Report:
    """One report's answer. status: ok | empty (nothing in the period) | no_data_yet (its source is not recorded)."""

    name: str
    title: str  # an English msgid (N_), read in a language with words()
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    note: str | None = None  # an English msgid (N_)
    totals: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    title_params: dict[str, Any] = field(default_factory=dict)  # the {placeholders} of a title such as "Top {limit}"

    def finish(self) -> Report:
        if self.status == "ok" and not self.rows:
            self.status = "empty"
            if self.note is None:
                self.note = N_("Nothing was recorded for these filters in this period.")
        return self

    def as_dict(self, filters: Filters) -> dict[str, Any]:
        body: dict[str, Any] = {
            "report": self.name, "title": every(self.title, **self.title_params), "status": self.status,
            "filters": filters.echo(), "columns": [c.as_dict() for c in self.columns], "rows": self.rows,
        }
        if self.note:
            body["note"] = every(self.note)
        if self.totals is not None:
            body["totals"] = self.totals
        body.update(self.extra)
        return body


def words(text: str | None, locale: str, params: dict[str, Any] | None = None) -> str:
    """A report's title or note (an English msgid, its {placeholders} in `params`) in `locale`, from the catalogs."""
    return gettext(locale, text).format(**params) if text and params else gettext(locale, text) if text else ""


@dataclass(frozen=True)
class Definition:
    name: str
    title: str  # an English msgid (N_)
    run: Callable[[Session, Filters], Report]
    uses: tuple[str, ...] = ()  # "by" is honoured; the others ignore it
    chart: str | None = None  # bar | line | None


# name -> definition: the reports returnflow/bootstrap.py installs (the API, the pages and the CLI answer these).
REPORTS: dict[str, Definition] = {}


def defines(name: str, title: str, *, by: bool = False, chart: str | None = None):
    """Declares a report function as the report `name` (its `definition`); returnflow/bootstrap.py installs it."""
    def wrap(fn: Callable[[Session, Filters], Report]):
        fn.definition = Definition(name, title, fn, ("by",) if by else (), chart)
        return fn
    return wrap


def percent(part: int, whole: int) -> str | None:
    """part/whole as a percentage string with 2 decimals (half up); None when nothing was sold."""
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
