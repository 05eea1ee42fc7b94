"""A misbehaving HTTP server, run as its own process: it answers every request with a long, dirty error page, or
holds it without answering.

    python -m tests.support.fake_receiver PORT LOG --mode dirty|hang

`dirty`: HTTP 500 with ~20 KB of text full of control characters, terminal escapes, a right-to-left override and
a line that looks like a leaked credential. `hang`: reads the request, then sleeps for a minute before answering.
Appends one JSON line per request (path, Host header) to LOG.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DIRTY_LINE = "\x1b[31mFATAL\x1b[0m\r\n\tstack\x07 at handler.py:42 \u202egpj.exe\x00 db_password=hunter2-leaked\n"
DIRTY = ("<html>" + DIRTY_LINE * 250 + "</html>").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--mode", choices=["dirty", "hang"], default="dirty")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with open(args.log, "a", encoding="utf-8") as out:
                out.write(json.dumps({"method": self.command, "path": self.path,
                                      "host": self.headers.get("Host")}) + "\n")
            if args.mode == "hang":
                time.sleep(60)
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(DIRTY)))
            self.end_headers()
            self.wfile.write(DIRTY)

        do_POST = do_GET = do_PUT = do_HEAD = _answer

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


@contextmanager
def fake_receiver(log: Path, mode: str) -> Iterator[str]:
    """This module as a process; yields its base URL."""
    from tests.support.processes import ROOT, _wait_port, free_port, stop

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_receiver", str(port), str(log), "--mode", mode],
                            cwd=ROOT, start_new_session=True)
    try:
        _wait_port(port, proc, "fake receiver")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
