"""The policy settings form edits only its keys of the merchant's file: every other line and comment stays, and
the result loads with exactly the values typed."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings, strategies as st

from returnflow.pages.settings_policy import COUNTED_FROM, KNOBS, PAYERS, draft_from_knobs, set_key
from returnflow.policy.errors import PolicyError
from returnflow.policy.loader import PRESETS, load_policy

KNOB_FIELDS = {name for name, _ in KNOBS} | {"policy.extends"}

BASE = """# Acme policy, kept by hand
[policy]
id = "acme"
extends = "cn-law"  # the statutory minimum

[fees]
restocking_percent = 5

[lists]
block_skus = ["SKU-RECALLED"]
"""

amounts = st.decimals(min_value=0, max_value=999_999, places=2).map(lambda d: format(d, "f"))


@settings(max_examples=60, deadline=None)
@given(days=st.integers(1, 3650), counted=st.sampled_from(sorted(COUNTED_FROM)), payer=st.sampled_from(sorted(PAYERS)),
       preset=st.sampled_from(sorted(PRESETS)), auto=amounts, above=amounts)
def test_the_knobs_land_in_the_file_and_nothing_else_changes(days, counted, payer, preset, auto, above):
    form = {"policy.extends": preset, "window.days": str(days), "window.counted_from": counted,
            "shipping.no_reason_payer": payer, "approval.auto_max_amount": auto,
            "approval.supervisor_above_amount": above}
    source, typed, errors = draft_from_knobs(BASE, form, "acme")
    assert errors == {} and typed["window.days"] == str(days)
    data = tomllib.loads(source)
    assert data["policy"]["extends"] == preset and data["window"]["days"] == days
    assert data["window"]["counted_from"] == counted and data["shipping"]["no_reason_payer"] == payer
    assert data["fees"] == {"restocking_percent": 5} and data["lists"] == {"block_skus": ["SKU-RECALLED"]}
    assert "# Acme policy, kept by hand" in source
    # The loader takes it, or refuses it on a field the page can point at: a knob, or the rest of the file.
    try:
        load_policy(source, source="policy.toml")
    except PolicyError as exc:
        assert exc.field in KNOB_FIELDS | {"fees.restocking_percent"}, exc
        assert exc.line is not None


@given(value=st.text(max_size=12).filter(lambda v: not v.strip().isdigit()))
def test_a_window_that_is_not_a_whole_number_is_refused_on_its_field(value):
    source, _typed, errors = draft_from_knobs(BASE, {"window.days": value}, "acme")
    if value.strip():
        assert set(errors) == {"window.days"}
    else:
        assert errors == {} and "[window]" not in source  # empty: left to the preset


def test_emptying_a_knob_removes_only_its_line():
    with_days = set_key(BASE, "window", "days", "15")
    assert set_key(with_days, "window", "days", None).count("days") == 0
    assert set_key(with_days, "window", "days", None).count("restocking_percent = 5") == 1
