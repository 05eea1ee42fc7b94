"""The platform's dashboard (every merchant) is served from a snapshot at most five minutes old, which the worker
keeps fresh while someone looks at it; a merchant's dashboard stays live (analytics/snapshots.py)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import select, update

from returnflow.analytics import snapshots
from returnflow.analytics.report import Column, Report
from returnflow.auth.service import create_user
from returnflow.db import utcnow
from returnflow.jobs.worker import Worker
from tests.api.test_analytics_api import OCT, at, build_world, case, order
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # the world's history is dated October 2026

DASHBOARD = "/api/v1/analytics/dashboard"
TABLE = snapshots.TABLE


@pytest.fixture
def world(db):
    return build_world(db)


def tiles_of(body: dict) -> dict:
    return {t["report"]: t for t in body["tiles"]}


def counted(body: dict) -> int:
    """The open cases the backlog tile counts (one more when a case is opened)."""
    return tiles_of(body)["backlog"]["totals"]["open"]


def another_case(db, shop, number: str, day: int) -> None:
    """An order of `shop` and a return opened on it, in October."""
    order(db, shop, number, "CN", "C-9", day, [("SKU-A", "kitchen", "100.00", 1)])
    case(db, shop, number, "return_refund", 1, 1, "wrong_size", at(day))


def age(db, seconds: float, **values) -> None:
    """Moves every snapshot's times `seconds` into the past (as if it had been computed that long ago)."""
    with db.transaction() as tx:
        for row in tx.execute(select(TABLE.c.key, TABLE.c.computed_at, TABLE.c.requested_at)).all():
            tx.execute(update(TABLE).where(TABLE.c.key == row.key).values(
                computed_at=row.computed_at - timedelta(seconds=seconds),
                requested_at=row.requested_at - timedelta(seconds=seconds), **values))


def test_the_platform_view_is_served_from_its_snapshot_until_it_is_five_minutes_old(client, db, world):
    shop, other, _empty, _cases, platform = world
    first = client.get(DASHBOARD, headers=platform, params=OCT)
    assert first.status_code == 200, first.text
    kept = first.json()["snapshot"]
    assert kept["live"] is True and kept["kept_seconds"] == 300 and kept["computed_in_ms"] >= 0
    # Asked again: the same tiles, from the snapshot, with the moment they were computed.
    again = client.get(DASHBOARD, headers=platform, params=OCT).json()
    assert again["snapshot"]["live"] is False and again["snapshot"]["as_of"] == kept["as_of"]
    assert again["tiles"] == first.json()["tiles"] and again["filters"] == first.json()["filters"]
    before = counted(again)
    # A case opened meanwhile: the snapshot does not show it yet; a merchant's own dashboard (live) does at once.
    mine = client.get(DASHBOARD, headers=other.headers("supervisor"), params=OCT).json()
    assert "snapshot" not in mine
    another_case(db, other, "X-20", 20)
    assert counted(client.get(DASHBOARD, headers=other.headers("supervisor"), params=OCT).json()) == counted(mine) + 1
    assert counted(client.get(DASHBOARD, headers=platform, params=OCT).json()) == before
    # `fresh` computes it now (and keeps that).
    fresh = client.get(DASHBOARD, headers=platform, params={**OCT, "fresh": "1"}).json()
    assert fresh["snapshot"]["live"] is True and counted(fresh) == before + 1
    assert counted(client.get(DASHBOARD, headers=platform, params=OCT).json()) == before + 1
    # Another case; once the snapshot is more than five minutes old a request computes it again.
    another_case(db, shop, "O-21", 21)
    age(db, 299)
    assert counted(client.get(DASHBOARD, headers=platform, params=OCT).json()) == before + 1
    age(db, 2)
    late = client.get(DASHBOARD, headers=platform, params=OCT).json()
    assert late["snapshot"]["live"] is True and counted(late) == before + 2
    # Other filters are another snapshot; naming one merchant is that merchant's live view.
    november = client.get(DASHBOARD, headers=platform, params={"from": "2026-11-01", "to": "2026-11-30"}).json()
    assert november["snapshot"]["live"] is True and november["filters"]["from"] == "2026-11-01"
    with db.read() as session:
        assert len(session.scalars(select(TABLE.c.key)).all()) == 2
    named = client.get(DASHBOARD, headers=platform, params={**OCT, "merchant": "other"}).json()
    assert "snapshot" not in named
    # Bad filters are refused before any snapshot is looked for, naming the field.
    bad = client.get(DASHBOARD, headers=platform, params={"from": "2026-13-01"})
    assert bad.status_code == 422 and "from" in bad.text


