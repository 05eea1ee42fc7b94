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
