#!/usr/bin/env python
"""A fake payment provider, run as its own process on 127.0.0.1, speaking the protocol of
returnflow.refunds.gateways (idempotency keys, async outcome, signed webhooks). Standard library only.

    python tests/support/fake_pay.py --api-key K --secret S [--port 0]   # prints "PORT <n>" when ready

Test controls (not part of the protocol):
    POST /_test/config   {"webhook_url": url|null, "settle_delay": s, "fail_next": n, "decline_next": n,
                          "delay_next": n, "response_delay": s, "drop_webhooks": n}
    GET  /_test/webhooks?drain=1   undelivered signed webhooks [{"headers": {...}, "body": "..."}]
    GET  /_test/stats    {"created": n, "posts": n, "refunds": {key: {...}}, "charges": {id: {..., "captured"}},
                          "charge_posts": n}
Charges (holds, captures, releases, direct charges) answer at once; `fail_next` makes them answer 503 (nothing
kept), `decline_next` declines the next new charge.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATE: dict = {"refunds": {}, "by_id": {}, "charges": {}, "charge_ops": {}, "charge_posts": 0, "queue": [], "created": 0, "posts": 0, "events": 0,
               "config": {"webhook_url": None, "settle_delay": 0.05, "fail_next": 0, "decline_next": 0,
                          "delay_next": 0, "response_delay": 0.0, "drop_webhooks": 0}}
ARGS = argparse.Namespace()


def sign(body: bytes) -> str:
    t = int(time.time())
    mac = hmac.new(ARGS.secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def emit(refund: dict) -> None:
    """Queues (and, with a webhook_url, delivers with retries) the signed outcome of a refund."""
    with LOCK:
        STATE["events"] += 1
        event = {"id": f"evt_{STATE['events']}", "type": f"refund.{refund['status']}", "data": dict(refund)}
        body = json.dumps(event).encode()
        delivery = {"headers": {"Pay-Signature": sign(body), "Content-Type": "application/json"},
                    "body": body.decode()}
        url = STATE["config"]["webhook_url"]
        drop = STATE["config"]["drop_webhooks"] > 0
        if drop:
            STATE["config"]["drop_webhooks"] -= 1
        if url is None or drop:
            STATE["queue"].append(delivery)
            return
    for attempt in range(6):
        try:
            request = urllib.request.Request(url, data=body, method="POST", headers=delivery["headers"])
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status < 300:
                    return
        except Exception:  # noqa: BLE001 - the receiver may be down; providers retry with backoff
            pass
        time.sleep(0.2 * 2 ** attempt)
    with LOCK:
        STATE["queue"].append(delivery)


def process(key: str, decline: bool) -> None:
    time.sleep(STATE["config"]["settle_delay"])
    with LOCK:
        refund = STATE["refunds"][key]
        refund["status"] = "failed" if decline else "succeeded"
        if decline:
            refund["failure_reason"] = "account_closed"
        snapshot = dict(refund)
    emit(snapshot)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/_test/webhooks":
            with LOCK:
                items = list(STATE["queue"])
                if query.get("drain"):
                    STATE["queue"].clear()
            return self._send(200, items)
        if url.path == "/_test/stats":
            with LOCK:
                return self._send(200, {"created": STATE["created"], "posts": STATE["posts"],
                                        "refunds": STATE["refunds"], "charges": STATE["charges"],
                                        "charge_posts": STATE["charge_posts"]})
        if self.headers.get("Authorization") != f"Bearer {ARGS.api_key}":
            return self._send(401, {"error": "unauthorized"})
        if url.path == "/v1/refunds":
            key = (query.get("idempotency_key") or [""])[0]
            with LOCK:
                refund = STATE["refunds"].get(key)
            return self._send(200, refund) if refund else self._send(404, {"error": "no such refund"})
        return self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        raw = self._body()
        if url.path == "/_test/config":
            with LOCK:
                STATE["config"].update(json.loads(raw or b"{}"))
            return self._send(200, STATE["config"])
        if url.path.startswith("/v1/charges"):
            return self._charge(url.path, raw)
        if url.path != "/v1/refunds":
            return self._send(404, {"error": "not found"})
        if self.headers.get("Authorization") != f"Bearer {ARGS.api_key}":
            return self._send(401, {"error": "unauthorized"})
        key = self.headers.get("Idempotency-Key")
        if not key:
            return self._send(400, {"error": "Idempotency-Key required"})
        try:
            body = json.loads(raw)
            amount, currency = int(body["amount"]), str(body["currency"])
        except (ValueError, KeyError, TypeError):
            return self._send(400, {"error": "bad request"})
        delay = 0.0
        with LOCK:
            STATE["posts"] += 1
            config = STATE["config"]
            existing = STATE["refunds"].get(key)
            if existing is not None:
                if (existing["amount"], existing["currency"]) != (amount, currency):
                    return self._send(422, {"error": "idempotency key reused with other parameters"})
                return self._send(200, existing)
            if config["fail_next"] > 0:
                config["fail_next"] -= 1
                return self._send(402, {"error": "insufficient_funds"})
            if amount <= 0:
                return self._send(400, {"error": "amount must be positive"})
            decline = config["decline_next"] > 0
            if decline:
                config["decline_next"] -= 1
            if config["delay_next"] > 0:
                config["delay_next"] -= 1
                delay = config["response_delay"]
            STATE["created"] += 1
            refund = {"id": f"re_{STATE['created']}", "status": "pending", "amount": amount, "currency": currency,
                      "idempotency_key": key, "payment_ref": body.get("payment_ref"),
                      "reference": body.get("reference"), "failure_reason": None}
            STATE["refunds"][key] = refund
            snapshot = dict(refund)
        threading.Thread(target=process, args=(key, decline), daemon=True).start()
        if delay:
            time.sleep(delay)  # the refund is accepted, but the answer comes too late for the caller
        return self._send(201, snapshot)


    def _charge(self, path: str, raw: bytes) -> None:
        """Charges, holds, captures and releases: answered at once; the same Idempotency-Key, the same answer."""
        if self.headers.get("Authorization") != f"Bearer {ARGS.api_key}":
            return self._send(401, {"error": "unauthorized"})
        key = self.headers.get("Idempotency-Key")
        if not key:
            return self._send(400, {"error": "Idempotency-Key required"})
        parts = path.strip("/").split("/")  # v1 charges [id op]
        with LOCK:
            STATE["charge_posts"] += 1
            config = STATE["config"]
            if key in STATE["charge_ops"]:
                code, answer = STATE["charge_ops"][key]
                return self._send(code, answer)
            if config["fail_next"] > 0:
                config["fail_next"] -= 1
                return self._send(503, {"error": "try again"})  # no answer kept: the same key may come again
            if len(parts) == 2:
                try:
                    body = json.loads(raw)
                    amount, currency = int(body["amount"]), str(body["currency"])
                except (ValueError, KeyError, TypeError):
                    return self._send(400, {"error": "bad request"})
                if amount <= 0:
                    return self._send(400, {"error": "amount must be positive"})
                decline = config["decline_next"] > 0
                if decline:
                    config["decline_next"] -= 1
                charge = {"id": f"ch_{len(STATE['charges']) + 1}", "amount": amount, "currency": currency,
                          "payment_ref": body.get("payment_ref"), "reference": body.get("reference"),
                          "captured": 0, "failure_reason": "card_declined" if decline else None,
                          "status": "failed" if decline else ("succeeded" if body.get("capture") else "authorized")}
                if not decline and body.get("capture"):
                    charge["captured"] = amount
                STATE["charges"][charge["id"]] = charge
                answer = (201, dict(charge))
            elif len(parts) == 4 and parts[2] in STATE["charges"] and parts[3] in ("capture", "release"):
                charge = STATE["charges"][parts[2]]
                if charge["status"] != "authorized":
                    answer = (409, {"error": f"charge is {charge['status']}"})
                else:
                    charge["status"] = "captured" if parts[3] == "capture" else "released"
                    if parts[3] == "capture":
                        charge["captured"] += charge["amount"]
                    answer = (200, dict(charge))
            else:
                return self._send(404, {"error": "no such charge"})
            STATE["charge_ops"][key] = answer
        return self._send(*answer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--webhook-url", default=None)
    global ARGS
    ARGS = parser.parse_args()
    STATE["config"]["webhook_url"] = ARGS.webhook_url
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
