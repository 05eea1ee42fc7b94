"""The pages' message catalogs: extract the strings from the code and templates, keep the zh_CN and en
catalogs up to date, compile them. `scripts/i18n` runs `update()`; a test checks that nothing is untranslated."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from .frame import LOCALES, PACKAGE

# The domain services whose refusals and labels are worded in the catalogs (errors.Worded) are read too.
DOMAIN = ("cases/plans.py", "cases/handoffs.py", "cases/messages.py")
METHODS = [("pages/**.py", "python"), *((path, "python") for path in DOMAIN),
           ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
LANGS = ("zh_CN", "en")


def extract() -> Catalog:
    """Every translatable string of the pages, as found in the code now."""
    catalog = Catalog(project="returnflow", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(PACKAGE), METHODS, OPTIONS, KEYWORDS):
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def untranslated(lang: str) -> list[str]:
    """Strings of the code that the `lang` catalog lacks or leaves empty or fuzzy."""
    catalog = read(lang)
    missing = []
    for message in extract():
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = (found.string if isinstance(found.string, (list, tuple)) else [found.string]) if found else []
        if found is None or found.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def update(translations: dict | None = None) -> None:
    """Brings both catalogs to the strings of the code (English fills itself in), then compiles them."""
    template = extract()
    for lang in LANGS:
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            catalog = read(lang)
            catalog.update(template, no_fuzzy_matching=True)
        else:
            catalog = Catalog(locale=lang, project="returnflow")
            catalog.update(template, no_fuzzy_matching=True)
        for message in catalog:
            if not message.id:
                continue
            if lang == "en":
                message.string = message.id if isinstance(message.id, str) else tuple(message.id)
            elif translations and message.id in translations:
                value = translations[message.id]
                message.string = value if isinstance(value, str) else tuple(value) * 1
        catalog.obsolete.clear()
        with path.open("wb") as f:
            write_po(f, catalog, width=120, omit_header=False, sort_output=True, include_lineno=False)
        with path.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
