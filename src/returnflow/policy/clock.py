"""Deadline arithmetic in the merchant's timezone: calendar days counted from the day after an event."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last instant of `day` in `tz` (23:59:59.999999 local)."""
    return datetime.combine(day, time.max, tzinfo=tz)


def days_window_end(event: datetime, days: int, tz: ZoneInfo) -> datetime:
    """End of an N-day window counted from the day after `event` (CN1: 签收次日起算, ends with the Nth day)."""
    return end_of_day(event.astimezone(tz).date() + timedelta(days=days), tz)


def months_window_end(event: datetime, months: int, tz: ZoneInfo) -> datetime:
    """End of a window of N calendar months from `event`'s local date (warranty; day clamped to month end)."""
    day = event.astimezone(tz).date()
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return end_of_day(date(year, month, min(day.day, last)), tz)


def day_index(event: datetime, now: datetime, tz: ZoneInfo) -> int:
    """Which day of a window `now` falls on: 0 on the event's own day, 1 the day after, and so on."""
    return (now.astimezone(tz).date() - event.astimezone(tz).date()).days
