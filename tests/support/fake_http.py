"""A stand-in for an outside HTTP service (webhook receiver, SMS or push provider), run as its own process.

    python -m tests.support.fake_http PORT LOG --fail N --answer ok|garbage|echo --delay SECONDS

Answers HTTP 500 to the first N requests, then 200 with {"id": ...} (or garbage; `echo`: 500 with the request's
own body, as a careless provider might); waits `--delay` seconds before each answer (a slow receiver); appends
every request (headers, body, the status it answered) as one JSON line to LOG.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--answer", default="ok", choices=["ok", "garbage", "echo"])
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    lock = threading.Lock()
    seen = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # readiness probe
            self.send_response(204)
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                seen["n"] += 1
                n = seen["n"]
            if n <= args.fail:
                status, answer = 500, b'{"error": "temporarily broken"}'
            elif args.answer == "echo":
                status, answer = 500, json.dumps({"error": "could not send", "request": body.decode()}).encode()
            elif args.answer == "garbage":
                status, answer = 200, b"<html>OK?</html>"
            else:
                status, answer = 200, json.dumps({"id": f"m{n}"}).encode()
            with lock, open(args.log, "a", encoding="utf-8") as out:
                out.write(json.dumps({"n": n, "status": status, "path": self.path,
                                      "headers": dict(self.headers.items()), "body": body.decode()}) + "\n")
            if args.delay:  # logged first: a test sees that the request arrived and is being held
                time.sleep(args.delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
