"""Tracking events may arrive late, twice, or in any order: the parcel ends in the same status regardless."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from returnflow.logistics import adapters
from returnflow.logistics.adapters import TrackingUpdate

T0 = datetime(2026, 11, 24, tzinfo=timezone.utc)
events = st.builds(
    lambda status, minutes: TrackingUpdate("SF", "SF1234567890123", status, T0 + timedelta(minutes=minutes),
                                           status, "", "", "generic"),
    st.sampled_from(adapters.STATUSES + (adapters.UNKNOWN,)), st.integers(0, 60 * 24 * 10))


def fold(updates):
    status, at = None, None
    for update in updates:
        status, at = adapters.advance(status, at, update)
    return status, at


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=25), st.randoms(use_true_random=False), st.integers(0, 5))
def test_any_arrival_order_with_duplicates_ends_in_the_newest_events_status(updates, rnd, repeats):
    shuffled = list(updates) + [rnd.choice(updates) for _ in range(repeats)] if updates else []
    rnd.shuffle(shuffled)
    newest = adapters.latest(updates)
    assert fold(shuffled) == fold(updates) == ((newest.status, newest.occurred_at) if newest else (None, None))
