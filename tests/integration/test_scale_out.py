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
def serve(url: str, workdir: Path, *, workers: int = 1, name: str = "server") -> Iterator[str]:
    """Runs `returnflow serve` on a free loopback port against `url`; yields its base URL; always stops it."""
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
