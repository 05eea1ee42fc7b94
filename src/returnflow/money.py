"""Money: integer minor units in storage, Decimal in code, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

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
    """An amount that cannot be represented exactly in its currency; `zh` says the same in Chinese."""

    def __init__(self, en: str, zh: str = "") -> None:
        super().__init__(en)
        self.zh = zh or en


def is_currency(code: str) -> bool:
    """Whether `code` is a currency this deployment knows."""
    return code in EXPONENTS


def exponent(currency: str) -> int:
    """Digits after the decimal point for `currency`."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}", f"未知币种 {currency!r}") from None


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Converts a decimal amount to integer minor units; refuses sub-minor precision."""
    if isinstance(amount, float):
        raise MoneyError("floats are not money", "金额不能是浮点数")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise MoneyError(f"not a number: {amount!r}", f"不是数字：{amount!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not a finite number: {amount!r}", f"不是有限数字：{amount!r}")
    if value.adjusted() > 30:  # refused before scaling: Decimal would work hard on 1E+999999999
        raise MoneyError(f"{amount} is larger than this desk stores", f"{amount} 超出可存储的金额上限")
    scaled = value.scaleb(exponent(currency))
    if abs(scaled) > MAX_MINOR:
        limit = fmt(MAX_MINOR, currency)
        raise MoneyError(f"{amount} is beyond the largest amount stored ({limit})", f"{amount} 超出金额上限 {limit}")
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount} has more than {exponent(currency)} decimals for {currency}",
                         f"{amount} 超出 {currency} 允许的 {exponent(currency)} 位小数")
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
