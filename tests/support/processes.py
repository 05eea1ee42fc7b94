"""Outside services as real local processes on 127.0.0.1: an SMTP server (aiosmtpd) and fake HTTP providers; a fork
server for tests that start many `returnflow` processes (`zygote`)."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def smtp_server(maildir: Path) -> Iterator[tuple[int, mailbox.Maildir]]:
    """aiosmtpd storing every accepted message in a Maildir; yields (port, the Maildir)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Mailbox", str(maildir)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "aiosmtpd")
        yield port, mailbox.Maildir(str(maildir), create=False)
    finally:
        stop(proc)


@contextmanager
def fake_http(log: Path, *, fail: int = 0, answer: str = "ok", delay: float = 0.0) -> Iterator[str]:
    """tests.support.fake_http as a process (`delay`: seconds before each answer); yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_http", str(port), str(log),
                             "--fail", str(fail), "--answer", answer, "--delay", str(delay)], cwd=ROOT,
                            start_new_session=True)
    try:
        _wait_port(port, proc, "fake http")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def requests_seen(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


@contextmanager
def fake_cn(service: str, log: Path, *args: str) -> Iterator[str]:
    """tests.support.fake_cn as a process: Aliyun SMS, WeChat, a WeCom or a DingTalk robot; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_cn", service, str(port), str(log), *args],
                            cwd=ROOT, start_new_session=True)
    try:
        _wait_port(port, proc, f"fake {service}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@contextmanager
def fake_taobao(log: Path, *, app_key: str, secret: str, session: str) -> Iterator[str]:
    """tests.support.fake_taobao (Taobao's TOP router, refunds) as a process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_taobao", str(port), str(log),
                             "--app-key", app_key, "--secret", secret, "--session", session], cwd=ROOT,
                            start_new_session=True)
    try:
        _wait_port(port, proc, "fake taobao")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


# What `returnflow worker` loads where it uses it, not with the command: Alembic, to migrate at its start
# (returnflow/schema.py), and the PostgreSQL driver, with its engine. A zygote of workers imports them once too.
WORKER_LOADS = ("alembic.command", "alembic.config", "psycopg")


class Forked:
    """A process the zygote forked, used as a `subprocess.Popen`: `pid`, `poll`, `wait`, `returncode` (its real wait
    status, which its parent, the zygote, reaped and reported: -9 when SIGKILL ended it)."""

    def __init__(self, zygote: Zygote, pid: int, args: list[str]) -> None:
        self.zygote, self.pid, self.args = zygote, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._wait(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not self._wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def _wait(self, timeout: float | None) -> bool:
        status = self.zygote.ask({"wait": self.pid, "timeout": timeout})["status"]
        if status is not None:
            self.returncode = os.waitstatus_to_exitcode(status)
        return status is not None


class Zygote:
    """tests/support/zygote.py as a process: the console script `script` imported once; `start` forks a child that runs
    it with the given arguments, in its own session, its output to a log file (as `subprocess.Popen(..., env=env,
    cwd=cwd, stdout=log, stderr=STDOUT, start_new_session=True)` would, without importing everything again)."""

    def __init__(self, script: Path, env: Mapping[str, str], cwd: Path, log: Path,
                 preload: Sequence[str] = ()) -> None:
        self.script = script
        requests, self._requests = os.pipe()
        self._answers, answers = os.pipe()
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "support" / "zygote.py"), str(script), str(requests),
                 str(answers), *preload], env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                pass_fds=(requests, answers), start_new_session=True)
        os.close(requests)
        os.close(answers)
        self.log = log
        self._reader = os.fdopen(self._answers, "r", encoding="utf-8")

    def ask(self, request: dict) -> dict:
        os.write(self._requests, (json.dumps(request) + "\n").encode())
        line = self._reader.readline()
        if not line:
            raise AssertionError(f"the zygote exited ({self.process.wait(5)}): {self.log.read_text(errors='replace')}")
        return json.loads(line)

    def start(self, args: list[str], log: Path, *, append: bool = False) -> Forked:
        argv = [str(self.script), *args]
        return Forked(self, self.ask({"start": argv, "log": str(log), "append": append})["pid"], argv)

    def close(self) -> None:
        """Ends the requests: the zygote kills and reaps whatever it started that still runs, then exits."""
        os.close(self._requests)
        try:
            assert self.process.wait(30) == 0, self.log.read_text(errors="replace")
        finally:
            self._reader.close()
            stop(self.process)


@contextmanager
def zygote(env: Mapping[str, str], cwd: Path, log: Path, preload: Sequence[str] = ()) -> Iterator[Zygote]:
    """A fork server for `returnflow` processes with this environment and working directory (see Zygote); `preload`:
    libraries the command loads where it uses them, imported once too. Start it early: it imports while the test
    prepares its data."""
    server = Zygote(Path(sys.executable).parent / "returnflow", env, cwd, log, preload)
    try:
        yield server
    finally:
        server.close()