def test_the_worker_keeps_a_watched_snapshot_fresh_and_forgets_the_rest(client, db, world):
    shop, other, _empty, _cases, platform = world
    before = counted(client.get(DASHBOARD, headers=platform, params=OCT).json())
    another_case(db, other, "X-22", 22)
    worker = Worker(db)
    # Not yet due (computed under three minutes ago): the worker leaves it.
    assert worker._run_jobs(utcnow() + timedelta(seconds=60), worker_jobs()) == 0
    # Someone looked within the hour and it is three minutes old: the worker computes it again, and a request is
    # then served the new figures from the snapshot, without computing.
    age(db, 200)
    assert worker._run_jobs(None, worker_jobs()) == 1
    served = client.get(DASHBOARD, headers=platform, params=OCT).json()
    assert served["snapshot"]["live"] is False and counted(served) == before + 1
    # Claimed by another worker (its claim not expired): left to it.
    age(db, 200, claimed_until=utcnow() + timedelta(seconds=60))
    assert worker._run_jobs(None, worker_jobs()) == 0
    # A new merchant: the snapshot is of yesterday's set of merchants; the worker drops it, a request makes anew.
    make_shop(db, "newcomer")
    age(db, 0, claimed_until=None)
    assert worker._run_jobs(None, worker_jobs()) == 0
    with db.read() as session:
        assert session.scalar(select(TABLE.c.key)) is None
    body = client.get(DASHBOARD, headers=platform, params=OCT).json()
    assert body["snapshot"]["live"] is True and counted(body) == before + 1
    # Nobody looked for more than an hour: no longer refreshed; for more than a day: deleted.
    age(db, 3700)
    assert worker._run_jobs(None, worker_jobs()) == 0
    with db.read() as session:
        assert session.scalar(select(TABLE.c.key)) is not None
    age(db, 86400)
    worker._run_jobs(None, worker_jobs())
    with db.read() as session:
        assert session.scalar(select(TABLE.c.key)) is None


def worker_jobs() -> tuple:
    from returnflow.bootstrap import BACKGROUND_JOBS

    return BACKGROUND_JOBS


