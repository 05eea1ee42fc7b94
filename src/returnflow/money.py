"""Money: integer minor units in storage, Decimal in code, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import Explained
from .i18n import N_, gettext

# ISO 4217 minor-unit exponents for the currencies merchants here use; others default to 2.
EXPONENTS: dict[str, int] = {
    "CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "TWD": 2, "SGD": 2, "AUD": 2, "CAD": 2, "CHF": 2,
    "MYR": 2, "THB": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "BRL": 2, "MXN": 2, "INR": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "IDR": 2,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}


# The largest amount one field may carry, in minor units: 10^15 (10 trillion yuan), so that sums over an order's
# lines, refunds and balances stay far inside the BIGINT columns (9.2 x 10^18) that store them.
MAX_MINOR = 10**15


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in its currency, said as an English msgid of the catalogs with
    {placeholders} (`text`, `values`): `said(locale)` reads it in any language, `refusal(field)` is the API's
    refusal naming the field."""

    def __init__(self, text: str, /, **values: object) -> None:
        super().__init__(text.format(**values) if values else text)
        self.text, self.values = text, values

    def said(self, locale: str) -> str:
        try:
            return gettext(locale, self.text).format(**self.values)
        except (KeyError, IndexError, ValueError):
            return str(self)

    @property
    def zh(self) -> str:
        """The problem in zh-CN (for readers not yet converted; use said(locale))."""
        return self.said("zh-CN")

    def refusal(self, field: str, **kw: object) -> Explained:
        """The 422 refusal naming `field`, in the reader's language."""
        return Explained(field, self.text, **kw, **self.values)


def is_currency(code: str) -> bool:
    """Whether `code` is a currency this deployment knows."""
    return code in EXPONENTS


def exponent(currency: str) -> int:
    """Digits after the decimal point for `currency`."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(N_("unknown currency '{currency}'"), currency=currency) from None


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Converts a decimal amount to integer minor units; refuses sub-minor precision."""
    if isinstance(amount, float):
        raise MoneyError(N_("floats are not money"))
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise MoneyError(N_("not a number: {amount}"), amount=repr(amount)) from None
    if not value.is_finite():
        raise MoneyError(N_("not a finite number: {amount}"), amount=repr(amount))
    if value.adjusted() > 30:  # refused before scaling: Decimal would work hard on 1E+999999999
        raise MoneyError(N_("{amount} is larger than this desk stores"), amount=str(amount))
    scaled = value.scaleb(exponent(currency))
    if abs(scaled) > MAX_MINOR:
        limit = fmt(MAX_MINOR, currency)
        raise MoneyError(N_("{amount} is beyond the largest amount stored ({limit})"), amount=str(amount), limit=limit)
    if scaled != scaled.to_integral_value():
        raise MoneyError(N_("{amount} has more than {decimals} decimals for {currency}"), amount=str(amount),
                         decimals=exponent(currency), currency=currency)
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """Converts integer minor units to a Decimal with the currency's precision."""
    exp = exponent(currency)
    return (Decimal(minor).scaleb(-exp)).quantize(Decimal(1).scaleb(-exp))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Rounds half-up to the currency's precision."""
    return amount.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_HALF_UP)


def fmt(minor: int, currency: str) -> str:
    """A plain string for an amount, e.g. '12.30'."""
    return str(from_minor(minor, currency))
