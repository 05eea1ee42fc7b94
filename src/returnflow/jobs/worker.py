"""The worker: derives what new case events set off, fires due timers and delivers outbox messages, in a loop;
reports its lag.

`returnflow serve` starts one as a process of its own by default (`start_process`; a thread only for an in-memory
SQLite database or where SQLite's doorbell does not exist), and at scale it runs as `returnflow worker` processes. Any number of workers may run on one database: timers are claimed with row locks inside the transaction that
fires them, outbox messages with a time lease (see sla.timers and notify.outbox), the events to derive by their
case (returnflow/derive.py). While running, messages are
delivered lane by lane on a few threads (notify.dispatch), so one slow receiver does not hold the others.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from sqlalchemy import func, select

from ..bootstrap import BACKGROUND_JOBS, JOBS, bootstrap
from .. import derive
from ..db import Database, utcnow
from ..doorbell import Doorbell
from ..notify import outbox
from ..notify.config import DeliverySettings, get_delivery_settings
from ..notify.dispatch import Dispatcher
from ..sla.models import Timer
from ..sla.timers import fire_due

log = logging.getLogger("returnflow.worker")
GATHER = 0.1  # seconds a worker waits after deriving (or when woken) so the events of several commits share a batch
YIELD_MIN = 0.03  # SQLite: seconds at least between full batches (a waiting request's busy handler retries by then)
SLICE = 0.05  # seconds between looks at this process's own wake-ups while a PostgreSQL worker listens
BACKGROUND_POLL = 5.0  # seconds between rounds of the background jobs (BACKGROUND_JOBS)


@dataclass
class Round:
    derived: int = 0  # events derived
    derive_lag_p99: float | None = None  # seconds from an event to its derivation, this round
    timers_fired: int = 0
    timers_moot: int = 0
    timers_retried: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    jobs: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.derived or self.timers_fired or self.timers_moot or sum(self.messages.values())
                    or self.jobs)


class _Stop(threading.Event):
    """The stop flag; setting it also wakes the loop at once."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()


class Listener:
    """PostgreSQL: wakes a worker as soon as any process commits case events (derive.CHANNEL, NOTIFY in the
    writer's transaction), so a worker in a process of its own derives them at once instead of at its next poll.
    Its own connection, in autocommit; if it breaks, the worker polls until it connects again."""

    def __init__(self, db: Database) -> None:
        self.url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn: psycopg.Connection | None = None

    def listen(self) -> psycopg.Connection | None:
        """Listens (again) if not listening: notices of commits from then on queue up on the connection, so a commit
        made while the worker was busy still wakes its next wait."""
        if self.conn is None or self.conn.closed:
            try:
                self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                self.conn.execute(f"LISTEN {derive.CHANNEL}")
            except psycopg.Error:
                log.warning("cannot listen for new events; polling instead", exc_info=True)
                self.conn = None
        return self.conn

    def wait(self, wake: threading.Event, seconds: float) -> None:
        """Returns when a notice arrives, `wake` is set (this process's own commits and delivery lanes), or after
        `seconds`."""
        deadline = time.monotonic() + seconds
        while not wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            conn = self.listen()
            if conn is None:
                wake.wait(min(left, 1.0))
                continue
            try:
                for _notice in conn.notifies(timeout=min(left, SLICE), stop_after=1):
                    return
            except psycopg.Error:
                log.warning("the listening connection broke; listening again", exc_info=True)
                self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
            self.conn = None