def test_the_console_says_when_the_platform_figures_were_computed_and_updates_them(app, client, db, world):
    from tests.support.asgi import TestClient
    from tests.support.portal import sign_in_staff

    with db.transaction() as session:
        create_user(session, email="ops@platform.test", name="Ops", role="platform", merchant_id=None,
                    password="pw-platform-ops")
    web = TestClient(app, headers={"Accept-Language": "zh-CN"})
    sign_in_staff(web, "ops@platform.test", "pw-platform-ops")
    page = web.get("/staff/analytics", params=OCT)
    assert page.status_code == 200
    said = re.search(r'<p class="muted snapshot">(.*?)<a href="([^"]+)">(.*?)</a>', page.text)
    assert said, page.text[:2000]
    with db.read() as session:
        as_of = session.scalar(select(TABLE.c.computed_at))
    local = as_of.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")  # the platform's clock
    assert local in said.group(1) and "5" in said.group(1) and "所有商家" in said.group(1), said.group(1)
    assert said.group(3) == "立即更新"
    update_link = said.group(2).replace("&amp;", "&")
    assert "fresh=1" in update_link and "from=2026-10-01" in update_link
    # "Update now" computes the figures, keeps them, and goes back to the page's own address (no `fresh` left in it
    # to compute again on a reload), which then shows the new time.
    updated = web.get(update_link, follow_redirects=False)
    assert updated.status_code == 303, updated.text[:500]
    assert "fresh" not in updated.headers["location"] and "from=2026-10-01" in updated.headers["location"]
    with db.read() as session:
        session_computed = session.scalar(select(TABLE.c.computed_at))
    assert session_computed > as_of
    computed = web.get(updated.headers["location"])
    shown = session_computed.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert computed.status_code == 200 and shown in computed.text
    english = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(english, "ops@platform.test", "pw-platform-ops")
    assert "All merchants' figures as of" in english.get("/staff/analytics", params=OCT).text
    # A merchant's supervisor reads live figures: no such line.
    sign_in_staff(web, "supervisor@shop.test", "pw-supervisor")
    assert 'class="muted snapshot"' not in web.get("/staff/analytics", params=OCT).text


# --- what a snapshot keeps comes back equal ---

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=8),
                  st.floats(allow_nan=False, allow_infinity=False),
                  st.decimals(allow_nan=False, allow_infinity=False, places=2),
                  st.dates(), st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8))])))
_values = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=4), st.sampled_from(["$", "v"])), inner, max_size=4),
    st.dictionaries(st.integers(-1000, 1000), inner, max_size=3)), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.dictionaries(st.text(max_size=6), _values, max_size=4), max_size=4), totals=_values,
       extra=st.dictionaries(st.text(max_size=6), _values, max_size=3))
def test_a_kept_report_comes_back_equal(rows, totals, extra):
    report = Report(name="trend", title="Trend", columns=[Column("key", "Key", "键", "text")], rows=rows,
                    status="ok", note=None, totals=totals if isinstance(totals, dict) else {"x": totals},
                    extra=extra, title_params={"limit": 10})
    back = snapshots.unpack(snapshots.pack([report]))
    assert back == [report]
    assert [type(v) for r in back[0].rows for v in r.values()] == [type(v) for r in rows for v in r.values()]


def test_a_value_a_snapshot_cannot_keep_is_refused_not_changed():
    report = Report(name="trend", title="Trend", columns=[], rows=[{"when": date(2026, 10, 1), "x": {1, 2}}])
    try:
        snapshots.pack([report])
    except TypeError as exc:
        assert "set" in str(exc)
    else:
        raise AssertionError("a set was kept")
    assert Decimal("1.50") == snapshots.unpack(snapshots.pack([Report("t", "T", [], [{"a": Decimal("1.50")}])]))[0] \
        .rows[0]["a"]


def test_a_running_worker_refreshes_a_watched_snapshot_on_its_background_thread(client, db, world):
    """The worker's loop (`Worker.run`), as `serve` and `returnflow worker` run it: its background thread computes
    the watched snapshot again while the loop goes on deriving."""
    import threading
    import time

    _shop, other, _empty, _cases, platform = world
    before = counted(client.get(DASHBOARD, headers=platform, params=OCT).json())
    another_case(db, other, "X-23", 23)
    age(db, 200)
    with db.read() as session:
        old = session.scalar(select(TABLE.c.computed_at))
    # Its timers stay off: run on today's clock they would fire October's deadlines and move cases on meanwhile.
    worker = Worker(db, timers=False, messages=False)
    thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.read() as session:
                if session.scalar(select(TABLE.c.computed_at)) > old:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the worker did not compute the snapshot again within 30 s")
    finally:
        worker.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    served = client.get(DASHBOARD, headers=platform, params=OCT).json()
    assert served["snapshot"]["live"] is False and counted(served) == before + 1
    assert datetime.fromisoformat(served["snapshot"]["as_of"]) > old
