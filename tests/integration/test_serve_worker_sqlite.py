"""`returnflow serve` on SQLite derives in a worker process of its own, woken by each commit through the database's
doorbell (returnflow/doorbell.py), and the worker ends with the server — as on PostgreSQL
(tests/integration/test_scale_out.py)."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from returnflow.doorbell import Doorbell, address, ring
from tests.conftest import migrated_sqlite
from tests.integration.test_scale_out import serve_derives_in_a_worker_process_woken_by_each_commit

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SQLite's doorbell is a Linux abstract socket; elsewhere serve keeps a thread")


def test_the_doorbell_wakes_its_listener_and_only_one_worker_listens_per_database(tmp_path):
    url, other = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    assert address(url) != address(other)
    # The same file however it is named: the worker and the server need not spell its path alike.
    assert address(f"sqlite:///{tmp_path}/./a.db") == address(url)
    for nowhere in ("sqlite://", "sqlite:///:memory:", "postgresql+psycopg://postgres@127.0.0.1:5432/test"):
        assert address(nowhere) is None
        assert ring(address(nowhere)) is False
    assert ring(address(url)) is False  # nobody listens yet: nothing fails

    bell = Doorbell(url)
    second = Doorbell(url)
    try:
        assert bell.listening and not second.listening  # a second worker on the file polls instead
        wake = threading.Event()
        started = time.monotonic()
        bell.wait(wake, 0.2)
        assert time.monotonic() - started >= 0.19  # nothing rang: it waited its time out
        assert ring(address(url)) and ring(address(url))
        started = time.monotonic()
        bell.wait(wake, 30)
        assert time.monotonic() - started < 1
        started = time.monotonic()
        bell.wait(wake, 0.2)  # both rings were taken by the first wake-up
        assert time.monotonic() - started >= 0.19
        threading.Timer(0.1, wake.set).start()  # the worker's own wake-ups still end a wait
        started = time.monotonic()
        bell.wait(wake, 30)
        assert time.monotonic() - started < 1
    finally:
        bell.close()
        second.close()
    assert Doorbell(url).listening  # free again once its worker is gone


def test_serve_on_sqlite_derives_in_a_worker_process_woken_by_each_commit_and_ending_with_it(
        tmp_path, tmp_path_factory, monkeypatch):
    db = migrated_sqlite(tmp_path_factory, tmp_path / "serve.db")
    try:
        serve_derives_in_a_worker_process_woken_by_each_commit(db, tmp_path, monkeypatch)
    finally:
        db.dispose()
