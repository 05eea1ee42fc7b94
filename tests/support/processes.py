"""Outside services as real local processes on 127.0.0.1: an SMTP server (aiosmtpd) and fake HTTP providers."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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
