"""Languages as data: the set of languages is the set of catalogs under src/returnflow/locale/, a request's language
is negotiated along one fallback chain, and every text (page strings, API errors, notification templates, labels,
policy sentences) is looked up in those catalogs.

The fallback chain, everywhere: the requested language -> its family (zh-TW and zh-HK -> zh-Hant, zh-SG -> zh-CN,
en-GB -> en; the family is the language and script CLDR's likely subtags give the tag) -> the merchant's default
language -> English. Adding a language is adding its catalog directory (e.g. locale/fr/LC_MESSAGES/messages.po):
no code names a language except English, the language the code's strings are written in.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from babel.core import get_global
from babel.support import NullTranslations, Translations
from babel import Locale

from .texts.errors import MESSAGES, NOUNS, N_  # noqa: F401  (N_ marks strings for the catalogs everywhere)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"  # the language of the msgids, so always complete, and the end of every fallback chain


def tag_of(dirname: str) -> str:
    """The language tag of a catalog directory: zh_CN -> zh-CN, zh_Hant -> zh-Hant."""
    return dirname.replace("_", "-")


def babel_id(tag: str) -> str:
    """The Babel / gettext identifier of a tag: zh-CN -> zh_CN."""
    return tag.replace("-", "_")


def discover(directory: Path = LOCALE_DIR) -> tuple[str, ...]:
    """The languages whose page catalog is present, sorted by tag."""
    found = {tag_of(p.parent.parent.name) for p in directory.glob("*/LC_MESSAGES/messages.po")}
    found.add(ENGLISH)
    return tuple(sorted(found))


SUPPORTED: tuple[str, ...] = discover()


def _parts(tag: str) -> tuple[str, str | None, str | None]:
    """(language, script, territory) of a tag as written."""
    pieces = [p for p in tag.replace("_", "-").split("-") if p]
    lang = pieces[0].lower() if pieces else ""
    script = territory = None
    for piece in pieces[1:]:
        if len(piece) == 4 and piece.isalpha():
            script = piece.title()
        elif (len(piece) == 2 and piece.isalpha()) or (len(piece) == 3 and piece.isdigit()):
            territory = piece.upper()
    return lang, script, territory


@lru_cache(maxsize=512)
def expand(tag: str) -> tuple[str, str | None, str | None]:
    """(language, script, territory) with the missing parts filled from CLDR's likely subtags:
    zh-TW -> (zh, Hant, TW), zh-SG -> (zh, Hans, SG), zh-Hant -> (zh, Hant, TW), en -> (en, Latn, US)."""
    lang, script, territory = _parts(tag)
    likely = get_global("likely_subtags")
    keys = [f"{lang}_{script}_{territory}" if script and territory else None,
            f"{lang}_{territory}" if territory else None, f"{lang}_{script}" if script else None, lang]
    for key in keys:
        if key and key in likely:
            full = _parts(likely[key])
            return lang, script or full[1], territory or full[2]
    return lang, script, territory


def family(tag: str) -> tuple[str, str | None]:
    """The family of a tag: its language and script (zh-TW and zh-Hant: zh/Hant; zh-SG and zh-CN: zh/Hans)."""
    return expand(tag)[:2]


def match(tag: str | None, available: tuple[str, ...] | list[str] | None = None) -> str | None:
    """The available language for `tag`: the same tag, else one of its family (the same territory first)."""
    if not tag:
        return None
    available = SUPPORTED if available is None else available
    wanted = tag.replace("_", "-").lower()
    for have in available:
        if have.lower() == wanted:
            return have
    want = expand(tag)
    if not want[0] or want[0] == "*":
        return None
    best = None
    for have in available:
        got = expand(have)
        if got[:2] == want[:2]:
            if got[2] == want[2]:
                return have
            best = best or have
    return best


def _requested(accept_language: str | None) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 means 'not this one')."""
    ranked = []
    for index, part in enumerate((accept_language or "").split(",")):
        piece, _, params = part.partition(";")
        piece = piece.strip()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if piece and quality > 0:
            ranked.append((-quality, index, piece))
    return [piece for _, _, piece in sorted(ranked)]


def negotiate(accept_language: str | None, default: str | None = None, *, unasked: str | None = None) -> str:
    """The language to answer in: the first requested language we have (or one of its family), else `default`
    (the merchant's default language), else English. A request that names no language (no header, or only '*')
    gets `unasked` (the instance's default) if given, else the same chain."""
    requested = _requested(accept_language)
    for tag in requested:
        found = match(tag)
        if found:
            return found
    if unasked and not [t for t in requested if t != "*"]:
        found = match(unasked)
        if found:
            return found
    return match(default) or ENGLISH


