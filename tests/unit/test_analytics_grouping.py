"""The returned lines' groupings: counting a case once per group from lines ordered by case gives what the set of
(group, case) pairs gives, for cases with several lines in one group and in several groups."""

from __future__ import annotations

import random

import pytest

from returnflow.analytics.cube import EXTRAS, _aggregate, _aggregate_sorted, _case_id, _group_key


def _lines(seed: int) -> list[tuple]:
    rnd = random.Random(seed)
    out = []
    for case_id in rnd.sample(range(1, 10_000), 400):
        for _ in range(rnd.choice((1, 1, 2, 3, 5))):  # several lines, often of the same SKU, bucket or reason
            units = rnd.randint(1, 4)
            value = units * rnd.randint(100, 9_999)
            out.append((case_id, rnd.choice(("SKU-A", "SKU-B", "SKU-C")), rnd.choice(("2026-10-05", "2026-10-12")),
                        rnd.choice(("quality_issue", "not_as_described", "wrong_size", None)),
                        rnd.choice(("CNY", "CNY", "USD")), units, value, rnd.choice((0, value))))
    rnd.shuffle(out)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("keyed", [True, False])
@pytest.mark.parametrize("extra", (None, *EXTRAS))
def test_counting_cases_from_ordered_lines_equals_the_pairs(seed, keyed, extra):
    lines = _lines(seed)
    expected = _aggregate(lines, keyed, extra)
    got = _aggregate_sorted(sorted(lines, key=_case_id), keyed, extra)
    assert got == expected
    # Not vacuous: some group holds a case with more than one line, so counting lines would differ.
    assert any(s[0] < len([1 for line in lines if _group(line, keyed, extra) == g]) for g, s in expected.items())


def _group(line: tuple, keyed: bool, extra: str | None) -> tuple:
    return _group_key(keyed, extra)(line)
