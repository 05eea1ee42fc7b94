"""A fork server for tests that start many `returnflow` processes (tests/support/processes.py: `zygote`).

    python tests/support/zygote.py SCRIPT REQUESTS ANSWERS [MODULE ...]

It does what the console script SCRIPT does up to the command itself — its directory first on sys.path, then the
import of its entry point (`returnflow.cli:app`) — once, then imports the MODULEs (libraries that the command loads
where it uses them, e.g. Alembic to migrate at a worker's start: only their import moves before the fork), then
waits. Asked to `start`, it forks a child that sets
itself up as `subprocess.Popen(..., stdout=log, stderr=STDOUT, start_new_session=True)` would (its own session,
stdout and stderr to the log file, stdin from /dev/null), then does what the console script does next: the given
argv, the command run to its end, the exit as the interpreter's. So each child is a fresh process running the real
command, only without importing it again. The environment and working directory
are those this server was started with (so nothing imported can have read another one).

Nothing is opened before the fork: no thread, no database engine or connection, no file or socket but the two pipes
below (checked after the import and before each fork). What the children do share is what the import made, and the
string hash seed (drawn once per interpreter); `random` is reseeded in each child by the fork itself. The children
are this server's: it reaps them and answers with their wait status (`wait`), so a test still learns that its child
died of SIGKILL.

Requests, one JSON line each on the fd REQUESTS; one JSON line answers each on the fd ANSWERS:
    {"start": [argv...], "log": PATH, "append": bool}  ->  {"pid": N}
    {"wait": PID, "timeout": SECONDS or null}           ->  {"status": WAIT STATUS or null if still running}
At the end of REQUESTS it kills what it started and is still running (their process groups), reaps them and exits.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import sys
import threading
import time
from importlib.metadata import entry_points


def open_fds() -> set[int]:
    """The open file descriptors but stdin, stdout and stderr (not the one listdir used, closed once it returns)."""
    listed = {int(fd) for fd in os.listdir("/proc/self/fd")} - {0, 1, 2}
    still = set()
    for fd in listed:
        try:
            os.fstat(fd)
        except OSError:
            continue
        still.add(fd)
    return still


def clean(pipes: set[int]) -> None:
    """Refuses to fork anything that a child would share with the server or with its siblings."""
    threads = [t.name for t in threading.enumerate()]
    if len(threads) != 1:
        raise SystemExit(f"zygote: threads before fork: {threads}")
    extra = open_fds() - pipes
    if extra:
        raise SystemExit(f"zygote: open files before fork: {[os.readlink(f'/proc/self/fd/{fd}') for fd in extra]}")


def no_engines() -> None:
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    made = [o for o in gc.get_objects() if isinstance(o, (Engine, Pool))]
    if made:
        raise SystemExit(f"zygote: the import made database engines or pools: {made}")


def serve(requests: int, answers: int) -> list[str]:
    """Answers requests until their end (then exits); returns only in a forked child, with the child's argv."""
    reader = os.fdopen(requests, "r", encoding="utf-8")
    children: set[int] = set()

    def answer(value: dict) -> None:
        os.write(answers, (json.dumps(value) + "\n").encode())

    for line in reader:
        request = json.loads(line)
        if "start" in request:
            clean({requests, answers})
            sys.stdout.flush()
            sys.stderr.flush()
            # Opened before the fork, so the log exists once the pid is answered (as with Popen's stdout=).
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request["append"] else os.O_TRUNC)
            log = os.open(request["log"], flags, 0o644)
            pid = os.fork()
            if pid == 0:
                os.setsid()
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                for fd in (log, null, answers):
                    os.close(fd)
                reader.close()  # the requests' fd
                return list(request["start"])
            os.close(log)
            children.add(pid)
            answer({"pid": pid})
        else:
            pid, timeout = request["wait"], request["timeout"]
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done or (deadline is not None and time.monotonic() >= deadline):
                    break
                time.sleep(0.005)
            if done:
                children.discard(pid)
            answer({"status": status if done else None})
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    raise SystemExit(0)


def main() -> None:
    script, requests, answers, preload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # as when the interpreter runs SCRIPT
    name = os.path.basename(script)
    (entry,) = [ep for ep in entry_points(group="console_scripts", name=name)]
    app = entry.load()  # what SCRIPT imports: `from returnflow.cli import app`
    for module in preload:
        importlib.import_module(module)
    no_engines()
    clean({requests, answers})
    sys.argv = serve(requests, answers)
    sys.exit(app())  # as SCRIPT does


if __name__ == "__main__":
    main()
