"""Languages are data: the set of languages is the set of catalogs, negotiation follows one fallback chain
(requested -> family -> merchant default -> English), and errors render with every placeholder filled."""

import pytest

from returnflow import i18n
from returnflow.errors import InvalidInput, NotFound
from returnflow.i18n import discover, negotiate, pick


def test_the_languages_are_the_catalogs_present(tmp_path):
    assert i18n.SUPPORTED == ("en", "zh-CN", "zh-Hant")
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "fr" / "LC_MESSAGES" / "messages.po").write_text("", encoding="utf-8")
    (tmp_path / "de").mkdir()  # a directory without a catalog is no language
    assert discover(tmp_path) == ("en", "fr")


def test_errors_fill_the_field_and_allowed_values():
    err = InvalidInput("validation", field="role", problem="must be one of agent, admin")
    assert str(err) == "role: must be one of agent, admin"
    assert err.render("zh-CN")["message"] == "role：must be one of agent, admin"
    nf = NotFound("order", "X-1", field="order")
    assert nf.render("zh-CN")["message"] == "找不到订单 X-1" and nf.render("en")["message"] == "order X-1 was not found"
    assert nf.render("zh-Hant")["message"] == "找不到訂單 X-1"


@pytest.mark.parametrize("header,default,expected", [
    (None, None, "en"), (None, "zh-CN", "zh-CN"), ("en-US,en;q=0.9", "zh-CN", "en"),
    ("zh-TW", None, "zh-Hant"), ("zh-HK", "en", "zh-Hant"), ("zh-Hant-TW", None, "zh-Hant"), ("zh-MO", None, "zh-Hant"),
    ("zh-SG", "en", "zh-CN"), ("zh-Hans", None, "zh-CN"), ("zh", "en", "zh-CN"),
    ("fr-FR, en;q=0.5", "zh-CN", "en"), ("fr", "zh-CN", "zh-CN"), ("fr", None, "en"), ("de", "en", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh-CN"), ("en;q=0.2, zh-TW;q=0.8", None, "zh-Hant"),
    ("zh-TW;q=0, en", None, "en"), ("*", "zh-CN", "zh-CN"), ("*", None, "en"),
    ("fr", "xx-unknown", "en"),
])
def test_locale_negotiation_follows_the_chain(header, default, expected):
    assert negotiate(header, default) == expected


def test_a_request_naming_no_language_gets_the_instance_default_but_an_unknown_one_does_not():
    assert negotiate(None, None, unasked="zh-CN") == "zh-CN"
    assert negotiate("*", None, unasked="zh-CN") == "zh-CN"
    # Chinese is never the answer just because it is the instance's default: French asked, English given.
    assert negotiate("fr", None, unasked="zh-CN") == "en"
    assert negotiate("fr", "zh-Hant", unasked="zh-CN") == "zh-Hant"


def test_a_label_given_in_any_language_is_read_along_the_chain():
    only_en = {"en": "Too small"}
    assert pick(only_en, "zh-CN", "zh-CN") == "Too small"
    only_zh = {"zh-CN": "太小"}
    assert pick(only_zh, "en", "en") == "太小"  # the only wording there is, rather than nothing
    both = {"zh-CN": "太小", "en": "Too small"}
    assert pick(both, "zh-TW", "en") == "Too small"  # zh-Hant's family is not zh-CN's: then the merchant's default
    assert pick(both, "zh-TW", "zh-CN") == "太小"
    assert pick({"zh-Hant": "太小了", **both}, "zh-HK", "en") == "太小了"
    assert pick(both, "zh-SG", "en") == "太小"
    assert pick(both, "fr", None) == "Too small"
    assert pick({"zh-CN": " ", "en": ""}, "en") == ""
