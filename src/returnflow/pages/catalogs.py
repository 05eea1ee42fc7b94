"""The message catalogs of every language (src/returnflow/locale/*): extract the strings from the pages, the
templates and the texts (API errors, notification templates, labels, policy sentences), keep each language's
catalog up to date, compile them. `scripts/i18n` runs `update()`; a test checks that nothing is untranslated.

A language whose directory holds a `fill.toml` (zh_Hant: `source = "zh_CN"`, `opencc = "s2twp"`) has its empty
entries filled by converting the source language's entry with OpenCC; entries already written (hand-corrected)
are kept, so running it again changes nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from ..policy.texts import SENTENCE_CONTEXT, sentences
from .frame import LOCALES, PACKAGE

# Every module of the package is read (any N_ / gettext-marked English msgid anywhere: refusals raised with
# errors.Explained / Worded, labels, policy sentences, checklists, SLA steps, ...), and the page templates.
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
# Column(key, English, 中文, kind): a report's column header, its key the context (analytics/report.py);
# Carrier(code, English, 中文, ...): a carrier's name, its code the context (logistics/carriers.py).
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "NP_": ((1, "c"), 2), "Column": ((1, "c"), 2),
            "Carrier": ((1, "c"), 2)}
ENGLISH = "en"  # the msgids' language: its catalog fills itself


def languages(locales: Path = LOCALES) -> tuple[str, ...]:
    """The catalog directories present (en, zh_CN, zh_Hant, ...): the languages of the desk."""
    found = {p.parent.parent.name for p in locales.glob("*/LC_MESSAGES/messages.po")} | {ENGLISH}
    found |= {p.parent.name for p in locales.glob("*/fill.toml")}  # a new converted language, before its first run
    return tuple(sorted(found, key=lambda lang: (bool(fill_rule(lang, locales)), lang)))


def fill_rule(lang: str, locales: Path = LOCALES) -> dict | None:
    """How a language's empty entries are filled by machine conversion (its fill.toml), if at all."""
    path = locales / lang / "fill.toml"
    if not path.exists():
        return None
    with path.open("rb") as f:
        return tomllib.load(f)


LANGS = languages()


def extract() -> Catalog:
    """Every translatable string of the pages, as found in the code now."""

    catalog = Catalog(project="returnflow", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(PACKAGE), METHODS, OPTIONS, KEYWORDS):
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
    if PACKAGE == LOCALES.parent:  # the policy sentences: built in (policy/texts.py) and the presets' (TOML)
        for filename, sentence in sentences():
            catalog.add(sentence, locations=[(filename, 0)], context=SENTENCE_CONTEXT,
                        flags=("python-brace-format",) if "{" in sentence else ())
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
        found = catalog.get(message.id, context=message.context)
        strings = (found.string if isinstance(found.string, (list, tuple)) else [found.string]) if found else []
        if found is None or found.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def converter(config: str):
    """OpenCC's converter for a configuration such as s2twp (Simplified to Taiwan Traditional, with Taiwan
    phrases)."""
    try:
        import opencc  # only scripts/i18n needs it (the i18n extra)
    except ImportError:
        raise SystemExit("a machine-converted catalog has empty entries: install OpenCC with `scripts/setup i18n` "
                         "(or run scripts/i18n, which does)") from None

    try:
        return opencc.OpenCC(f"{config}.json")
    except Exception:  # older bindings take the name without .json
        return opencc.OpenCC(config)


def _empty(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return not all(strings)


def fill_from(catalog: Catalog, source: Catalog, convert) -> int:
    """Fills the empty entries of `catalog` from `source` through `convert`; written entries are kept."""
    filled = 0
    for message in catalog:
        if not message.id or not _empty(message):
            continue
        found = source.get(message.id, context=message.context)
        if found is None or found.fuzzy:
            continue
        if isinstance(found.string, str) and found.string:
            message.string = convert(found.string)
        elif isinstance(found.string, (list, tuple)) and found.string and all(found.string):
            message.string = tuple(convert(text) for text in found.string)
        else:
            continue
        filled += 1
    return filled


def update(translations: dict | None = None) -> None:
    """Brings every catalog to the strings of the code (English fills itself in, a converted language fills its
    empty entries from its source), then compiles them."""
    extracted = extract()
    for lang in languages():
        # Catalog.update shares the template's new messages: each language gets its own copy.
        template = Catalog(project="returnflow", fuzzy=False)
        for found in extracted:
            if found.id:
                template.add(found.id, locations=found.locations, auto_comments=found.auto_comments,
                             flags=found.flags, context=found.context)
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            catalog = read(lang)
            created = catalog.creation_date
            catalog.update(template, no_fuzzy_matching=True)
            catalog.creation_date = created  # a run that changes no string changes no byte
        else:
            catalog = Catalog(locale=lang, project="returnflow")
            catalog.update(template, no_fuzzy_matching=True)
        for message in catalog:
            if not message.id:
                continue
            if lang == ENGLISH:
                message.string = message.id if isinstance(message.id, str) else tuple(message.id)
            elif translations and message.id in translations and not fill_rule(lang):
                value = translations[message.id]
                message.string = value if isinstance(value, str) else tuple(value) * 1
        rule = fill_rule(lang)
        if rule and any(_empty(message) for message in catalog if message.id):
            fill_from(catalog, read(rule["source"]), converter(rule["opencc"]).convert)
        catalog.obsolete.clear()
        with path.open("wb") as f:
            write_po(f, catalog, width=120, omit_header=False, sort_output=True, include_lineno=False)
        with path.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
