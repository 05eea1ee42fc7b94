"""`returnflow serve` on SQLite derives in a worker process of its own, woken by each commit through the database's
doorbell (returnflow/doorbell.py), and the worker ends with the server — as on PostgreSQL
(tests/integration/test_scale_out.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from returnflow import derive
from returnflow.cases.models import Case, OutboxMessage
from returnflow.doorbell import Doorbell, address, ring
from tests.conftest import migrated_sqlite
from tests.integration.test_scale_out import _alive, _until, _workers_of, serve
from tests.support.world import make_order, make_shop

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
        shop = make_shop(db)
        for n in (1, 2):
            make_order(db, shop, f"O-{n}", customer=f"C-{n}")
        monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")
        monkeypatch.setenv("RETURNFLOW_WORKER_POLL_SECONDS", "120")  # only a commit's doorbell wakes it in time
        procs: list[subprocess.Popen] = []
        with serve(db.url, tmp_path, procs=procs) as base:
            server = procs[0]
            worker = _until(lambda: _workers_of(server.pid), 30, "serve started no worker process")[0]
            agent = {"Authorization": f"Bearer {shop.tokens['agent']}"}

            def derived(number: str):
                with db.read() as s:
                    case_id = s.scalar(select(Case.id).where(Case.number == number))
                    notices = s.scalar(select(OutboxMessage.id).where(OutboxMessage.case_id == case_id).limit(1))
                    return notices is not None and derive.backlog(s)["underived"] == 0

            for n in (1, 2):  # the first may be derived by the worker's first round; the second only by a wake-up
                if n == 2:
                    time.sleep(2)  # the first case's deliveries done, the worker waits out its poll
                opened = httpx.post(f"{base}/api/v1/cases", headers=agent, timeout=30, json={
                    "order": f"O-{n}", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
                assert opened.status_code == 201, opened.text
                at = time.monotonic()
                _until(lambda: derived(opened.json()["number"]), 60 if n == 1 else 10, f"case {n} derived")
            assert time.monotonic() - at < 10  # far sooner than its 120 s poll: the commit rang the doorbell
            os.kill(server.pid, signal.SIGKILL)
            _until(lambda: not _alive(worker), 20, "the worker outlived its server")
    finally:
        db.dispose()
