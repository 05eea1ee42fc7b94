"""Every catalog (pages, API errors, notification templates, labels, policy sentences) is complete in every
language present (en, zh_CN, zh_Hant), says the same placeholders, and the compiled .mo files match."""

from __future__ import annotations

import string

import pytest
from babel.messages.mofile import read_mo

from returnflow.pages import catalogs
from returnflow.texts.errors import MESSAGES, NOUNS, PROBLEMS
from returnflow.policy.texts import SENTENCE_CONTEXT, sentences
from returnflow.texts.labels import REASONS
from returnflow.texts.notifications import NOTIFICATIONS


def test_the_three_languages_are_there():
    assert catalogs.LANGS == ("en", "zh_CN", "zh_Hant")


@pytest.mark.parametrize("lang", catalogs.LANGS)
def test_every_catalog_is_complete_in_every_language(lang):
    assert catalogs.untranslated(lang) == []
    catalog = catalogs.read(lang)
    texts = [*MESSAGES.values(), *NOUNS.values(), *PROBLEMS.values(),
             *(text for pair in NOTIFICATIONS.values() for text in pair)]
    if lang != catalogs.ENGLISH:
        missing = [text for text in texts if catalog.get(text) is None or not catalog.get(text).string]
        missing += [text for _, text in sentences()
                    if not getattr(catalog.get(text, context=SENTENCE_CONTEXT), "string", None)]
        missing += [text for text in REASONS.values() if catalog.get(text) is None or not catalog.get(text).string]
        assert missing == []


def _names(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return set()


@pytest.mark.parametrize("lang", [lang for lang in catalogs.LANGS if lang != catalogs.ENGLISH])
def test_every_translation_keeps_its_placeholders(lang):
    wrong = []
    for message in catalogs.read(lang):
        if not message.id or isinstance(message.id, (list, tuple)) or "python-brace-format" not in message.flags:
            continue
        ours = _names(message.string)
        # A translation may use a placeholder's language twin ({step_zh} for {step_en}); none may invent one.
        if {n.removesuffix("_zh").removesuffix("_en") for n in ours} != \
                {n.removesuffix("_zh").removesuffix("_en") for n in _names(message.id)}:
            wrong.append(message.id)
    assert wrong == []


def test_the_converted_language_is_filled_from_its_source_and_keeps_hand_corrections():
    source = catalogs.Catalog(locale="zh_CN")
    source.add("Software", "软件")
    source.add("Information", "信息")
    target = catalogs.Catalog(locale="zh_Hant")
    target.add("Software", "")
    target.add("Information", "資料")  # corrected by hand
    convert = catalogs.converter(catalogs.fill_rule("zh_Hant")["opencc"]).convert
    assert catalogs.fill_from(target, source, convert) == 1
    assert target.get("Software").string == "軟體"  # Taiwan phrase, not a character-by-character 軟件
    assert target.get("Information").string == "資料"
    assert catalogs.fill_from(target, source, convert) == 0  # nothing left to do: running it again changes nothing


def test_the_compiled_catalogs_match_their_sources():
    for lang in catalogs.LANGS:
        po = catalogs.read(lang)
        with catalogs.po_path(lang).with_suffix(".mo").open("rb") as f:
            mo = read_mo(f)
        wanted = {_key(m.id): _key(m.string) for m in po if m.id and not m.fuzzy}
        compiled = {_key(m.id): _key(m.string) for m in mo if m.id}
        assert compiled == wanted, f"{lang}: run scripts/i18n to compile the catalog"


def _key(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def test_a_new_string_without_translation_is_caught(tmp_path, monkeypatch):
    page = tmp_path / "templates" / "x.html"
    page.parent.mkdir()
    page.write_text('{{ _("A sentence nobody translated") }}', encoding="utf-8")
    monkeypatch.setattr(catalogs, "PACKAGE", tmp_path)
    assert catalogs.untranslated("zh_CN") == ["A sentence nobody translated"]


@pytest.mark.parametrize("lang", catalogs.LANGS)
def test_every_notification_template_uses_only_the_fields_of_its_key(lang):
    from returnflow.i18n import tag_of
    from returnflow.notify.templates import BUILTIN, placeholders

    for key, builtin in BUILTIN.items():
        subject, body = builtin.texts[tag_of(lang)]
        assert subject and body
        assert set(placeholders(subject) + placeholders(body)) <= set(builtin.fields), (lang, key)
