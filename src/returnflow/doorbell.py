"""SQLite's wake-up between processes: a commit that wrote case events rings the worker's doorbell.

PostgreSQL wakes every worker process with `NOTIFY returnflow_derive` (derive.py, jobs.worker.Listener). SQLite has
no such channel, so `returnflow serve` on SQLite used to derive in a thread of its own process, woken by that
process's commits — sharing the server's interpreter (one GIL) with the requests. Its worker is now a process, and
this is its doorbell: a Unix datagram socket in Linux's abstract namespace (no file is left behind; the name is made
from the database file's real path, so each SQLite database has its own), bound by the one worker that listens on
that database. After a commit that wrote case events, the writing process sends it one empty datagram
(`ring`: non-blocking; nobody listening, or a full queue, is not an error — the worker still looks every
RETURNFLOW_WORKER_POLL_SECONDS). A second worker on the same file cannot bind the name and polls instead.

Where there is no abstract namespace (not Linux) or no file (an in-memory database), `address` is None: `serve` then
keeps a thread (cli.py) and nothing rings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import select
import socket
import sys
import threading
import time

from sqlalchemy.engine import make_url

log = logging.getLogger("returnflow.doorbell")
SLICE = 0.05  # seconds between looks at the worker's own wake-ups (delivery lanes done) while it waits

_addresses: dict[str, bytes | None] = {}
_sender: list[socket.socket] = []
_lock = threading.Lock()


def address(url: str) -> bytes | None:
    """The doorbell's name for a SQLite database URL, or None (not SQLite, no file, or not Linux)."""
    key = str(url)
    if key not in _addresses:
        _addresses[key] = _address(key)
    return _addresses[key]


def _address(url: str) -> bytes | None:
    if not sys.platform.startswith("linux"):
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    digest = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:24]
    return b"\0returnflow-derive-" + digest.encode()


def ring(name: bytes | None) -> bool:
    """Wakes the worker listening at `name`, if any; True when the datagram was taken."""
    if name is None:
        return False
    with _lock:
        if not _sender:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            _sender.append(sock)
        try:
            _sender[0].sendto(b"", name)
            return True
        except OSError:  # nobody listening (ECONNREFUSED), or its queue is full (EAGAIN): it is awake or will poll
            return False


class Doorbell:
    """The worker's side: listens at the database's doorbell (bound once; None if another worker has it)."""

    def __init__(self, url: str) -> None:
        self.name = address(url)
        self.sock: socket.socket | None = None
        if self.name is None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.name)
        except OSError:
            sock.close()
            log.info("another worker listens on this database's doorbell; this one polls")
            return
        sock.setblocking(False)
        self.sock = sock

    @property
    def listening(self) -> bool:
        return self.sock is not None

    def wait(self, wake: threading.Event, seconds: float) -> None:
        """Returns when the doorbell rings, `wake` is set, or after `seconds`; the rings so far are taken."""
        deadline = time.monotonic() + seconds
        while not wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.sock is None:
                wake.wait(left)
                return
            ready, _, _ = select.select([self.sock], [], [], min(left, SLICE))
            if ready:
                self._drain()
                return

    def _drain(self) -> None:
        while True:
            try:
                self.sock.recv(16)
            except OSError:  # none left (EAGAIN), or the socket is gone: either way the wait is over
                return

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
