"""tests/support/processes.py: run_returnflow forks the `returnflow` command from a server that imported it once; each
child gets the call's own environment, working directory, stdin and timeout, as subprocess.run gives a process."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.processes import RETURNFLOW, run_returnflow, runner


def env_of(**values: str) -> dict[str, str]:
    env = {**os.environ, **values}
    env.pop("RETURNFLOW_DATABASE_URL", None)
    return env


def test_each_child_has_the_calls_environment_and_directory(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        done = run_returnflow(["migrate"], env=env_of(RETURNFLOW_DATA_DIR=f"data-{name}"), cwd=tmp_path / name,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*/returnflow.db")) == [
        "a/data-a/returnflow.db", "b/data-b/returnflow.db"]
    # the second child found nothing of the first's settings: it made its own database, in its own directory
    again = run_returnflow(["migrate"], env=env_of(RETURNFLOW_DATA_DIR="data-a"), cwd=tmp_path / "a", timeout=120)
    assert "schema is current" in again.stdout


def test_what_the_import_read_of_the_environment_gets_a_server_of_its_own(tmp_path):
    """COLUMNS is read when the command's console is made, at its import: a child of another width is forked from
    another server, and prints what a real process prints."""
    for columns in ("60", "130"):
        env = env_of(RETURNFLOW_DATA_DIR=str(tmp_path / "data"), COLUMNS=columns)
        forked = run_returnflow(["cases", "--help"], env=env, timeout=120, input="")
        widest = max(len(line) for line in forked.stdout.splitlines())
        assert widest == int(columns), forked.stdout
    assert {"60", "130"} <= {server.env.get("COLUMNS") for server in runner().servers}
    real = subprocess.run([str(RETURNFLOW), "cases", "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert (real.returncode, real.stdout, real.stderr) == (forked.returncode, forked.stdout, forked.stderr)


def test_a_usage_error_exits_2_on_stderr_and_a_timeout_kills_the_child(tmp_path):
    env = env_of(RETURNFLOW_DATA_DIR=str(tmp_path / "data"))
    wrong = run_returnflow(["no-such-command"], env=env, timeout=120)
    assert wrong.returncode == 2 and wrong.stdout == "" and "No such command" in wrong.stderr
    with pytest.raises(subprocess.TimeoutExpired) as expired:
        run_returnflow(["worker", "--report-every", "3600"], env=env, cwd=tmp_path, timeout=2)
    assert "worker" in expired.value.output  # what it printed before it was killed
    with pytest.raises(subprocess.CalledProcessError):
        run_returnflow(["no-such-command"], env=env, check=True)
