"""The `returnflow` command as an operator uses it: demo, migrate, cases, workflow, serve — real processes.

Commands that run to their end are processes forked from a server that imported the command once
(tests/support/processes.py: run_returnflow); test_the_console_script_runs_as_a_process_like_its_forks starts the
console script itself, and `serve` runs as `python -m returnflow.cli`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PG_UP, create_pg_database, drop_pg_database
from tests.support.processes import RETURNFLOW, run_returnflow

CLI = [sys.executable, "-m", "returnflow.cli"]


def run_cli(env, *args, check=True):
    """`returnflow ARGS` to its end (forked: run_returnflow), its stdin empty."""
    result = run_returnflow(list(args), env=env, timeout=120, input="")
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")])])
def cli_env(request, tmp_path):
    env = {**os.environ, "RETURNFLOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    url = None
    if request.param == "postgresql":
        url = create_pg_database("rf_cli")
        env["RETURNFLOW_DATABASE_URL"] = url
    else:
        env.pop("RETURNFLOW_DATABASE_URL", None)
    yield env
    if url:
        drop_pg_database(url)


def test_demo_then_cases_list_and_show(cli_env):
    out = run_cli(cli_env, "demo").stdout
    assert "demo loaded: 10 cases" in out and "returnflow-demo" in out
    assert "already there" in run_cli(cli_env, "demo").stdout  # a second run adds nothing
    listing = run_cli(cli_env, "cases", "list").stdout
    assert "10 cases" in listing
    for state in ("pending_review", "awaiting_return", "return_in_transit", "inspected", "in_repair", "resolved",
                  "rejected", "closed"):
        assert state in listing, state
    number = next(word for word in listing.split() if word.startswith("AS"))
    shown = run_cli(cli_env, "cases", "show", number).stdout
    assert number in shown and "timeline" in shown and "open" in shown
    # One clock per merchant: a case is numbered by the day on the shop's clock (Asia/Shanghai), and the listing's
    # "created" and the timeline show that same clock, not UTC (they differed from 16:00 to 24:00 UTC).
    for row in listing.splitlines():
        found = re.search(r"(AS(\d{6})\d{4}).*?(\d{4})-(\d{2})-(\d{2}) \d{2}:\d{2}", row)
        if found:
            assert found.group(2) == found.group(3)[2:] + found.group(4) + found.group(5), row
    opened = re.search(r"(\d{4})-(\d{2})-(\d{2}) \d{2}:\d{2}:\d{2} │ open", shown)
    assert opened and number[2:8] == opened.group(1)[2:] + opened.group(2) + opened.group(3), shown
    missing = run_cli(cli_env, "cases", "show", "AS000", check=False)
    assert missing.returncode == 1 and "not found" in missing.stdout
    only_acme = run_cli(cli_env, "cases", "list", "--merchant", "acme").stdout
    assert "0 cases" in only_acme
    assert "schema is current" in run_cli(cli_env, "migrate").stdout


def test_a_database_never_migrated_is_said_in_words_with_the_way_on(cli_env):
    """An operator who runs a command before `returnflow migrate` is told so, not shown a traceback."""
    for args in (("cases", "list"), ("cases", "show", "AS000")):
        refused = run_cli(cli_env, *args, check=False)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "no returnflow tables yet" in refused.stdout and "returnflow migrate" in refused.stdout
        assert "Traceback" not in refused.stdout + refused.stderr
    assert "schema is current" in run_cli(cli_env, "migrate").stdout
    assert "0 cases" in run_cli(cli_env, "cases", "list").stdout


def test_help_explains_every_command(cli_env):
    top = run_cli(cli_env, "--help").stdout
    for command in ("serve", "migrate", "demo", "import-orders", "cases", "users", "workflow"):
        assert command in top
    assert "--workers" in run_cli(cli_env, "serve", "--help").stdout


def test_the_console_script_runs_as_a_process_like_its_forks(tmp_path):
    """The real entry point, started as operators start it: what the forks of the other tests stand for."""
    env = {**os.environ, "RETURNFLOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("RETURNFLOW_DATABASE_URL", None)
    real = subprocess.run([str(RETURNFLOW), "--help"], env=env, capture_output=True, text=True, timeout=120, input="")
    forked = run_returnflow(["--help"], env=env, timeout=120, input="")
    assert real.returncode == 0 and "Usage: returnflow [OPTIONS] COMMAND" in real.stdout, real.stdout + real.stderr
    assert (real.returncode, real.stdout, real.stderr) == (forked.returncode, forked.stdout, forked.stderr)
    made = subprocess.run([str(RETURNFLOW), "migrate"], env=env, capture_output=True, text=True, timeout=120,
                          input="")
    assert made.returncode == 0 and (tmp_path / "data" / "returnflow.db").exists(), made.stdout + made.stderr
    assert "schema is current" in run_cli(env, "migrate").stdout


def test_users_and_tokens(cli_env):
    run_cli(cli_env, "migrate")
    bad = run_cli(cli_env, "users", "create", "--email", "a@x", "--name", "A", "--role", "wizard",
                  "--password", "pw", check=False)
    assert bad.returncode == 2 and "role" in bad.stdout
    ok = run_cli(cli_env, "users", "create", "--email", "p@x", "--name", "P", "--role", "platform",
                 "--password", "pw")
    assert "created user" in ok.stdout
    token = run_cli(cli_env, "users", "token", "--email", "p@x").stdout.strip()
    assert token.startswith("rf_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_demo_answers_like_the_readme_says(tmp_path):
    env = {**os.environ, "RETURNFLOW_DATA_DIR": str(tmp_path / "data")}
    env.pop("RETURNFLOW_DATABASE_URL", None)
    port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "--demo", "--port", str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                health = json.load(urllib.request.urlopen(base + "/healthz", timeout=1))
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("server did not come up")
        # `warnings` depends on today's date (a calendar running out), so only its shape is checked here.
        assert {k: health[k] for k in ("status", "database")} == {"status": "ok", "database": "sqlite"}
        assert set(health) == {"status", "database", "version", "warnings"} and isinstance(health["warnings"], list)
        assert Path(tmp_path / "data" / "returnflow.db").exists()
        spec = json.load(urllib.request.urlopen(base + "/openapi.json"))
        assert "/api/v1/cases/{number}/actions/{action}" in spec["paths"]
        req = urllib.request.Request(base + "/api/v1/auth/token", method="POST",
                                     data=json.dumps({"email": "agent@demo.example",
                                                      "password": "returnflow-demo"}).encode(),
                                     headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(req))["token"]
        cases = json.load(urllib.request.urlopen(urllib.request.Request(
            base + "/api/v1/cases", headers={"Authorization": f"Bearer {token}"})))
        assert cases["total"] == 10
        # the demo's cases were opened with the deadline clocks running, like any case
        waiting = next(c for c in cases["items"] if c["state"] == "pending_review")
        timers = json.load(urllib.request.urlopen(urllib.request.Request(
            base + f"/api/v1/cases/{waiting['number']}/timers", headers={"Authorization": f"Bearer {token}"})))
        assert any(t["status"] == "pending" for t in timers), timers
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_reads_the_client_address_from_a_trusted_proxy_so_one_guessing_address_is_throttled_alone(tmp_path):
    """Behind a proxy the per-address sign-in throttle must see each requester, not the proxy (docs/security.md)."""
    env = {**os.environ, "RETURNFLOW_DATA_DIR": str(tmp_path / "data")}
    env.pop("RETURNFLOW_DATABASE_URL", None)
    port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "--demo", "--port", str(port), "--log-level", "warning",
                                   "--no-worker", "--forwarded-allow-ips", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"

    def sign_in(email: str, password: str, client: str) -> int:
        req = urllib.request.Request(base + "/api/v1/auth/token", method="POST",
                                     data=json.dumps({"email": email, "password": password}).encode(),
                                     headers={"Content-Type": "application/json", "X-Forwarded-For": client})
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as refused:
            return refused.code

    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("server did not come up")
        # 30 failures from one requester (on 30 different accounts, so no account lock is reached)
        codes = [sign_in(f"nobody{i}@demo.example", "wrong", "guesser.example") for i in range(30)]
        assert codes[:29] == [401] * 29 and codes[29] == 429
        assert sign_in("agent@demo.example", "returnflow-demo", "guesser.example") == 429
        # the proxy passes another customer's address: that requester is not locked
        assert sign_in("agent@demo.example", "returnflow-demo", "office.example") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
