"""pages.frame.said: what other packages hand the pages (a msgid, {language: text}, an object that says itself, or an
older (English, zh-CN) pair) reads in the reader's language, zh-Hant included wherever the catalogs have it."""

from __future__ import annotations

from returnflow.i18n import N_
from returnflow.pages.frame import said


class _Says:
    def said(self, locale: str) -> str:
        return f"said in {locale}"


def test_a_msgid_reads_from_each_catalog():
    text = N_("must not be negative")
    assert said(text, "en") == "must not be negative"
    assert said(text, "zh-CN") == "不能为负数"
    assert said(text, "zh-Hant") == "不能為負數"


def test_an_older_pair_is_looked_up_by_its_english_first_so_traditional_readers_get_traditional():
    assert said(("must not be negative", "不能为负数"), "zh-Hant") == "不能為負數"
    # A pair the catalogs do not know: zh-CN reads its Chinese, English and other readers its English.
    unknown = ("a sentence no catalog holds", "没有目录收录的句子")
    assert said(unknown, "zh-CN") == "没有目录收录的句子"
    assert said(unknown, "en") == "a sentence no catalog holds"


def test_a_text_in_several_languages_and_a_text_that_says_itself():
    assert said({"en": "Parcel", "zh-Hant": "包裹"}, "zh-TW") == "包裹"
    assert said({"en": "Parcel", "zh-Hant": "包裹"}, "fr") == "Parcel"
    assert said(_Says(), "zh-Hant") == "said in zh-Hant"
