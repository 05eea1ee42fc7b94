"""A fork server for tests that start many `returnflow` processes (tests/support/processes.py: `zygote`, `run_returnflow`).

    python tests/support/zygote.py SCRIPT REQUESTS ANSWERS [MODULE ...]

It does what the console script SCRIPT does up to the command itself — its directory first on sys.path, then the
import of its entry point (`returnflow.cli:main`) — once, then imports the MODULEs (libraries that the command loads
where it uses them, e.g. Alembic to migrate at a worker's start: only their import moves before the fork), then
waits. Asked to `start`, it forks a child that sets
itself up as `subprocess.Popen(..., stdout=log, stderr=STDOUT, start_new_session=True)` would (its own session,
stdout and stderr to the log file, stdin from /dev/null), then does what the console script does next: the given
argv, the command run to its end, the exit as the interpreter's. So each child is a fresh process running the real
command, only without importing it again.

The environment and working directory are by default those this server was started with. A `start` may give the
child its own (`env`, `cwd`: as `Popen(env=..., cwd=...)`): the child replaces the contents of os.environ (in place,
so the C environment follows, and so does everything that kept a reference to os.environ, e.g. rich's Console) and
changes directory first thing after the fork, before anything of the command runs. What the import itself read of
the environment cannot follow: the server records the variables read through os.environ while it imports (COLUMNS,
NO_COLOR, ... for the consoles made at import, LANG, TZ, ...) and tells them in its first answer, `{"ready": true,
"read": [...]}` (`"*"` among them if the import went through the whole environment); a client must give a child an
`env` that agrees with the server's on those and on what the interpreter itself reads at its start (PYTHON*, LC_*,
LANG, TZ: see processes.STARTUP_VARIABLES) — tests/support/processes.py keeps one server per such set of values.
And the import must not have settled anything from the environment for later: no cache of returnflow's filled (e.g.
returnflow.config.get_settings), checked after the import.

Nothing is opened before the fork: no thread, no database engine or connection, no file or socket but the two pipes
below (checked after the import and before each fork). What the children do share is what the import made (frozen:
see main), and the string hash seed (drawn once per interpreter); `random` is reseeded in each child by the fork
itself. The children are this server's: it reaps them and answers with their wait status (`wait`), so a test still
learns that its child died of SIGKILL.

Requests, one JSON line each on the fd REQUESTS; one JSON line answers each on the fd ANSWERS (after the first,
`{"ready": true, "read": [...]}`, sent once the import is done):
    {"start": [argv...], "log": PATH, "append": bool}  ->  {"pid": N}
    {"start": [argv...], "stdout": PATH, "stderr": PATH, "stdin": PATH or null, "env": {...} or null,
     "cwd": PATH or null}                              ->  {"pid": N}   (stdout, stderr: truncated; stdin: /dev/null)
    {"wait": PID, "timeout": SECONDS or null}           ->  {"status": WAIT STATUS or null if still running}
At the end of REQUESTS it kills what it started and is still running (their process groups), reaps them and exits.
"""

from __future__ import annotations

import functools
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


def no_settled_caches() -> None:
    """The import must not have cached anything of returnflow's (settings above all): a child with another
    environment would find it made from the server's."""
    filled = [f"{o.__module__}.{o.__qualname__}" for o in gc.get_objects()
              if isinstance(o, functools._lru_cache_wrapper) and (getattr(o, "__module__", None) or "")
              .startswith("returnflow") and o.cache_info().currsize]
    from returnflow.config import get_settings

    if filled or get_settings.cache_info().currsize:
        raise SystemExit(f"zygote: the import filled caches of returnflow: {filled}")


class EnvironmentReads:
    """Records the variables read through os.environ (os.getenv, `in`, .get, [...]); "*" for a walk through it."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._get, self._iter = os._Environ.__getitem__, os._Environ.__iter__

    def __enter__(self) -> EnvironmentReads:
        names, get, walk = self.names, self._get, self._iter

        def getitem(environ, key):
            names.add(key if isinstance(key, str) else os.fsdecode(key))
            return get(environ, key)

        def iterate(environ):
            names.add("*")
            return walk(environ)

        os._Environ.__getitem__, os._Environ.__iter__ = getitem, iterate
        return self

    def __exit__(self, *exc) -> None:
        os._Environ.__getitem__, os._Environ.__iter__ = self._get, self._iter


def child_setup(request: dict, answers: int, reader) -> None:
    """In the forked child, first thing: its session, its standard files, its environment and working directory."""
    os.setsid()
    if "log" in request:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request["append"] else os.O_TRUNC)
        out = err = os.open(request["log"], flags, 0o644)
    else:
        out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    stdin = os.open(request.get("stdin") or os.devnull, os.O_RDONLY)
    for fd, target in ((stdin, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
    for fd in {stdin, out, err, answers}:
        os.close(fd)
    reader.close()  # the requests' fd
    env = request.get("env")
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    if request.get("cwd"):
        try:
            os.chdir(request["cwd"])
        except OSError as e:
            os.write(2, f"zygote: cannot change to {request['cwd']}: {e}\n".encode())
            os._exit(127)


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
            # The output files are made before the fork, so they exist once the pid is answered (as with Popen's).
            for name in ("log", "stdout", "stderr"):
                if name in request:
                    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request.get("append") else os.O_TRUNC)
                    os.close(os.open(request[name], flags, 0o644))
            pid = os.fork()
            if pid == 0:
                child_setup(request, answers, reader)
                return list(request["start"])
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
    with EnvironmentReads() as read:
        app = entry.load()  # what SCRIPT imports: `from returnflow.cli import app`
        for module in preload:
            importlib.import_module(module)
    no_engines()
    no_settled_caches()
    # What the import made lives as long as each child: out of the collector's sight (gc.freeze, as pre-fork servers
    # do), no child's collections nor its interpreter's exit walk through it again, nor copy its pages by touching
    # it (a short command's child: ~0.5 s -> ~0.15 s, of which ~0.35 s was its exit). What the import left as
    # garbage is collected here first, once.
    gc.collect()
    gc.freeze()
    clean({requests, answers})
    os.write(answers, (json.dumps({"ready": True, "read": sorted(read.names)}) + "\n").encode())
    sys.argv = serve(requests, answers)
    sys.exit(app())  # as SCRIPT does


if __name__ == "__main__":
    main()
