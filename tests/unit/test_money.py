"""Money is integer minor units in storage and Decimal in code; conversions are exact or refused."""

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from returnflow.money import EXPONENTS, MoneyError, exponent, fmt, from_minor, to_minor

currencies = st.sampled_from(sorted(EXPONENTS))


@given(minor=st.integers(-10**15, 10**15), currency=currencies)
def test_minor_units_round_trip_exactly(minor, currency):
    assert to_minor(from_minor(minor, currency), currency) == minor
    assert to_minor(fmt(minor, currency), currency) == minor


@given(minor=st.integers(0, 10**12), currency=currencies, extra=st.integers(1, 9))
def test_more_precision_than_the_currency_has_is_refused(minor, currency, extra):
    value = from_minor(minor, currency) + Decimal(extra).scaleb(-exponent(currency) - 1)
    with pytest.raises(MoneyError):
        to_minor(value, currency)


@pytest.mark.parametrize("bad", [1.5, "abc", "NaN", "Infinity", ""])
def test_floats_and_non_numbers_are_not_money(bad):
    with pytest.raises(MoneyError):
        to_minor(bad, "CNY")


def test_currency_precision():
    assert to_minor("12.30", "CNY") == 1230
    assert to_minor("1200", "JPY") == 1200
    assert to_minor("1.234", "KWD") == 1234
    assert str(from_minor(5, "CNY")) == "0.05"
    with pytest.raises(MoneyError):
        to_minor("1", "XXX")
