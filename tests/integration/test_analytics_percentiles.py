"""The SQL percentiles equal the nearest-rank definition computed in Python, on both databases."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Integer, literal, null, select, union_all

from returnflow.analytics.sql import PERCENTILES, percentile_select


def nearest_rank(values: list[int], p: int) -> int | None:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1] if ordered else None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=60),
       gaps=st.integers(min_value=0, max_value=5))
def test_sql_percentiles_are_exact_nearest_rank(database, values, gaps):
    # Missing durations (NULL: the case never reached the step) must not count or shift the ranks.
    rows = [select(literal(v, Integer).label("d")) for v in values]
    rows += [select(null().label("d")) for _ in range(gaps)]
    durations = union_all(*rows).subquery("durations")
    with database.read() as session:
        row = session.execute(percentile_select(durations, ["d"])).mappings().one()
    assert row["d_n"] == len(values)
    for p in PERCENTILES:
        assert row[f"d_p{p}"] == nearest_rank(values, p), p


def test_the_reports_settings_hold_for_their_transaction_only(database):
    """`prepare` and `row_by_row` set PostgreSQL's planner settings for the report's transaction (one statement
    each): in it they hold, `row_by_row` turns its joins back on at its end, and the next transaction has the
    server's own settings again. SQLite gets its page cache instead."""
    from sqlalchemy import text

    from returnflow.analytics.sql import prepare, row_by_row

    def show(session, name: str) -> str:
        return session.execute(text(f"SHOW {name}")).scalar()

    with database.read() as session:
        prepare(session)
        if database.dialect != "postgresql":
            assert session.execute(text("PRAGMA cache_size")).scalar() == -32768
            return
        defaults = {name: show(session, name) for name in ("enable_hashjoin", "enable_mergejoin")}
        assert (show(session, "random_page_cost"), show(session, "jit"), show(session, "work_mem")) == (
            "1.1", "off", "64MB")
        with row_by_row(session):
            assert (show(session, "enable_hashjoin"), show(session, "enable_mergejoin")) == ("off", "off")
        assert (show(session, "enable_hashjoin"), show(session, "enable_mergejoin")) == ("on", "on")
    with database.read() as session:
        assert show(session, "work_mem") != "64MB" and show(session, "random_page_cost") != "1.1"
        assert {name: show(session, name) for name in defaults} == defaults
