"""Labels in any language: a return reason's or a product category's names are {language tag: text}, none required
in a particular language. A reader gets them along the one fallback chain (i18n.pick): their language, its family,
the merchant's default language, English, else whatever language the merchant wrote. The default reasons' labels
are the catalogs' (texts/labels.py), so every language of the desk has them."""

from __future__ import annotations

from typing import Any

from babel import Locale, UnknownLocaleError

from .errors import Explained
from .i18n import N_, SUPPORTED, gettext, pick
from .texts.labels import REASONS

MAX_LABEL = 200
# The two languages the older columns (label_zh/label_en, name_zh/name_en) keep, for readers of those columns.
MIRRORED = ("zh-CN", "en")


def labels_of(row: Any) -> dict[str, str]:
    """A reason's or category's labels: its `labels`, else what its zh-CN / English columns hold."""
    if getattr(row, "labels", None):
        return dict(row.labels)
    zh = getattr(row, "label_zh", None) if hasattr(row, "label_zh") else getattr(row, "name_zh", None)
    en = getattr(row, "label_en", None) if hasattr(row, "label_en") else getattr(row, "name_en", None)
    return {tag: text for tag, text in (("zh-CN", zh), ("en", en)) if text and text.strip()}


def reason_label(reason: Any, locale: str, default: str | None = None) -> str:
    """A reason's label for a reader in `locale` (`default`: the merchant's default language)."""
    if getattr(reason, "merchant_id", None) is None and reason.code in REASONS:
        return gettext(locale, REASONS[reason.code])
    return pick(labels_of(reason), locale, default) or reason.code


def category_label(category: Any, locale: str, default: str | None = None) -> str:
    """A category's name for a reader in `locale`."""
    return pick(labels_of(category), locale, default) or category.code


def all_labels(reason: Any) -> dict[str, str]:
    """A reason's labels in every language of the desk (the default reasons' from the catalogs)."""
    if getattr(reason, "merchant_id", None) is None and reason.code in REASONS:
        return {tag: gettext(tag, REASONS[reason.code]) for tag in SUPPORTED}
    return labels_of(reason)


def clean(labels: dict[str, Any] | None, field: str = "labels", *, required: bool = True) -> dict[str, str]:
    """Labels as given: keys must be language tags (any language, e.g. fr or zh-Hant), texts at most 200
    characters; empty ones are dropped; with `required`, at least one must remain. Refusals name the field."""
    out: dict[str, str] = {}
    for tag, text in (labels or {}).items():
        where = f"{field}.{tag}"
        try:
            Locale.parse(str(tag).replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            raise Explained(field, N_("'{tag}' is not a language tag such as en, zh-CN or zh-Hant"), tag=tag) from None
        if not isinstance(text, str):
            raise Explained(where, N_("must be text"))
        if len(text) > MAX_LABEL:
            raise Explained(where, N_("is longer than {most} characters"), most=MAX_LABEL)
        if text.strip():
            out[str(tag)] = text.strip()
    if required and not out:
        raise Explained(field, N_("give the name in at least one language, e.g. {example}"),
                        example={"en": '{"en": "Too small"}', "zh-CN": '{"zh-CN": "尺码偏小"}', "zh-Hant": '{"zh-Hant": "尺碼偏小"}'})
    return out


def mirrored(labels: dict[str, str]) -> tuple[str, str]:
    """(zh-CN, en) entries for the older columns; '' where not given."""
    return labels.get(MIRRORED[0], ""), labels.get(MIRRORED[1], "")
