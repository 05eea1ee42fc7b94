"""Business calendar arithmetic: public holidays, make-up working days, working hours; measuring and adding agree."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from returnflow.sla import calendar

CN = calendar.load("cn-mainland")
UTC = timezone.utc


def test_spring_festival_2026_and_its_make_up_saturdays():
    assert not CN.is_working_day(date(2026, 2, 17))  # 春节
    assert CN.is_working_day(date(2026, 2, 14))  # Saturday, 调休上班
    assert CN.is_working_day(date(2026, 2, 28))
    assert not CN.is_working_day(date(2026, 2, 21))  # Saturday inside the holiday
    assert CN.is_working_day(date(2026, 2, 24))  # back to work


def test_nine_working_hours_from_the_eve_of_national_day_end_on_8_october():
    # Wednesday 2026-09-30 17:00 Shanghai: 1 h that day, 1–7 October off, then 8 h on Thursday 8 October.
    start = datetime(2026, 9, 30, 9, 0, tzinfo=UTC)
    assert calendar.add_working_time(CN, start, timedelta(hours=9)) == datetime(2026, 10, 8, 9, 0, tzinfo=UTC)
    assert calendar.working_time_between(CN, start, datetime(2026, 10, 8, 9, 0, tzinfo=UTC)) == timedelta(hours=9)


def test_outside_working_hours_the_clock_starts_next_morning():
    night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 Tuesday in Shanghai
    assert calendar.add_working_time(CN, night, timedelta(hours=1)) == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_weekdays_calendar_has_no_holidays():
    weekdays = calendar.load("weekdays", "Europe/Berlin")
    assert weekdays.is_working_day(date(2026, 10, 1)) and not weekdays.is_working_day(date(2026, 10, 3))


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1),
                        timezones=st.just(UTC))


@settings(max_examples=200, deadline=None)
@given(start=instants, minutes=st.integers(min_value=1, max_value=60 * 9 * 30))
def test_adding_working_time_then_measuring_it_gives_it_back(start, minutes):
    amount = timedelta(minutes=minutes)
    end = calendar.add_working_time(CN, start, amount)
    assert end > start
    assert calendar.working_time_between(CN, start, end) == amount


@settings(max_examples=200, deadline=None)
@given(start=instants, a=st.integers(min_value=1, max_value=3000), b=st.integers(min_value=1, max_value=3000))
def test_adding_in_two_steps_is_adding_once(start, a, b):
    one = calendar.add_working_time(CN, start, timedelta(minutes=a + b))
    two = calendar.add_working_time(CN, calendar.add_working_time(CN, start, timedelta(minutes=a)),
                                    timedelta(minutes=b))
    assert one == two
