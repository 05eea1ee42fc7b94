"""A fake Stripe (refunds) as its own process on 127.0.0.1: Bearer secret key checked, Idempotency-Key replaying
the first answer, refunds settling asynchronously, and events signed with the webhook secret (Stripe-Signature).

    python -m tests.support.fake_stripe --secret-key SK --webhook-secret WH [--port 0]

Test controls: see tests.support.fake_common.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, parse_qsl, urlparse

from tests.support.fake_common import LOCK, STATE, BaseHandler, later, queue, serve, take

ARGS = argparse.Namespace()
ANSWERS: dict[str, tuple[int, dict]] = {}  # Idempotency-Key -> the first answer


def stripe_signature(secret: str, body: bytes) -> str:
    t = int(time.time())
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def settle(refund_id: str, decline: bool) -> None:
    with LOCK:
        refund = next(r for r in STATE["refunds"].values() if r["id"] == refund_id)
        refund["status"] = "failed" if decline else "succeeded"
        if decline:
            refund["failure_reason"] = "expired_or_canceled_card"
        STATE["events"] += 1
        event = {"id": f"evt_{STATE['events']:08d}", "object": "event",
                 "type": "refund.failed" if decline else "refund.updated", "data": {"object": dict(refund)}}
        twice, forge = take("duplicate_next"), take("forge_next")
    body = json.dumps(event).encode()
    delivery = {"headers": {"Stripe-Signature": stripe_signature(ARGS.webhook_secret, body),
                            "Content-Type": "application/json"}, "body": body.decode()}
    forged = {"headers": {"Stripe-Signature": stripe_signature("whsec_forger", body),
                          "Content-Type": "application/json"}, "body": body.decode()} if forge else None
    queue(delivery, forged, twice=twice)


class Handler(BaseHandler):
    def answer(self, status: int, payload: dict) -> None:
        self.reply(status, json.dumps(payload).encode())

    def authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {ARGS.secret_key}":
            with LOCK:
                STATE["bad_signatures"] += 1
            self.answer(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
            return False
        return True

    def do_GET(self) -> None:
        if self.controls("GET"):
            return
        url = urlparse(self.path)
        if url.path != "/v1/refunds":
            return self.answer(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request"}})
        if not self.authorised():
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with LOCK:
            STATE["queries"] += 1
            found = [dict(r) for r in STATE["refunds"].values()
                     if r.get("payment_intent") == query.get("payment_intent", r.get("payment_intent"))
                     and r.get("charge") == query.get("charge", r.get("charge"))]
        return self.answer(200, {"object": "list", "data": found, "has_more": False, "url": "/v1/refunds"})

    def do_POST(self) -> None:
        if self.controls("POST"):
            return
        raw = self.body()
        if self.path != "/v1/refunds":
            return self.answer(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request"}})
        if not self.authorised():
            return
        key = self.headers.get("Idempotency-Key") or ""
        form = dict(parse_qsl(raw.decode()))
        delay, garbage = 0.0, False
        with LOCK:
            STATE["posts"] += 1
            if key in ANSWERS:
                status, payload = ANSWERS[key]
                return self.answer(status, payload)
            if take("error_next"):
                return self.answer(500, {"error": {"type": "api_error", "message": "An unknown error occurred"}})
            if take("fail_next"):
                answer = (400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                                          "message": "Charge has already been refunded."}})
                ANSWERS[key] = answer
                return self.answer(*answer)
            try:
                amount = int(form["amount"])
                if amount <= 0 or not (form.get("payment_intent") or form.get("charge")):
                    raise ValueError
            except (KeyError, ValueError):
                return self.answer(400, {"error": {"type": "invalid_request_error", "code": "parameter_invalid"}})
            decline = take("decline_next")
            if take("delay_next"):
                delay = STATE["config"]["response_delay"]
            garbage = take("garbage_next")
            STATE["created"] += 1
            refund = {"id": f"re_{STATE['created']:010d}", "object": "refund", "amount": amount,
                      "currency": ARGS.currency, "status": "pending", "payment_intent": form.get("payment_intent"),
                      "charge": form.get("charge"), "failure_reason": None, "created": int(time.time()),
                      "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
            STATE["refunds"][key or refund["id"]] = refund
            ANSWERS[key] = (200, dict(refund))
            snapshot, settle_delay = dict(refund), STATE["config"]["settle_delay"]
        later(settle_delay, lambda: settle(snapshot["id"], decline))
        if delay:
            time.sleep(delay)
        if garbage:
            return self.reply(502, b"<html>Bad gateway</html>", kind="text/html")
        return self.answer(200, snapshot)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--currency", default="usd")
    global ARGS
    ARGS = parser.parse_args()
    serve(Handler, ARGS.port)


if __name__ == "__main__":
    main()
