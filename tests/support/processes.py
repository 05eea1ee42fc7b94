"""Outside services as real local processes on 127.0.0.1: an SMTP server (aiosmtpd) and fake HTTP providers; a fork
server for tests that start many `returnflow` processes (`zygote`), and `run_returnflow`, the `returnflow` command
run to its end as `subprocess.run` would, through fork servers shared by the tests of a test process."""

from __future__ import annotations

import atexit
import json
import mailbox
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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
        self.script, self.env = script, dict(env)
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
        self._lock = threading.Lock()
        self._read: frozenset[str] | None = None

    def _answer(self) -> dict:
        line = self._reader.readline()
        if not line:
            raise AssertionError(f"the zygote exited ({self.process.wait(5)}): {self.log.read_text(errors='replace')}")
        return json.loads(line)

    def _ready(self) -> None:
        if self._read is None:
            self._read = frozenset(self._answer()["read"])

    @property
    def read(self) -> frozenset[str]:
        """The environment variables its import read (waits for the import): "*" if it walked through them all."""
        with self._lock:
            self._ready()
            return self._read

    def ask(self, request: dict) -> dict:
        with self._lock:
            self._ready()
            os.write(self._requests, (json.dumps(request) + "\n").encode())
            return self._answer()

    def start(self, args: list[str], log: Path, *, append: bool = False) -> Forked:
        argv = [str(self.script), *args]
        return Forked(self, self.ask({"start": argv, "log": str(log), "append": append})["pid"], argv)

    def spawn(self, args: Sequence[str], *, stdout: Path, stderr: Path, stdin: Path | None = None,
              env: Mapping[str, str] | None = None, cwd: Path | str | None = None) -> Forked:
        """A child with its own stdout and stderr files, stdin (a file; /dev/null if None), environment (the
        server's if None: see `read`) and working directory (the server's if None)."""
        argv = [str(self.script), *args]
        pid = self.ask({"start": argv, "stdout": str(stdout), "stderr": str(stderr),
                        "stdin": None if stdin is None else str(stdin),
                        "env": None if env is None else dict(env), "cwd": None if cwd is None else str(cwd)})["pid"]
        return Forked(self, pid, argv)

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


# What the interpreter reads of the environment as it starts, before any import (sys.path and flags, the encoding
# of the standard streams, the locale, the time zone the `time` module computed): a forked child keeps the server's.
STARTUP_PREFIXES = ("PYTHON", "LC_")
STARTUP_VARIABLES = frozenset({"LANG", "LANGUAGE", "TZ", "TERM", "COLORTERM"})
RETURNFLOW = Path(sys.executable).parent / "returnflow"  # the console script


def fixed_at_start(env: Mapping[str, str], read: frozenset[str]) -> tuple | None:
    """What of `env` a server started with it keeps for all its children: the variables its import read and those
    the interpreter reads at its start; None when that is the whole environment (the import walked through it)."""
    if "*" in read:
        return None
    names = read | STARTUP_VARIABLES | {name for name in env if name.startswith(STARTUP_PREFIXES)}
    return tuple(sorted((name, env.get(name)) for name in names))


class ReturnflowRunner:
    """Fork servers of the console script (tests/support/zygote.py), one per set of values of the variables fixed
    at a server's start (`fixed_at_start`: in practice COLUMNS and the like), each started with the environment of
    the first call that needed it; children get the call's own environment and directory."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="returnflow-zygotes-"))
        self.servers: list[Zygote] = []
        self._lock = threading.Lock()
        self._count = 0

    def server_for(self, env: Mapping[str, str]) -> Zygote:
        with self._lock:
            for server in self.servers:
                fixed = fixed_at_start(env, server.read)
                if fixed is not None and fixed == fixed_at_start(server.env, server.read):
                    return server
            server = Zygote(RETURNFLOW, env, self.home, self.home / f"zygote-{len(self.servers)}.log")
            self.servers.append(server)
            if fixed_at_start(env, server.read) is None:
                raise AssertionError("the import of returnflow read the whole environment: no child can have another")
            return server

    def files(self) -> tuple[Path, Path, Path]:
        with self._lock:
            self._count += 1
            n = self._count
        return tuple(self.home / f"{n}.{name}" for name in ("in", "out", "err"))  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            servers, self.servers = self.servers, []
        try:
            for server in servers:
                server.close()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


_RUNNER: ReturnflowRunner | None = None
_RUNNER_LOCK = threading.Lock()


def runner() -> ReturnflowRunner:
    """This test process's fork servers (started the first time a test runs the command; closed at its end)."""
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = ReturnflowRunner()
            atexit.register(close_runner)
        return _RUNNER


