"""Real `returnflow worker` processes: two racing over 10,000 due timers fire each exactly once; a worker killed
mid-batch loses nothing and doubles nothing (its transaction rolls back; its outbox leases run out)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from returnflow.cases.models import OutboxMessage
from returnflow.db import utcnow
from returnflow.notify.models import InAppMessage
from returnflow.sla.models import Timer
from returnflow.sla.timers import schedule
from tests.conftest import BACKENDS
from tests.support.flows import open_for
from tests.support.processes import WORKER_LOADS, Forked, Zygote, zygote
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.slow
N = 10_000


def due_timers(db, n: int, cases: int = 20) -> None:
    """`n` reminder timers, already due, spread over `cases` cases (each firing writes one staff notice)."""
    shop = make_shop(db)
    numbers = []
    for i in range(cases):
        make_order(db, shop, number=f"O-{i}")
        numbers.append(open_for(db, shop.actors["agent"], f"O-{i}", "return_refund"))
    with db.transaction() as s:
        ids = [r for r in s.execute(select(Timer.case_id).distinct()).scalars()]
        s.execute(Timer.__table__.delete())
        past = utcnow() - timedelta(minutes=5)
        for k in range(n):
            schedule(s, merchant_id=shop.id, case_id=ids[k % len(ids)], kind="review.remind", due_at=past,
                     payload={"step": "review"}, rule="SLA.review")


def worker_env(db, tmp_path: Path, **env) -> dict[str, str]:
    return {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "RETURNFLOW_DATA_DIR": str(tmp_path / "data"),
            "RETURNFLOW_WORKER_POLL_SECONDS": "0.05", **env}


@contextmanager
def worker_processes(db, tmp_path: Path, **env) -> Iterator[Zygote]:
    """The fork server of a test's `returnflow worker` processes (tests/support/zygote.py): it imports returnflow
    once, while the test makes its timers."""
    with zygote(worker_env(db, tmp_path, **env), tmp_path, tmp_path / "zygote.log", WORKER_LOADS) as server:
        yield server


def start_worker(workers: Zygote, tmp_path: Path, name: str) -> Forked:
    return workers.start(["worker", "--report-every", "3600"], tmp_path / f"{name}.log")


def stop(proc: Forked, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(30)


def counts(db) -> tuple[int, int]:
    with db.read() as s:
        fired = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
        pending = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending"))
    return fired, pending


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def assert_each_fired_once(db, n: int) -> None:
    with db.read() as s:
        statuses = Counter(s.scalars(select(Timer.status)))
        notices = Counter(p.get("timer_id") for p in s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "notify")) if p.get("timer_id"))
    assert statuses == {"fired": n}
    assert len(notices) == n and set(notices.values()) == {1}


# Only on PostgreSQL, where workers really run side by side (SQLite has one writer): the database fixture is
# given the PostgreSQL backend alone, so no SQLite variant exists to be skipped.
@pytest.mark.parametrize("database", [BACKENDS[1]], indirect=True)
def test_two_workers_on_postgresql_racing_over_10000_due_timers_fire_each_exactly_once(db, tmp_path):
    assert db.dialect == "postgresql"
    with worker_processes(db, tmp_path) as forks:
        due_timers(db, N)
        workers = [start_worker(forks, tmp_path, f"w{i}") for i in range(2)]
        try:
            wait_until(lambda: counts(db)[1] == 0, 240, "all timers fired")
        finally:
            for w in workers:
                stop(w)
    assert_each_fired_once(db, N)
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    assert all("Traceback" not in log for log in logs), logs


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(db, tmp_path):
    n, first_wave = 3000, 300
    env = {"RETURNFLOW_OUTBOX_LEASE_SECONDS": "2", "RETURNFLOW_WORKER_BATCH": "100"}
    with worker_processes(db, tmp_path, **env) as forks:
        due_timers(db, n)
        # The kill must land with work left, whatever the machine's speed: only the first wave is due at the start;
        # the rest wait a day. Once the worker has fired the first wave (it is then idle), the rest fall due a few at
        # a time over the next 20 s, so the worker keeps claiming small batches, and it is killed while doing so.
        with db.transaction() as s:
            ids = list(s.scalars(select(Timer.id).order_by(Timer.id)))
            s.execute(update(Timer).where(Timer.id.in_(ids[first_wave:]))
                      .values(due_at=utcnow() + timedelta(days=1)))
        first = start_worker(forks, tmp_path, "first")
        try:
            wait_until(lambda: counts(db)[0] >= first_wave, 120, "the first worker to fire the first wave")
            start, rest = utcnow(), ids[first_wave:]
            with db.transaction() as s:
                for k in range(0, len(rest), 100):
                    s.execute(update(Timer).where(Timer.id.in_(rest[k:k + 100]))
                              .values(due_at=start + timedelta(seconds=20 * k / len(rest))))
            wait_until(lambda: counts(db)[0] >= first_wave + 300, 15, "the first worker to fire part of the rest")
            with db.read() as s:
                delivered = s.scalar(select(func.count()).select_from(InAppMessage))
            stop(first, signal.SIGKILL)
        finally:
            stop(first, signal.SIGKILL)
        assert first.returncode == -signal.SIGKILL  # it was still running when killed
        fired, pending = counts(db)
        assert first_wave < fired < n and pending > 0, "the kill must land mid-way"
        with db.transaction() as s:  # the second worker need not wait out the stagger
            s.execute(update(Timer).where(Timer.status == "pending").values(due_at=utcnow() - timedelta(seconds=1)))
        second = start_worker(forks, tmp_path, "second")
        try:
            wait_until(lambda: counts(db)[1] == 0, 180, "the second worker to fire the rest")

            def all_delivered() -> bool:
                with db.read() as s:
                    return all(status == "sent" for status, payload in s.execute(
                        select(OutboxMessage.status, OutboxMessage.payload).where(OutboxMessage.topic == "notify"))
                        if payload.get("timer_id"))
            wait_until(all_delivered, 180, "every notice delivered")
        finally:
            stop(second)
    assert_each_fired_once(db, n)
    with db.read() as s:
        stored = Counter(s.scalars(select(InAppMessage.outbox_id).where(InAppMessage.template == "staff_reminder")))
    assert len(stored) == n and set(stored.values()) == {1} and delivered <= n
