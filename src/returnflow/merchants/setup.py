"""Setting up a merchant: its country, its time zone (the one clock its dates are read on) and the policy preset
that applies, each checked before anything is written.

The preset follows the country, never the currency: China → cn-law, the EU/EEA → eu-crd, the United Kingdom →
uk-ccr, anywhere else → merchant-rules (the shop's own rules, citing no law). The time zone follows the country
where the country has one (GB → Europe/London, DE → Europe/Berlin ...); a country spanning several zones (US, CA,
AU, BR, RU, MX ...) needs one named. Both choices are written where every reader already looks — the preset in
`merchant.settings["policy_preset"]`, the zone and business calendar in the merchant's SLA settings — so pages,
numbers and deadlines all read the same clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..caches import CACHES, forget
from ..errors import Conflict, Explained
from ..i18n import ENGLISH, N_, SUPPORTED, babel_id, gettext, match, message
from .models import Merchant

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
DEFAULT_ZONE = "Asia/Shanghai"  # merchants set up before countries were asked keep this (sla.settings.DEFAULTS)
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"}
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")


def _names(lang: str) -> dict[str, str]:
    return Locale.parse(babel_id(match(lang) or ENGLISH)).territories


def countries() -> list[str]:
    """Every ISO 3166-1 alpha-2 code a merchant may name (Babel's territories, without groupings)."""
    return sorted(c for c in _names("en") if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES)


def country_name(code: str, lang: str = "en") -> str:
    return _names(lang).get(code, code)


def _in_every(words) -> dict[str, str]:
    """A list said in every language of the desk, with each language's list separator."""
    return {tag: gettext(tag, N_(", ")).join(words) for tag in SUPPORTED}


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


class SetupError(Explained):
    """A refused setup: names the field in the reader's words and language (LABELS, msgids of the catalogs); the
    problem is an English msgid with {placeholders} like Explained's; nothing was written."""

    LABELS = {"code": N_("Merchant code"), "name": N_("Shop name"), "country": N_("Country"),
                      "timezone": N_("Time zone"),
              "preset": N_("Policy preset"), "currency": N_("Currency"), "locale": N_("Language")}

    def __init__(self, field: str, text: str, *, allowed=None, status: int | None = None, **params) -> None:
        super().__init__(field, text, allowed=allowed, status=status, **params)

    def render(self, locale: str) -> dict:
        body = super().render(locale)
        label = gettext(locale, self.LABELS[self.field])
        body["message"] = message("validation", locale, field=label, problem=self.problem(locale))
        return body

    def text(self, lang: str) -> str:
        return self.render(lang)["message"]


@dataclass(frozen=True, slots=True)
class Choice:
    """What a setup resolved: each value, and whether it was derived rather than given."""

    country: str | None
    timezone: str
    preset: str
    calendar: str
    preset_derived: bool
    timezone_derived: bool


def resolve(*, country: str | None, timezone: str | None, preset: str | None, currency: str = "CNY") -> Choice:
    """Checks the three answers and fills what was left out; raises SetupError naming the first bad one."""
    from ..policy.loader import PRESETS

    code = (country or "").strip().upper() or None
    if code is not None and code not in countries():
        raise SetupError("country", N_("'{country}' is not a country code; use two letters such as CN, GB, DE or US"),
                         country=country)
    zone = (timezone or "").strip() or None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SetupError("timezone", N_("'{zone}' is not a time zone; use a name such as Europe/London or "
                                             "America/New_York"), zone=timezone) from None
    elif code is not None:
        zone = COUNTRY_ZONE.get(code)
        if zone is None:
            raise SetupError("timezone", N_("{country} has several time zones: name the shop's, e.g. America/New_York"),
                             country={tag: country_name(code, tag) for tag in SUPPORTED})
    chosen = (preset or "").strip() or None
    if chosen is not None and chosen not in PRESETS:
        raise SetupError("preset", N_("'{preset}' is not a policy preset; choose one of {presets}"),
                         allowed=list(PRESETS), preset=preset, presets=_in_every(PRESETS))
    return Choice(country=code, timezone=zone or DEFAULT_ZONE,
                  preset=chosen or preset_for_country(code, currency),
                  calendar=COUNTRY_CALENDAR.get(code or "CN", "weekdays"),
                  preset_derived=chosen is None, timezone_derived=timezone is None or not timezone.strip())


def create(session: Session, *, code: str, name: str | None = None, currency: str = "CNY",
           locale: str | None = None, country: str | None = None, timezone: str | None = None,
           preset: str | None = None, by: str = "setup") -> tuple[Merchant, Choice]:
    """Creates a merchant with its country (required: it decides the law), time zone, calendar and preset;
    everything is checked first and a refusal writes nothing."""
    from ..money import EXPONENTS
    from ..sla import settings as sla_settings

    code = (code or "").strip()
    if not CODE.match(code):
        raise SetupError("code", N_("use 2-40 lower-case letters, digits, '-' or '_', starting with a letter or digit"))
    currency = (currency or "").strip().upper()
    if currency not in EXPONENTS:
        raise SetupError("currency", N_("'{currency}' is not a currency this desk handles"), allowed=sorted(EXPONENTS),
                         currency=currency)
    if not (country or "").strip():
        raise SetupError("country", N_("say where the shop sells from, as a two-letter code such as CN, GB, DE or US"))
    choice = resolve(country=country, timezone=timezone, preset=preset, currency=currency)
    if session.scalar(select(Merchant.id).where(Merchant.code == code)) is not None:
        raise SetupError("code", N_("a merchant '{merchant}' already exists"), status=Conflict.status, merchant=code)
    if locale is None:
        locale = "zh-CN" if choice.country in (None, "CN") else "en"
    elif locale not in SUPPORTED:
        raise SetupError("locale", N_("'{locale}' is not a language of this desk"), allowed=list(SUPPORTED),
                         locale=locale)
    merchant = Merchant(code=code, name=(name or code).strip()[:200] or code, default_currency=currency,
                        default_locale=locale, country=choice.country, settings={"policy_preset": choice.preset})
    session.add(merchant)
    session.flush()
    sla_settings.save(session, merchant.id, {"timezone": choice.timezone, "calendar": choice.calendar}, by)
    forget_zone(merchant.id)
    return merchant, choice


def settle_imported(session: Session, merchant: Merchant, by: str = "import") -> None:
    """A merchant an import creates (`import-orders --create-merchant [--country CC]`): where its country has one
    time zone, that zone and the country's business calendar go into its SLA settings, as setup would write them;
    its preset follows the country (or, without one, the currency) through policy.service.default_preset."""
    from ..sla import settings as sla_settings

    zone = COUNTRY_ZONE.get(merchant.country or "")
    if zone is None:
        return  # no country, or one with several zones: the default clock, as before
    sla_settings.save(session, merchant.id, {"timezone": zone,
                                             "calendar": COUNTRY_CALENDAR.get(merchant.country, "weekdays")}, by)
    forget_zone(merchant.id)


# One clock per merchant -----------------------------------------------------------------------------------------

def zone_of(session: Session, merchant_id: int | None) -> ZoneInfo:
    """The merchant's time zone: the one clock its case and refund numbers, pages and deadlines are read on.

    The source of truth stays the SLA settings' `timezone` (what the settings page edits; Asia/Shanghai when the
    merchant never set one). Remembered per process (caches.py "merchant_zone"): saving the settings anywhere
    drops it everywhere within caches.CHECK_SECONDS, at once in the process that saved.
    """
    if merchant_id is None:
        return ZoneInfo(DEFAULT_ZONE)
    return CACHES["merchant_zone"].get(session, merchant_id, lambda: _zone(session, merchant_id), merchant_id)


def language_of(session: Session, merchant_id: int) -> str | None:
    """The merchant's default language, remembered per process (caches.py "merchant_language"; merchants/api.py
    drops it when the language is changed, everywhere within caches.CHECK_SECONDS)."""
    return CACHES["merchant_language"].get(session, merchant_id, lambda: session.scalar(
        select(Merchant.default_locale).where(Merchant.id == merchant_id)), merchant_id)


def _zone(session: Session, merchant_id: int) -> ZoneInfo:
    from ..sla.settings import for_merchant

    try:
        return ZoneInfo(for_merchant(session, merchant_id)["timezone"])
    except (KeyError, ValueError, ZoneInfoNotFoundError):
        return ZoneInfo(DEFAULT_ZONE)


def forget_zone(merchant_id: int | None = None) -> None:
    """Drops the remembered zone (of one merchant, or all) in this process (sla.settings.save already did)."""
    forget("merchant_zone", merchant_id)
