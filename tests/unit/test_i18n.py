"""Messages exist in zh-CN and en with the same placeholders, and errors render with every placeholder filled."""

import string

import pytest

from returnflow.errors import InvalidInput, NotFound
from returnflow.i18n import MESSAGES, negotiate


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_say_the_same_things(key):
    assert set(MESSAGES[key]) == {"en", "zh-CN"}
    assert placeholders(MESSAGES[key]["en"]) == placeholders(MESSAGES[key]["zh-CN"])


def test_errors_fill_the_field_and_allowed_values():
    err = InvalidInput("validation", field="role", problem="must be one of agent, admin")
    assert str(err) == "role: must be one of agent, admin"
    assert err.render("zh-CN")["message"] == "role：must be one of agent, admin"
    nf = NotFound("order", "X-1", field="order")
    assert nf.render("zh-CN")["message"] == "找不到订单 X-1" and nf.render("en")["message"] == "order X-1 was not found"


@pytest.mark.parametrize("header,expected", [
    (None, "zh-CN"), ("en-US,en;q=0.9", "en"), ("zh-TW", "zh-CN"), ("fr-FR, en;q=0.5", "en"),
    ("de", "zh-CN"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("*", "zh-CN"),
])
def test_locale_negotiation(header, expected):
    assert negotiate(header) == expected
