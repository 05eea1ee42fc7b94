"""What the fake WeChat Pay and Alipay processes share: the state and its lock, the test controls, the queue of
notifications, RSA with SHA-256 over `cryptography` (written here again, not imported from the product, so a
mistake on one side cannot hide one on the other), and the server loop. Not part of either protocol.

Test controls (every fake):
    POST /_test/config {"settle_delay": s, "fail_next": n (a definite business refusal), "error_next": n (a system
        error, nothing kept), "delay_next": n + "response_delay": s (the refund is taken, the answer comes late),
        "garbage_next": n (the refund is taken, the answer is garbage), "decline_next": n (taken, then fails:
        WeChat Pay CLOSED, or "decline_as": "ABNORMAL"),
        "duplicate_next": n (its notification is queued twice), "forge_next": n (a forged notification is queued
        before the real one)}
    GET  /_test/notifications?drain=1   [{"headers": {...}, "body": "..."}]
    GET  /_test/stats                   {"created", "posts", "queries", "bad_signatures", "refunds": {key: {...}}}
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

LOCK = threading.Lock()
STATE: dict = {"refunds": {}, "queue": [], "created": 0, "posts": 0, "queries": 0, "bad_signatures": 0, "events": 0,
               "config": {"settle_delay": 0.05, "fail_next": 0, "error_next": 0, "delay_next": 0,
                          "response_delay": 0.0, "garbage_next": 0, "decline_next": 0, "duplicate_next": 0,
                          "forge_next": 0}}
FORGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def load_private(path: str):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_public(path: str):
    with open(path, "rb") as f:
        return serialization.load_pem_public_key(f.read())


def rsa_sign(key, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_ok(key, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def take(name: str) -> bool:
    """Consumes one of the `name` test control (call with LOCK held)."""
    config = STATE["config"]
    if config[name] > 0:
        config[name] -= 1
        return True
    return False


def queue(delivery: dict, forged: dict | None = None, *, twice: bool = False) -> None:
    with LOCK:
        if forged is not None:
            STATE["queue"].append(forged)
        STATE["queue"].append(delivery)
        if twice:
            STATE["queue"].append(delivery)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def reply(self, status: int, data: bytes, headers: dict | None = None, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def controls(self, method: str) -> bool:
        """The test controls; True when the request was one of them."""
        url = urlparse(self.path)
        if method == "POST" and url.path == "/_test/config":
            with LOCK:
                STATE["config"].update(json.loads(self.body() or b"{}"))
                data = json.dumps(STATE["config"]).encode()
            self.reply(200, data)
            return True
        if method == "GET" and url.path == "/_test/notifications":
            with LOCK:
                items = list(STATE["queue"])
                if parse_qs(url.query).get("drain"):
                    STATE["queue"].clear()
            self.reply(200, json.dumps(items).encode())
            return True
        if method == "GET" and url.path == "/_test/stats":
            with LOCK:
                data = json.dumps({k: STATE[k] for k in ("created", "posts", "queries", "bad_signatures",
                                                         "refunds")}).encode()
            self.reply(200, data)
            return True
        return False


def serve(handler, port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def later(delay: float, work) -> None:
    def run():
        time.sleep(delay)
        work()

    threading.Thread(target=run, daemon=True).start()
