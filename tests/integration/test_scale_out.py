"""Two `returnflow serve` processes on one PostgreSQL database behave as one service.

A case opened through server A is read and moved on through server B, then moved on again through A with the
version B returned; both answer with the same state, version and timeline. A stale version sent to either is a
409 and changes nothing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from returnflow import derive
from returnflow.cases.models import Case, OutboxMessage
from returnflow.db import Database
from returnflow.schema import migrate
from tests.conftest import PG_UP, create_pg_database, drop_pg_database
from tests.support.world import make_order, make_shop

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_UP and not os.environ.get("CI"), reason="no PostgreSQL at 127.0.0.1:5432"),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(url: str, workdir: Path, *, workers: int = 1, name: str = "server",
          procs: list[subprocess.Popen] | None = None) -> Iterator[str]:
    """Runs `returnflow serve` on a free loopback port against `url`; yields its base URL (and appends its process
    to `procs`); always stops it."""
    port = free_port()
    script = Path(sys.executable).parent / "returnflow"
    argv = ([str(script)] if script.exists() else [sys.executable, "-m", "returnflow.cli"]) + [
        "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": url, "RETURNFLOW_DATA_DIR": str(workdir / "data")}
    log = workdir / f"{name}-{port}.log"
    with open(log, "wb") as out:
        # Its own process group, so uvicorn's worker processes go down with it whatever happens.
        proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        if procs is not None:
            procs.append(proc)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {proc.returncode}: {log.read_text(errors='replace')}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not ready in 30s: {log.read_text(errors='replace')}")
                time.sleep(0.1)
            yield base
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_pg_database("rf_scale")
    try:
        yield url
    finally:
        drop_pg_database(url)


def test_two_servers_share_one_database(pg_url, tmp_path):
    db = Database(pg_url)
    try:
        migrate(db)  # once, before the servers: see docs/scale-out.md
        shop = make_shop(db)
        make_order(db, shop)
    finally:
        db.dispose()

    with ExitStack() as stack:
        a = stack.enter_context(serve(pg_url, tmp_path, name="A"))
        b = stack.enter_context(serve(pg_url, tmp_path, name="B"))
        ha = stack.enter_context(httpx.Client(base_url=a, timeout=10))
        hb = stack.enter_context(httpx.Client(base_url=b, timeout=10))
        agent, warehouse = shop.headers("agent"), shop.headers("warehouse")

        r = ha.post("/api/v1/cases", headers=agent, json={
            "order": "O-1", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "lines": [{"line_no": 1, "quantity": 1}]})
        assert r.status_code == 201, r.text
        number = r.json()["number"]
        assert r.json()["version"] == 1

        # B sees what A created, and acts on it.
        seen = hb.get(f"/api/v1/cases/{number}", headers=agent)
        assert seen.status_code == 200, seen.text
        assert (seen.json()["state"], seen.json()["version"]) == ("pending_review", 1)
        r = hb.post(f"/api/v1/cases/{number}/actions/approve", headers=agent, json={"version": 1, "payload": {"override_reason": "past the window"}})
        assert r.status_code == 200, r.text
        version_b = r.json()["version"]
        assert (r.json()["state"], version_b) == ("awaiting_return", 2)

        # A acts with the version B returned.
        r = ha.post(f"/api/v1/cases/{number}/actions/ship_return", headers=agent,
                    json={"version": version_b, "payload": {"carrier": "SF", "tracking_number": "SF1"}})
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["version"]) == ("return_in_transit", 3)

        def both() -> tuple[dict, dict]:
            da, db_ = (c.get(f"/api/v1/cases/{number}", headers=agent) for c in (ha, hb))
            assert da.status_code == db_.status_code == 200
            return da.json(), db_.json()

        da, db_ = both()
        for body in (da, db_):
            assert (body["state"], body["version"]) == ("return_in_transit", 3)
            assert [e["action"] for e in body["timeline"]] == ["open", "approve", "ship_return"]
            assert [e["seq"] for e in body["timeline"]] == [1, 2, 3]
        assert da["timeline"] == db_["timeline"]
        assert {k: v for k, v in da.items() if k != "timeline"} == {k: v for k, v in db_.items() if k != "timeline"}

        # A stale version is refused by either server and changes nothing.
        for client, stale in ((ha, 2), (hb, 2), (hb, 1), (ha, 1)):
            r = client.post(f"/api/v1/cases/{number}/actions/receive", headers=warehouse,
                            json={"version": stale, "payload": {}})
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "stale_version"
            assert r.json()["error"]["field"] == "version"
        after_a, after_b = both()
        assert after_a == da and after_b == db_

        # And the current version still works, through the other server, seen by both.
        r = hb.post(f"/api/v1/cases/{number}/actions/receive", headers=warehouse, json={"version": 3, "payload": {}})
        assert r.status_code == 200, r.text
        da, db_ = both()
        assert da["timeline"] == db_["timeline"] and da["version"] == db_["version"] == 4
        assert da["state"] == db_["state"] == "received"


def _workers_of(pid: int) -> list[int]:
    """The `returnflow worker` processes the process `pid` started (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"worker" in cmdline:
                found.append(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.05)


def test_serve_on_postgresql_derives_in_a_worker_process_woken_by_each_commit_and_ending_with_it(
        pg_url, tmp_path, monkeypatch):
    db = Database(pg_url)
    try:
        migrate(db)
        serve_derives_in_a_worker_process_woken_by_each_commit(db, tmp_path, monkeypatch)
    finally:
        db.dispose()


def serve_derives_in_a_worker_process_woken_by_each_commit(db: Database, tmp_path: Path, monkeypatch) -> None:
    """`serve` on `db` (migrated) with a 120 s poll starts a worker process that derives a new case within seconds
    of its commit, and ends when `serve` is killed outright (tests/integration/test_serve_worker_sqlite.py too)."""
    shop = make_shop(db)
    for n in (1, 2):
        make_order(db, shop, f"O-{n}", customer=f"C-{n}")
    monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")
    monkeypatch.setenv("RETURNFLOW_WORKER_POLL_SECONDS", "120")  # only a commit's wake-up reaches it in time
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
        assert time.monotonic() - at < 10  # far sooner than its 120 s poll: the commit woke it
        # The server is killed outright: its worker is told to stop (the parent-death signal) and does.
        os.kill(server.pid, signal.SIGKILL)
        _until(lambda: not _alive(worker), 20, "the worker outlived its server")
