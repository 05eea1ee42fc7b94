"""The one cell function every CSV and XLSX writer uses: formula text quoted, plain numbers untouched."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from returnflow.sheets import TRIGGERS, cell


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9))
def test_amounts_written_as_plain_numbers_pass_unchanged(amount: Decimal):
    assert cell(f"{amount:f}") == f"{amount:f}"
    assert cell(amount) == amount


@given(st.sampled_from(TRIGGERS), st.text())
def test_text_starting_with_a_trigger_is_quoted(first: str, rest: str):
    text = first + rest + "x"  # never a plain number
    assert cell(text) == "'" + text


@given(st.text())
def test_other_text_passes_unchanged(text: str):
    if not text.startswith(TRIGGERS):
        assert cell(text) == text