def close_runner() -> None:
    global _RUNNER
    with _RUNNER_LOCK:
        done, _RUNNER = _RUNNER, None
    if done is not None:
        done.close()


def _text(data: bytes) -> str:
    # as subprocess.run(text=True): the locale's encoding, universal newlines
    return data.decode(locale_encoding()).replace("\r\n", "\n").replace("\r", "\n")


def locale_encoding() -> str:
    """What subprocess's text mode decodes with (io.TextIOWrapper's default: UTF-8 in Python's UTF-8 mode)."""
    import locale

    return locale.getpreferredencoding(False)


def run_returnflow(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
                   timeout: float | None = None, input: str | bytes | None = None, text: bool = True,
                   check: bool = False) -> subprocess.CompletedProcess:
    """`returnflow ARGS` (the console script, as an operator runs it) to its end, as
    `subprocess.run([returnflow, *args], env=env, cwd=cwd, timeout=timeout, input=input, capture_output=True,
    text=text, check=check)` would, in a process forked from a server that imported the command once: stdout and
    stderr apart, stdin empty (or `input`), the exit status (negative: the signal that ended it). On timeout the
    process group is killed (SIGKILL) and subprocess.TimeoutExpired raised, with the output so far.

    The console script, not `python -m returnflow.cli`: the same typer app, but click names the program in usage
    lines after sys.argv[0] and __main__ ("returnflow" here, "python -m returnflow.cli" there), and sys.path[0] is
    the script's directory, not the working directory. The environment and directory given are the child's; the
    server it is forked from is the one started with the same values of what the import read (see ReturnflowRunner).
    Output goes to files, not pipes: a grandchild left running does not hold the call up as it would
    subprocess.run's."""
    decode = _text if text else bytes
    env = dict(os.environ if env is None else env)
    cwd = os.getcwd() if cwd is None else os.fspath(cwd)
    if not os.path.isdir(cwd):
        raise FileNotFoundError(2, "No such directory", cwd)
    pool = runner()
    server = pool.server_for(env)
    stdin, stdout, stderr = pool.files()
    if input:
        stdin.write_bytes(input.encode(locale_encoding()) if isinstance(input, str) else input)
    child = server.spawn(list(args), stdout=stdout, stderr=stderr, stdin=stdin if input else None, env=env, cwd=cwd)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            # in slices, so that other threads can use the server meanwhile
            left = 0.5 if deadline is None else min(0.5, max(0.0, deadline - time.monotonic()))
            if child._wait(left):
                break
            if deadline is not None and time.monotonic() >= deadline:
                try:
                    os.killpg(child.pid, signal.SIGKILL)  # not reaped yet (only the server reaps): still its pid
                except ProcessLookupError:
                    pass
                child.wait()
                raise subprocess.TimeoutExpired(child.args, timeout, output=decode(stdout.read_bytes()),
                                                stderr=decode(stderr.read_bytes()))
        done = subprocess.CompletedProcess(child.args, child.returncode, decode(stdout.read_bytes()),
                                           decode(stderr.read_bytes()))
    finally:
        for path in (stdin, stdout, stderr):
            path.unlink(missing_ok=True)
    if check:
        done.check_returncode()
    return done
