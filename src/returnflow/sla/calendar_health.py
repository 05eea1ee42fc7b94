"""Calendars that do not run out silently: a calendar kept as yearly data (mainland China's holidays are announced
each year) knows only the years written into it. A deadline in a year it does not know would be counted as ordinary
weeks, so the missing year is reported — the current year always, the next one from November — in `/healthz`
and on the console, until the year's file lands or the merchant enters the year's days in its SLA settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..i18n import N_, gettext
from ..merchants.models import Merchant
from . import calendar
from . import settings as sla_settings
from .models import SlaSettings

WARN_FROM_MONTH = 11  # from November, next year's missing calendar is a warning

MISSING_YEAR = N_("The working calendar “{calendar}” has no public holidays for {year}: deadlines in {year} would be "
                  "counted as ordinary weeks. Update returnflow, or enter {year}'s holidays and make-up working days in "
                  "the SLA settings.")


@dataclass(frozen=True)
class Gap:
    merchant: str
    calendar: str
    year: int

    def message(self, locale: str) -> str:
        name = gettext(locale, calendar.NAMES[self.calendar]) if self.calendar in calendar.NAMES else self.calendar
        return gettext(locale, MISSING_YEAR).format(calendar=name, year=self.year)


def missing_years(settings: dict, today: date) -> list[int]:
    """The years the merchant's calendar should know by `today` (in its time zone) but does not."""
    known = calendar.known_years(settings["calendar"], tuple(settings.get("calendar_years") or ()))
    if known is None:
        return []
    wanted = [today.year] + ([today.year + 1] if today.month >= WARN_FROM_MONTH else [])
    return [year for year in wanted if year not in known]


def local_today(settings: dict, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(settings["timezone"])).date()


def gaps(session: Session, now: datetime | None = None, merchant_id: int | None = None) -> list[Gap]:
    """Every merchant's (or one merchant's) missing calendar years at `now`."""
    query = select(Merchant.id, Merchant.code, SlaSettings.settings).outerjoin(
        SlaSettings, SlaSettings.merchant_id == Merchant.id).order_by(Merchant.code)
    if merchant_id is not None:
        query = query.where(Merchant.id == merchant_id)
    found = []
    for _id, code, raw in session.execute(query):
        settings = sla_settings.validate(raw) if raw else sla_settings.DEFAULTS
        for year in missing_years(settings, local_today(settings, now)):
            found.append(Gap(code, settings["calendar"], year))
    return found