class Worker:
    """One worker: `run_once` does a round (used with a controlled clock in tests); `run` loops until stopped."""

    def __init__(self, db: Database, settings: DeliverySettings | None = None, name: str | None = None, *,
                 timers: bool = True, messages: bool = True, derivation: bool = True, background: bool = True) -> None:
        bootstrap()  # the handlers it delivers with and the producers of what it fires (returnflow/bootstrap.py)
        self.db = db
        self.timers, self.messages, self.derivation, self.background = timers, messages, derivation, background
        self.settings = settings or get_delivery_settings()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"
        self.wake = threading.Event()
        self.stop = _Stop(self.wake)
        self.dispatcher: Dispatcher | None = None

    def run_once(self, now: datetime | None = None, *, timers: bool = True, messages: bool = True,
                 derivation: bool = True) -> Round:
        """Derives the new events (until none is left), fires the timers due at `now` (until none is left) and
        delivers one batch of due messages."""
        result = Round()
        if derivation:
            self._derive(result)
        if timers:
            self._fire_timers(result, now)
            result.jobs = self._run_jobs(now) + (self._run_jobs(now, BACKGROUND_JOBS) if self.background else 0)
        if messages:
            result.messages = outbox.deliver_due(self.db, self.settings, now=now, limit=self.settings.worker_batch,
                                                 worker=self.name)
        return result

    def _run_jobs(self, now: datetime | None = None, jobs: tuple = JOBS) -> int:
        """Periodic jobs (JOBS, or BACKGROUND_JOBS), each on its own: one that fails is logged, the others still run."""
        done = 0
        for job in jobs:
            try:
                done += job(self.db, now)
            except Exception:  # noqa: BLE001 — a platform or the database may be down; the next round tries again
                log.exception("job %s failed", getattr(job, "__name__", job))
        return done

    def _derive(self, result: Round) -> None:
        """Derives batches of new events until a batch finds less than a full batch (what is left is claimed by
        other workers, or failed and is logged)."""
        limit = derive.get_derive_settings().batch_for(self.db.dialect)
        lags: list[float] = []
        while True:
            started = time.monotonic()
            batch = derive.derive_batch(self.db.engine, limit=limit)
            result.derived += batch.events
            lags += batch.lags
            if batch.events < limit:
                break
            if self.db.dialect == "sqlite":
                # One writer: the requests waiting for the write lock get it in between batches, for twice as long
                # as the batch held it (at least YIELD_MIN, at most GATHER). A fixed GATHER capped the worker at
                # ~limit/GATHER events a second, below what one server writes under load (bench/lifecycle.py).
                time.sleep(min(GATHER, max(YIELD_MIN, 2 * (time.monotonic() - started))))
        if lags:
            lags.sort()
            result.derive_lag_p99 = round(lags[min(len(lags) - 1, int(0.99 * len(lags)))], 4)

    def _background(self) -> None:
        """The background jobs' thread (BACKGROUND_JOBS: seconds each, such as computing the platform's dashboard
        again): a round every BACKGROUND_POLL seconds, or at once again while they find work, until stopped."""
        while not self.stop.is_set():
            busy = self._run_jobs(None, BACKGROUND_JOBS)
            if not busy:
                self.stop.wait(BACKGROUND_POLL)

    def _fire_timers(self, result: Round, now: datetime | None = None) -> None:
        while True:
            batch = fire_due(self.db, now=now, limit=self.settings.worker_batch)
            result.timers_fired += batch.fired
            result.timers_moot += batch.moot
            result.timers_retried += batch.retried
            if batch.claimed < self.settings.worker_batch or batch.fired + batch.moot == 0:
                break

    def run(self) -> None:
        """Loops until `stop` is set: derives new events, fires due timers (at most once per poll interval unless
        they keep it busy), and keeps the delivery lanes busy (a lane that finishes wakes the loop to claim again).
        A commit of this process in worker mode wakes it too; it then waits GATHER seconds, so the events of a few
        commits are derived in one transaction. An error in one round is logged and the next round goes on."""
        if self.messages:
            self.dispatcher = Dispatcher(self.db, self.settings, self.name, done=self.wake)
        derive.WAKE.add(self.wake)  # a request of this process wakes it after its commit (worker mode)
        # The commits of other processes wake it too: on PostgreSQL through derive.CHANNEL, on SQLite through the
        # database's doorbell (returnflow/doorbell.py). Both listen before the first round: what commits after it
        # wakes a wait, what committed before it is derived by that round.
        listener: Listener | Doorbell | None = None
        if self.derivation and self.db.dialect == "postgresql":
            listener = Listener(self.db)
            listener.listen()
        elif self.derivation and self.db.dialect == "sqlite":
            listener = Doorbell(self.db.url)
        poll = self.settings.worker_poll_seconds
        background = None
        if self.background and BACKGROUND_JOBS:
            background = threading.Thread(target=self._background, name="worker-background", daemon=True)
            background.start()
        timers_at, timers_busy = float("-inf"), False
        # Derivation runs at most every GATHER seconds (unless a batch came back full: then at once, in _derive), so
        # the events of several commits share a batch. Rounds in between (deliveries finishing, timers) leave it
        # out: deriving on each of them made batches of a few events, each paying the batch's fixed statements.
        derive_at = 0.0
        try:
            while not self.stop.is_set():
                try:
                    result = Round()
                    if self.derivation and time.monotonic() >= derive_at:
                        self._derive(result)
                        derive_at = time.monotonic() + GATHER
                    if self.timers and (timers_busy or time.monotonic() - timers_at >= poll):
                        timers_at = time.monotonic()
                        self._fire_timers(result)
                        result.jobs = self._run_jobs()
                        timers_busy = bool(result.timers_fired or result.timers_moot or result.jobs)
                    started = self.dispatcher.pump() if self.dispatcher is not None else 0
                    busy = timers_busy or started > 0 or bool(sum(result.messages.values()))
                except Exception:  # noqa: BLE001 — the database may be restarting; keep trying
                    log.exception("worker round failed")
                    busy = False
                    result = Round()
                if busy:
                    continue
                # Until woken (a commit, a delivery lane done) or the poll; a wake-up before the next derivation is
                # due waits for it (new events keep coming: a few more commits join the batch).
                if not result.derived:
                    if listener is not None:
                        listener.wait(self.wake, poll)
                    else:
                        self.wake.wait(poll)
                    self.wake.clear()
                if self.derivation and not self.stop.is_set():
                    self.stop.wait(max(0.0, derive_at - time.monotonic()))
        finally:
            derive.WAKE.discard(self.wake)
            if listener is not None:
                listener.close()
            if self.dispatcher is not None:
                self.dispatcher.close()  # what is in flight is delivered and recorded
            if background is not None:
                background.join(timeout=30)  # a computation under way finishes (or is abandoned with the process)


