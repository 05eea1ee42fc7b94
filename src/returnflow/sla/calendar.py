"""Business calendars: working hours on working days, with public holidays and make-up working days as data.

Deadline arithmetic is plain functions over plain data (no I/O beyond loading the bundled calendar files once):
`add_working_time` moves a start instant forward by an amount of working time; `working_time_between` measures
how much working time lies between two instants (what remains of a clock when a case pauses).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from ..i18n import N_

CALENDARS = Path(__file__).parent / "calendars"
MAX_DAYS = 3 * 366  # no promise reaches further than this; a longer search means a calendar with no working day
# Public holidays computed by the `holidays` library (rules per country, any year) for the EU and UK presets'
# merchants: calendar name → (country, subdivision). Mainland China stays a data file: its holidays and make-up
# working days are announced each year by the State Council, not computed by a rule.
LIBRARY: dict[str, tuple[str, str | None]] = {
    "gb-eng": ("GB", "ENG"), "gb-sct": ("GB", "SCT"), "gb-wls": ("GB", "WLS"), "gb-nir": ("GB", "NIR"),
    "ie": ("IE", None), "de": ("DE", None), "fr": ("FR", None), "it": ("IT", None), "es": ("ES", None),
    "nl": ("NL", None), "be": ("BE", None), "at": ("AT", None), "pl": ("PL", None), "se": ("SE", None),
    "dk": ("DK", None), "fi": ("FI", None), "pt": ("PT", None), "cz": ("CZ", None), "gr": ("GR", None),
}
LIBRARY_YEARS = range(2015, 2046)

# The bundled calendars' names in words (English msgids, translated from the catalogs where shown).
NAMES = {"cn-mainland": N_("Mainland China (State Council holidays and make-up days)"),
         "weekdays": N_("Monday to Friday, no public holidays")}


@dataclass(frozen=True)
class BusinessCalendar:
    """Which local days are working days, and the working hours on them."""

    name: str
    tz: ZoneInfo
    start: time = time(9, 0)
    end: time = time(18, 0)
    weekend: frozenset[int] = frozenset({6, 7})
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)  # make-up working days (调休) on weekends
    # The years whose holidays the calendar knows; None: every year (a rule-based or holiday-less calendar).
    years: frozenset[int] | None = None

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.isoweekday() not in self.weekend

    def _window(self, day: date) -> tuple[datetime, datetime]:
        return datetime.combine(day, self.start, self.tz), datetime.combine(day, self.end, self.tz)


def available() -> list[str]:
    """The names of the bundled calendars: data files, then the library's countries."""
    return sorted(p.stem for p in CALENDARS.glob("*.toml")) + sorted(LIBRARY)


@lru_cache
def _data(name: str) -> dict:
    if name in LIBRARY:
        import holidays

        country, subdiv = LIBRARY[name]
        days = holidays.country_holidays(country, subdiv=subdiv, years=LIBRARY_YEARS)
        return {"name": name, "weekend": [6, 7], "library": True,
                "years": {str(y): {"holidays": sorted(d.isoformat() for d in days if d.year == y)}
                          for y in LIBRARY_YEARS}}
    path = CALENDARS / f"{name}.toml"
    if not path.is_file() or name not in available():
        raise KeyError(name)
    return tomllib.loads(path.read_text(encoding="utf-8"))


def known_years(name: str, own_years: tuple[int, ...] = ()) -> frozenset[int] | None:
    """The years whose public holidays calendar `name` knows, with the years a merchant completed itself; None when
    the calendar has no yearly list to run out of (weekdays only, or computed by rule)."""
    data = _data(name)
    if data.get("library") or "years" not in data:
        return None
    return frozenset(int(y) for y in data["years"]) | frozenset(own_years)


@lru_cache(maxsize=256)
def load(name: str, tz: str = "Asia/Shanghai", start: str = "09:00", end: str = "18:00",
         own_holidays: tuple[str, ...] = (), own_workdays: tuple[str, ...] = (),
         own_years: tuple[int, ...] = ()) -> BusinessCalendar:
    """The bundled calendar `name` with the given working hours and timezone, plus the merchant's own closure days
    and extra working days (ISO dates; an own day overrides the bundled calendar's)."""
    data = _data(name)
    holidays = {date.fromisoformat(d) for year in data.get("years", {}).values() for d in year.get("holidays", [])}
    workdays = {date.fromisoformat(d) for year in data.get("years", {}).values() for d in year.get("workdays", [])}
    own_off = {date.fromisoformat(d) for d in own_holidays}
    own_on = {date.fromisoformat(d) for d in own_workdays}
    holidays = (holidays - own_on) | own_off
    workdays = (workdays - own_off) | own_on
    return BusinessCalendar(name=name, tz=ZoneInfo(tz), start=time.fromisoformat(start), end=time.fromisoformat(end),
                            weekend=frozenset(data.get("weekend", [])), holidays=frozenset(holidays),
                            workdays=frozenset(workdays), years=known_years(name, own_years))


def add_working_time(cal: BusinessCalendar, start: datetime, amount: timedelta) -> datetime:
    """The instant when `amount` of working time has passed after `start` (counting only working hours)."""
    remaining = amount
    local = start.astimezone(cal.tz)
    day = local.date()
    if remaining <= timedelta(0):
        return start
    for _ in range(MAX_DAYS):
        if cal.is_working_day(day):
            open_, close = cal._window(day)
            begin = max(open_, local)
            if begin < close:
                span = close - begin
                if remaining <= span:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= span
        day += timedelta(days=1)
    raise ValueError(f"calendar {cal.name} has no working time within {MAX_DAYS} days of {start.isoformat()}")


def working_time_between(cal: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """The working time that lies between `start` and `end` (zero if end is not after start)."""
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    day = start.astimezone(cal.tz).date()
    last = end.astimezone(cal.tz).date()
    while day <= last:
        if cal.is_working_day(day):
            open_, close = cal._window(day)
            lo, hi = max(open_, start), min(close, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total
