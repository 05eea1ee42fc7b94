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

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Explained
from ..i18n import N_, SUPPORTED, gettext, message
from ..merchants.clock import DEFAULT_ZONE, forget_zone
from ..merchants.country import COUNTRY_CALENDAR, COUNTRY_ZONE, countries, country_name, preset_for_country
from ..merchants.models import Merchant
from ..policy.loader import PRESETS
from ..money import EXPONENTS
from ..sla import settings as sla_settings

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")


def _in_every(words) -> dict[str, str]:
    """A list said in every language of the desk, with each language's list separator."""
    return {tag: gettext(tag, N_(", ")).join(words) for tag in SUPPORTED}


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
    zone = COUNTRY_ZONE.get(merchant.country or "")
    if zone is None:
        return  # no country, or one with several zones: the default clock, as before
    sla_settings.save(session, merchant.id, {"timezone": zone,
                                             "calendar": COUNTRY_CALENDAR.get(merchant.country, "weekdays")}, by)
    forget_zone(merchant.id)