def lag(db: Database, *, now: datetime | None = None, merchant_id: int | None = None) -> dict:
    """How far behind the workers are: events not derived yet and the age of the oldest (the whole deployment's),
    due timers and the age of the oldest, the outbox backlog, dead letters; only one merchant's timers and outbox
    when `merchant_id` is given."""
    now = now or utcnow()
    stmt = select(func.count(), func.min(Timer.due_at)).where(Timer.status == "pending", Timer.due_at <= now)
    if merchant_id is not None:
        stmt = stmt.where(Timer.merchant_id == merchant_id)
    with db.read() as session:
        due, oldest = session.execute(stmt).one()
        derivation = derive.backlog(session, now=now)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return {"derivation": derivation, "timers": {"due": due, "oldest_due_seconds": round(age, 3)},
            "outbox": outbox.backlog(db, now=now, merchant_id=merchant_id)}


def start_process(url: str) -> subprocess.Popen:
    """`returnflow serve`'s worker: a `returnflow worker` process of its own, so derivation, timers and deliveries
    get a core of their own instead of a share of the server's interpreter (a thread there fell behind the requests
    by seconds under load on PostgreSQL, and on SQLite took a third of what the server could answer;
    docs/scale-out.md). It stops when the server exits, and is told to stop if the server is killed (Linux: the
    parent-death signal). Woken by the server's commits: derive.CHANNEL on PostgreSQL, the doorbell on SQLite."""
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-c", "from returnflow.cli import main; main()", "worker"], env=env,
                            preexec_fn=_stop_with_parent)
    atexit.register(_stop_process, proc)
    return proc


def _stop_with_parent() -> None:
    """In the child before it runs: SIGTERM when the process that started it ends (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # elsewhere the server's exit still stops it (atexit)


def _stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_in_background(url: str, settings: DeliverySettings | None = None) -> tuple[Worker, threading.Thread]:
    """A worker thread for `returnflow serve` where a process could not be woken: an in-memory SQLite database, or
    a system without SQLite's doorbell (returnflow/doorbell.py). Daemon: it stops with the server."""
    worker = Worker(Database(url), settings)
    thread = threading.Thread(target=worker.run, name="returnflow-worker", daemon=True)
    thread.start()
    return worker, thread
