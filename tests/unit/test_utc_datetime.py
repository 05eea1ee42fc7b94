"""UTCDateTime (returnflow/db.py) binds a timestamp on SQLite as the text SQLAlchemy's own chain writes — its
process_bind_param, then SQLite DATETIME's format — for every datetime, naive (UTC) or with any offset; SQLite
compares these texts, so a different spelling would misorder rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given, strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.type_api import TypeDecorator

from returnflow.db import UTCDateTime

SQLITE = sqlite.dialect()
OURS = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
THEIRS = TypeDecorator.bind_processor(UTCDateTime().dialect_impl(SQLITE), SQLITE)  # the chain, as SQLAlchemy has it

offsets = st.one_of(st.none(), st.just(timezone.utc),
                    st.integers(min_value=-14 * 60, max_value=14 * 60).map(
                        lambda m: timezone(timedelta(minutes=m))))


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)), offsets)
def test_a_timestamp_is_written_as_sqlalchemys_chain_writes_it(moment, tz):
    value = moment.replace(tzinfo=tz)
    assert OURS(value) == THEIRS(value)
    assert len(OURS(value)) == 26 and OURS(value)[10] == " "


def test_none_a_date_and_postgresql_are_left_to_sqlalchemy():
    assert OURS(None) is None
    day = date(2026, 10, 3)
    try:
        expected = THEIRS(day)
    except AttributeError as error:  # a date has no tzinfo: refused the same way
        expected = type(error)
    try:
        got = OURS(day)
    except AttributeError as error:
        got = type(error)
    assert got == expected
    pg = postgresql.dialect()
    process = UTCDateTime().dialect_impl(pg).bind_processor(pg)
    moment = datetime(2026, 10, 3, 8, 15, 30, 123456, tzinfo=timezone(timedelta(hours=8)))
    bound = process(moment) if process else moment
    assert bound == moment.astimezone(timezone.utc) and isinstance(UTCDateTime().impl, DateTime)
