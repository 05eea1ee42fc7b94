"""Fair delivery: lanes side by side in a small thread pool, one batch in flight per lane.

A lane is one merchant's one destination (a webhook endpoint, the email or SMS channel: `outbox.lane`). A slow or
failing receiver holds only its own lane's thread, for at most a few timeouts, while the other lanes go on; within
a lane, sign-in codes are claimed first. Each `pump` claims for the threads that are free, skipping the lanes in
flight, so a lane's backlog never stands in front of another lane. A lane whose whole batch failed and waits to be
tried again (email not configured, a receiver down) rests for the outbox's first backoff
(RETURNFLOW_OUTBOX_BACKOFF_SECONDS, 30 s) before its next batch: its messages are not tried one batch after the
other against a destination that is down. The rest does not grow, so once the destination is back a new message
(a sign-in code) waits at most that long. Per process: several worker processes may each
have a batch of the same lane in flight (the lease and the claim keys keep every message delivered once).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from ..db import Database, utcnow
from . import outbox
from .config import DeliverySettings

log = logging.getLogger("returnflow.notify")
LOCAL = (":notify:in_app",)  # lanes delivered into our own database: no outside call to wait for


class Dispatcher:
    """Claims due messages lane by lane and delivers them on `settings.delivery_threads` threads."""

    def __init__(self, db: Database, settings: DeliverySettings, worker: str = "",
                 done: threading.Event | None = None) -> None:
        self.db, self.settings, self.worker = db, settings, worker
        self.threads = settings.delivery_threads
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="returnflow-delivery")
        self.lock = threading.Lock()
        self.busy: set[str] = set()            # lanes with a batch in flight
        self.resting: dict[str, float] = {}    # lane -> time.monotonic() until which it is not claimed from
        self.counts: dict[str, int] = {}       # outcomes so far, for reports
        self.done = done or threading.Event()  # set whenever a lane's batch is finished (its thread is free)
        # A batch of an outside destination must end well inside its lease even when every call times out.
        slowest = max(settings.http_timeout_seconds, settings.smtp_timeout_seconds, 0.001)
        self.outside_batch = max(1, int(settings.outbox_lease_seconds / 2 / slowest))

    def per_lane(self, lane: str) -> int:
        return self.settings.worker_batch if lane.endswith(LOCAL) else self.outside_batch

    def pump(self) -> int:
        """Claims for the free threads (each takes a lane not in flight) and starts them; returns messages started."""
        started = 0
        lease = timedelta(seconds=self.settings.outbox_lease_seconds)
        while True:
            with self.lock:
                now = time.monotonic()
                for lane in [lane for lane, until in self.resting.items() if until <= now]:
                    del self.resting[lane]
                skip, free = self.busy | self.resting.keys(), self.threads - len(self.busy)
            if free <= 0:
                return started
            claimed = outbox.claim(self.db, now=utcnow(), limit=self.settings.worker_batch, lease=lease, skip=skip,
                                   lanes=free, per_lane=self.per_lane)
            if not claimed:
                return started
            lanes: dict[str, list[outbox.Claimed]] = {}
            for message in claimed:
                lanes.setdefault(message.lane, []).append(message)
            with self.lock:
                self.busy.update(lanes)
            for lane, messages in lanes.items():
                self.pool.submit(self._deliver, lane, messages)
            started += len(claimed)

    def _deliver(self, lane: str, messages: list[outbox.Claimed]) -> None:
        counts: dict[str, int] = {}
        try:
            counts = outbox.deliver_all(self.db, self.settings, messages, worker=self.worker)
        except Exception:  # noqa: BLE001 — the leases run out and the messages are claimed again
            log.exception("delivering lane %s failed", lane)
            counts = {}
        finally:
            with self.lock:
                self.busy.discard(lane)
                if counts.get("retry") and not counts.get("sent"):
                    self.resting[lane] = time.monotonic() + outbox.backoff(self.settings, 1).total_seconds()
            self.done.set()
        with self.lock:
            for status, n in counts.items():
                self.counts[status] = self.counts.get(status, 0) + n

    def rests(self, lane: str) -> bool:
        """Whether `lane` is resting after a batch that failed as a whole."""
        with self.lock:
            return self.resting.get(lane, 0.0) > time.monotonic()

    def in_flight(self) -> int:
        with self.lock:
            return len(self.busy)

    def close(self) -> None:
        """Waits for the batches in flight (their outcomes are recorded), then stops the threads."""
        self.pool.shutdown(wait=True)