def asks_for_none_of_ours(accept_language: str | None) -> bool:
    """Whether a header names languages, none of which (nor their families) the desk has: the merchant's default
    language decides then."""
    requested = [tag for tag in _requested(accept_language) if tag != "*"]
    return bool(requested) and not any(match(tag) for tag in requested)


def chain(locale: str | None, default: str | None = None) -> list[str]:
    """The fallback chain of a reader: `locale`, its family, the merchant's default, English (no repeats)."""
    out: list[str] = []
    for tag in (locale, default, ENGLISH):
        if tag and tag not in out:
            out.append(tag)
    return out


def pick(texts: dict[str, str] | None, locale: str | None, default: str | None = None) -> str:
    """A text given in any languages (a label, a merchant's wording) for a reader in `locale`: along the chain
    requested -> family -> merchant default -> English -> whatever language it was given in."""
    given = {k: v for k, v in (texts or {}).items() if isinstance(v, str) and v.strip()}
    if not given:
        return ""
    for tag in chain(locale, default):
        found = match(tag, list(given))
        if found:
            return given[found]
    return next(iter(given.values()))


def _load(tag: str) -> NullTranslations:
    if tag == ENGLISH or tag not in SUPPORTED:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [babel_id(tag)], domain="messages")


_TRANSLATIONS: dict[str, NullTranslations] = {}


def translations(tag: str) -> NullTranslations:
    """The catalog of a language (English: the msgids themselves)."""
    found = _TRANSLATIONS.get(tag)
    if found is None:
        found = _TRANSLATIONS[tag] = _load(tag)
    return found


def gettext(locale: str, text: str) -> str:
    """`text` (an English msgid) in `locale` from its catalog; a missing entry reads in English."""
    return translations(match(locale) or ENGLISH).gettext(text)


def pgettext(locale: str, context: str, text: str) -> str:
    """`text` in `context` (e.g. a report column's key) in `locale`; a missing entry reads in English."""
    return translations(match(locale) or ENGLISH).pgettext(context, text)


def said(locale: str, text: str, values: dict | None = None) -> str:
    """`text` (an English msgid, with {placeholders}) in `locale`, filled from `values` (a value given as
    {language: text} is picked for the reader); a catalog entry that does not fit its values reads in English."""
    filled = {k: pick(v, locale) if isinstance(v, dict) else v for k, v in (values or {}).items()}
    try:
        return gettext(locale, text).format(**filled)
    except (KeyError, IndexError, ValueError):
        return text.format(**filled) if filled else text


def every(text: str, context: str | None = None, /, **params) -> dict[str, str]:
    """`text` (an English msgid, with {placeholders}) in every language of the desk: {tag: text}. A param given
    as such a dict (a fragment said in every language) is filled in per language; others as they are."""
    out = {}
    for tag in SUPPORTED:
        template = pgettext(tag, context, text) if context else gettext(tag, text)
        values = {k: (v.get(tag, v.get(ENGLISH, "")) if isinstance(v, dict) else v) for k, v in params.items()}
        try:
            out[tag] = template.format(**values) if values else template
        except (KeyError, IndexError, ValueError):
            out[tag] = text.format(**values) if values else text
    return out


def label(word: str, locale: str) -> str:
    """A noun (order, case, ...) in `locale`, or the word itself."""
    return gettext(locale, NOUNS[word]) if word in NOUNS else word


def message(key: str, locale: str, /, **params) -> str:
    """The API message `key` in `locale`, with its params filled in."""
    template = gettext(locale, MESSAGES[key]) if key in MESSAGES else key
    if "what" in params:
        params["what"] = label(str(params["what"]), locale)
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def display_name(tag: str) -> str:
    """A language's name in itself, for the language switcher: English; with two catalogs of one language, its
    script says which (中文 (简体), 中文 (繁體))."""
    lang, script, _ = expand(tag)
    siblings = [t for t in SUPPORTED if expand(t)[0] == lang]
    try:
        found = Locale(lang, script=script) if len(siblings) > 1 and script else Locale(lang)
        return found.get_display_name() or tag
    except (ValueError, LookupError):
        return tag


def lang_of(option: str | None = None) -> str:
    """The operator's language on the command line: --lang if given, else LC_ALL / LC_MESSAGES / LANG (zh_CN.UTF-8 -> zh-CN, zh_TW.UTF-8 -> zh-Hant), matched to a
    language of the catalogs along its family; English otherwise."""
    value = option or os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    tag = value.split(".")[0].split("@")[0]
    return match(tag) if tag and tag not in ("C", "POSIX") and match(tag) else ENGLISH
