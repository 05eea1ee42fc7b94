"""The countries a merchant may sell from, and what each implies: its time zone where it has one, its business
calendar, and the policy preset whose law applies (onboarding/setup.py reads them when a merchant is set up;
policy/service.py falls back to preset_for_country for a merchant that never chose one)."""

from __future__ import annotations

from babel import Locale

from ..i18n import ENGLISH, babel_id, match

# EU member states and the EEA states that apply the Consumer Rights Directive (IS, LI, NO).
EU_CRD = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split())
# Countries with one time zone for (nearly) all their shops; anywhere else the zone must be named.
COUNTRY_ZONE: dict[str, str] = {
    "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "MO": "Asia/Macau", "TW": "Asia/Taipei",
    "SG": "Asia/Singapore", "MY": "Asia/Kuala_Lumpur", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
    "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "PH": "Asia/Manila", "IN": "Asia/Kolkata",
    "AE": "Asia/Dubai", "SA": "Asia/Riyadh", "IL": "Asia/Jerusalem", "TR": "Europe/Istanbul", "NZ": "Pacific/Auckland",
    "GB": "Europe/London", "IE": "Europe/Dublin", "IS": "Atlantic/Reykjavik", "NO": "Europe/Oslo",
    "CH": "Europe/Zurich", "LI": "Europe/Vaduz", "UA": "Europe/Kyiv", "RS": "Europe/Belgrade",
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "HR": "Europe/Zagreb",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
    "FI": "Europe/Helsinki", "FR": "Europe/Paris", "DE": "Europe/Berlin", "GR": "Europe/Athens",
    "HU": "Europe/Budapest", "IT": "Europe/Rome", "LV": "Europe/Riga", "LT": "Europe/Vilnius",
    "LU": "Europe/Luxembourg", "MT": "Europe/Malta", "NL": "Europe/Amsterdam", "PL": "Europe/Warsaw",
    "PT": "Europe/Lisbon", "RO": "Europe/Bucharest", "SK": "Europe/Bratislava", "SI": "Europe/Ljubljana",
    "ES": "Europe/Madrid", "SE": "Europe/Stockholm",
}
# Business calendars (sla.calendar) by country; elsewhere Monday to Friday with the merchant's own holidays.
COUNTRY_CALENDAR: dict[str, str] = {"CN": "cn-mainland", "GB": "gb-eng"} | {
    c: c.lower() for c in ("IE", "DE", "FR", "IT", "ES", "NL", "BE", "AT", "PL", "SE", "DK", "FI", "PT", "CZ", "GR")}
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"}


def _names(lang: str) -> dict[str, str]:
    return Locale.parse(babel_id(match(lang) or ENGLISH)).territories


def countries() -> list[str]:
    """Every ISO 3166-1 alpha-2 code a merchant may name (Babel's territories, without groupings)."""
    return sorted(c for c in _names("en") if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES)


def country_name(code: str, lang: str = "en") -> str:
    return _names(lang).get(code, code)


def preset_for_country(country: str | None, currency: str = "CNY") -> str:
    """The preset whose law applies where the merchant sells from.

    Without a country (merchants set up before it was asked) the currency stands in, as before for CNY (cn-law)
    and EUR (eu-crd); GBP reads as uk-ccr, and any other currency never gets PRC law: merchant-rules.
    """
    if country:
        if country == "CN":
            return "cn-law"
        if country in EU_CRD:
            return "eu-crd"
        return "uk-ccr" if country == "GB" else "merchant-rules"
    return {"CNY": "cn-law", "EUR": "eu-crd", "GBP": "uk-ccr"}.get((currency or "CNY").upper(), "merchant-rules")
