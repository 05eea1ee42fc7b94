"""The derivation step (returnflow/derive.py): in `worker` mode a request writes its case, its event and the chain link,
and a worker round derives the rest once; a `returnflow worker` killed with SIGKILL at random points while it
derives loses nothing and doubles nothing (SQLite; PostgreSQL with two workers at once)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from returnflow.analytics.rollup import CaseSteps
from returnflow.cases.models import EventLink
from returnflow.cases.models import Case, CaseEvent, OutboxMessage
from returnflow import derive
from returnflow.derive import EventDerivation
from returnflow.jobs.worker import Worker, lag
from returnflow.cases.models import WebhookEndpoint
from returnflow.sla.models import Timer
from tests.support.flows import open_for, run
from tests.support.processes import WORKER_LOADS, Forked, Zygote, zygote
from tests.support.world import make_order, make_shop

STEPS = ("approve", "ship_return")  # after the opening: each case has three events


@pytest.fixture
def worker_mode(monkeypatch):
    """RETURNFLOW_DERIVE=worker for this process (and the processes it starts)."""
    monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")
    derive.get_derive_settings.cache_clear()
    yield
    derive.get_derive_settings.cache_clear()


def shop_with_webhook(db):
    shop = make_shop(db)
    with db.transaction() as s:
        s.add(WebhookEndpoint(merchant_id=shop.id, url="http://127.0.0.1:9/hook", secret="whsec_x", events=[]))
    return shop


def walk(db, shop, i: int) -> str:
    make_order(db, shop, number=f"O-{i}", customer=f"C-{i}")
    number = open_for(db, shop.actors["agent"], f"O-{i}", "return_refund")
    for action in STEPS:
        run(db, number, action, shop.actors["agent"])
    return number


def signature(db, number: str) -> dict:
    """What was derived for a case, without what differs between cases (ids, numbers, times)."""
    with db.read() as s:
        case_id = s.scalar(select(Case.id).where(Case.number == number))
        events = s.scalars(select(CaseEvent.id).where(CaseEvent.case_id == case_id)).all()
        derived = s.scalar(select(func.count()).select_from(EventDerivation)
                           .where(EventDerivation.event_id.in_(events)))
        messages = Counter((m.topic, m.payload.get("template") or m.payload.get("event", {}).get("type"),
                            m.payload.get("channel"))
                           for m in s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)))
        keyed = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.case_id == case_id, OutboxMessage.event_id.is_not(None)))
        timers = Counter((t.kind, t.status) for t in s.scalars(select(Timer).where(Timer.case_id == case_id)))
        steps = s.execute(select(CaseSteps).where(CaseSteps.case_id == case_id)).scalars().all()
        links = s.scalar(select(func.count()).select_from(EventLink).where(EventLink.case_id == case_id))
    return {"events": len(events), "derived": derived, "messages": dict(messages), "keyed": keyed,
            "timers": dict(timers), "links": links,
            "steps": [tuple(name for name in ("intake_at", "decision_at", "shipped_at", "received_at")
                            if getattr(row, name) is not None) for row in steps]}


def test_worker_mode_the_request_writes_no_derived_rows_a_round_derives_them_once(db, worker_mode):
    shop = shop_with_webhook(db)
    number = walk(db, shop, 1)
    before = signature(db, number)
    # The request wrote its case, its events and their chain links; nothing derived yet.
    assert before == {"events": 3, "derived": 0, "messages": {}, "keyed": 0, "timers": {}, "links": 3, "steps": []}
    backlog = lag(db)["derivation"]
    assert backlog["underived"] == 3 and backlog["oldest_seconds"] >= 0

    first = Worker(db).run_once(timers=False, messages=False)
    assert first.derived == 3 and first.derive_lag_p99 is not None
    after = signature(db, number)
    assert after["derived"] == 3
    assert after["steps"] == [("intake_at", "decision_at", "shipped_at")]  # the rollup row
    assert after["timers"].get(("customer_shipping.due", "cancelled")) == 1  # the approval's clock, ended by shipping
    assert any(status == "pending" for (_kind, status) in after["timers"])  # the clock of the step it is in now
    topics = Counter({topic: 0 for (topic, _w, _c) in after["messages"]})
    for (topic, _what, _channel), n in after["messages"].items():
        topics[topic] += n
    assert topics["webhook"] == 3  # one delivery per event to the endpoint
    assert topics["notify"] >= 3  # customer notices (opened, approved, ...) and the return instructions
    assert after["keyed"] == sum(after["messages"].values())  # every derived message carries its event
    assert lag(db)["derivation"]["underived"] == 0

    second = Worker(db).run_once(timers=False, messages=False)
    assert second.derived == 0
    assert signature(db, number) == after

    # What the worker derived is what inline mode derives right after each commit.
    os.environ["RETURNFLOW_DERIVE"] = "inline"
    derive.get_derive_settings.cache_clear()
    inline = walk(db, shop, 2)
    assert signature(db, inline) == after


def _underived(db) -> int:
    with db.read() as s:
        return derive.backlog(s)["underived"]


def _worker_env(db, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "RETURNFLOW_DATA_DIR": str(tmp_path / "data"),
            "RETURNFLOW_WORKER_POLL_SECONDS": "0.05", "RETURNFLOW_DERIVE": "worker", "RETURNFLOW_DERIVE_BATCH": "2"}


@pytest.fixture
def forks(db, tmp_path) -> Iterator[Zygote]:
    """The fork server of this test's `returnflow worker` processes (tests/support/zygote.py): it imports returnflow
    once, while the test makes its backlog, so that each of the many starts below costs no import."""
    with zygote(_worker_env(db, tmp_path), tmp_path, tmp_path / "zygote.log", WORKER_LOADS) as server:
        yield server


def _start(forks: Zygote, tmp_path: Path, name: str) -> Forked:
    """A `returnflow worker` process (forked, then the real command: tests/support/zygote.py)."""
    return forks.start(["worker", "--no-timers", "--no-outbox", "--report-every", "3600"], tmp_path / f"{name}.log",
                         append=True)


def _wait_started(tmp_path: Path, name: str, starts: int, seconds: float = 60) -> None:
    """Until the worker's log shows its `starts`-th start line (it prints it once its loop runs)."""
    deadline = time.monotonic() + seconds
    while (tmp_path / f"{name}.log").read_text(errors="replace").count("worker ") < starts:
        if time.monotonic() > deadline:
            raise AssertionError((tmp_path / f"{name}.log").read_text(errors="replace")[-3000:])
        time.sleep(0.02)


