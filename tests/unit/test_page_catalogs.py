"""Every string of the pages is translated in the zh_CN and en catalogs, and the compiled .mo files match."""

from __future__ import annotations

from babel.messages.mofile import read_mo

from returnflow.pages import catalogs


def test_every_page_string_is_translated_into_chinese_and_english():
    assert catalogs.untranslated("zh_CN") == []
    assert catalogs.untranslated("en") == []


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