def _wait_progress(db, left: int, seconds: float = 10) -> None:
    """Until fewer than `left` events are underived (a worker has committed a batch), or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while _underived(db) >= left and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.mark.slow
def test_a_worker_killed_at_random_points_while_it_derives_loses_nothing_and_doubles_nothing(db, worker_mode,
                                                                                                tmp_path, forks):
    rng = random.Random(17)
    shop = shop_with_webhook(db)
    # The reference: a case derived in one go by a worker round, before any kill.
    reference = walk(db, shop, 0)
    Worker(db).run_once(timers=False, messages=False)
    want = signature(db, reference)
    assert want["derived"] == 3 and want["messages"] and want["timers"] and want["steps"]
    workers = 2 if db.dialect == "postgresql" else 1
    numbers = [walk(db, shop, i) for i in range(1, 1 + 60 * workers)]  # two workers: a backlog twice as long
    assert _underived(db) == 3 * len(numbers)

    names = [f"w{k}" for k in range(workers)]
    procs: dict[str, Forked] = {}
    started = Counter()
    kills_mid_way = 0
    for _round in range(60):
        left = _underived(db)
        if left == 0:
            break
        for name in names:
            procs[name] = _start(forks, tmp_path, name)
        for name in names:
            started[name] += 1
            _wait_started(tmp_path, name, started[name])
        if _round % 2:
            # Every other round once this round's derivation has begun: on a slow machine a kill soon after the
            # start line often came before the first batch, and the run then had too few kills mid-way.
            _wait_progress(db, left)
        time.sleep(rng.uniform(0.0, 0.08))  # somewhere inside a batch, between batches, or after the last
        for name in names:
            os.killpg(procs[name].pid, signal.SIGKILL)
            procs[name].wait(30)
            assert procs[name].returncode == -signal.SIGKILL
        if 0 < _underived(db) < left:
            kills_mid_way += 1
    assert kills_mid_way >= 3, "the kills should land while the backlog was being derived"
    # Whatever the kills left, a worker finishes (a clean round) — and derives each event once.
    Worker(db).run_once(timers=False, messages=False)
    assert _underived(db) == 0
    for number in numbers:
        assert signature(db, number) == want, number
    with db.read() as s:
        events = s.scalar(select(func.count()).select_from(CaseEvent))
        marks = s.scalar(select(func.count()).select_from(EventDerivation))
        doubled = s.execute(select(OutboxMessage.event_id, OutboxMessage.event_item).where(
            OutboxMessage.event_id.is_not(None)).group_by(OutboxMessage.event_id, OutboxMessage.event_item)
            .having(func.count() > 1)).all()
    assert marks == events and doubled == []


def test_a_timer_of_a_case_with_underived_events_waits_for_their_derivation(db, worker_mode):
    from datetime import timedelta

    from returnflow.sla.timers import fire_due

    shop = shop_with_webhook(db)
    make_order(db, shop, number="O-1")
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    Worker(db).run_once(timers=False, messages=False)  # the opening's review clock starts
    with db.read() as s:
        due = s.scalar(select(Timer.due_at).where(Timer.kind == "review.due", Timer.status == "pending"))
    assert due is not None
    run(db, number, "approve", shop.actors["agent"])  # ends the review step; its derivation is still to come
    late = due + timedelta(seconds=1)
    waited = fire_due(db, now=late)
    assert waited.fired == 0 and waited.retried >= 1  # the missed review deadline does not fire meanwhile
    Worker(db).run_once(timers=False, messages=False)
    with db.read() as s:
        review = set(s.scalars(select(Timer.status).where(Timer.kind.like("review.%"))))
    assert review == {"cancelled"}
    fire_due(db, now=late)
    with db.read() as s:
        actions = s.scalars(select(CaseEvent.action).order_by(CaseEvent.seq)).all()
    assert actions == ["open", "approve"]  # no escalation for a step that had ended


def test_a_sqlite_worker_leaves_the_write_lock_between_full_batches_for_twice_as_long_as_a_batch_held_it(
        db, monkeypatch):
    """SQLite has one writer: between full batches the worker lets waiting requests in, for twice the batch's time
    (at least YIELD_MIN, at most GATHER). A fixed pause capped what it could derive below what a server writes."""
    from returnflow.jobs import worker as worker_module

    clock = [100.0]
    batches = iter([(50, 0.025), (50, 0.002), (50, 0.200), (10, 0.001)])  # (events, seconds the batch took)

    def fake_batch(_engine, *, limit):
        events, took = next(batches)
        clock[0] += took
        return derive.Derived(events=events)

    pauses: list[float] = []
    monkeypatch.setattr(derive, "derive_batch", fake_batch)
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(worker_module.time, "sleep", pauses.append)
    monkeypatch.setattr(derive, "get_derive_settings", lambda: derive.DeriveSettings(derive_batch=50))  # both databases
    result = worker_module.Round()
    Worker(db, timers=False, messages=False)._derive(result)
    assert result.derived == 160
    if db.dialect == "sqlite":
        assert pauses == pytest.approx([0.050, worker_module.YIELD_MIN, worker_module.GATHER])
    else:
        assert pauses == []  # PostgreSQL: the requests never wait for the worker's transaction


def test_while_deliveries_keep_the_worker_busy_it_derives_at_most_every_gather_seconds(db, monkeypatch):
    """Rounds that only deliver (a lane finished, more to send) leave the derivation out until GATHER has passed
    since the last one: deriving on each of them made batches of a few events, each paying the batch's fixed
    statements, and under load the worker fell behind."""
    import threading

    from returnflow.jobs import worker as worker_module

    calls: list[float] = []

    def fake_batch(_engine, *, limit):
        calls.append(time.monotonic())
        return derive.Derived()

    class BusyLanes:  # every round starts a delivery: the loop never waits
        def __init__(self, *_args, **_kwargs) -> None:
            pass

        def pump(self) -> int:
            return 1

        def close(self) -> None:
            pass

    monkeypatch.setattr(derive, "derive_batch", fake_batch)
    monkeypatch.setattr(worker_module, "Dispatcher", BusyLanes)
    worker = Worker(db, timers=False)
    thread = threading.Thread(target=worker.run)
    started = time.monotonic()
    thread.start()
    time.sleep(0.5)
    worker.stop.set()
    thread.join(5)
    took = time.monotonic() - started
    assert not thread.is_alive()
    assert 1 <= len(calls) <= took / worker_module.GATHER + 1, (len(calls), took)
    assert all(b - a >= worker_module.GATHER * 0.9 for a, b in zip(calls, calls[1:]))


def test_a_derivation_batch_is_50_events_on_sqlite_and_200_on_postgresql_unless_the_deployment_says(monkeypatch):
    """SQLite's batch holds the one write lock (small batches let the requests in); PostgreSQL's holds nothing others
    wait for, and bigger batches keep one worker up with a loaded server (docs/scale-out.md)."""
    monkeypatch.delenv("RETURNFLOW_DERIVE_BATCH", raising=False)
    assert derive.DeriveSettings().batch_for("sqlite") == 50
    assert derive.DeriveSettings().batch_for("postgresql") == 200
    monkeypatch.setenv("RETURNFLOW_DERIVE_BATCH", "7")
    assert derive.DeriveSettings().batch_for("sqlite") == derive.DeriveSettings().batch_for("postgresql") == 7
    monkeypatch.setenv("RETURNFLOW_DERIVE_BATCH", "0")
    with pytest.raises(ValueError):
        derive.DeriveSettings()
