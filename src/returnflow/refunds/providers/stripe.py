"""Stripe refunds for cross-border merchants.

- Refund: `POST /v1/refunds` (form-encoded) {payment_intent=pi_… | charge=ch_… (the order's payment reference),
  amount (minor units), metadata[returnflow_key]=the leg's idempotency key} with `Authorization: Bearer <secret
  key>` and `Idempotency-Key: <the leg's key>` (the same key replays the first answer, never a second refund).
  Answer: a refund {id: re_…, amount, currency (lower case), status: pending | succeeded | failed | canceled |
  requires_action, failure_reason}; errors {"error": {type, code, message}}.
- Query: `GET /v1/refunds?payment_intent=…&limit=100` (or `charge=…`), the refund whose metadata carries the key.
- Webhook: `POST /api/v1/money/webhooks/stripe/{merchant code}` with `Stripe-Signature: t=<unix>,v1=<hex
  HMAC-SHA256(webhook secret, "<t>.<raw body>")>`; events refund.updated / refund.failed / charge.refund.updated
  carrying the refund in data.object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from ... import outbound
from ...outbound import OutboundError, excerpt
from ..gateways import GatewaySettings, Leg, Outcome
from ...i18n import N_
from .config import resolve
from .wechatpay import Refused

DONE = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed", "pending": "sent",
        "requires_action": "sent"}


def original(payment_ref: str | None) -> dict:
    ref = payment_ref or ""
    return {"charge": ref} if ref.startswith(("ch_", "py_")) else {"payment_intent": ref}


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Notice:
    event_id: str
    key: str
    status: str
    amount: int
    currency: str
    provider_ref: str | None
    detail: str


def read_notification(conf: dict, headers: dict, body: bytes, *, tolerance: int, now: float | None = None) -> Notice:
    header = headers.get("stripe-signature")
    if not header:
        raise Refused(N_("missing Stripe-Signature header"))
    t, candidates = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            t = value
        elif name == "v1":
            candidates.append(value)
    if not t or not t.isdigit() or not candidates:
        raise Refused(N_("malformed Stripe-Signature header"))
    secret = resolve(conf["webhook_secret"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise Refused(N_("bad signature"))
    if abs((time.time() if now is None else now) - int(t)) > tolerance:
        raise Refused(N_("signature timestamp outside the tolerance (replayed?)"))
    try:
        event = json.loads(body)
        refund = event["data"]["object"]
        status = DONE.get(refund["status"])
        if refund.get("object") != "refund" or status is None:
            raise Refused(N_("not a refund event: {type}"), type=excerpt(str(event.get('type'))))
        return Notice(event_id=str(event["id"]), key=str(refund["metadata"]["returnflow_key"]), status=status,
                      amount=int(refund["amount"]), currency=str(refund["currency"]).upper(),
                      provider_ref=refund.get("id"), detail=str(refund["status"]))
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused(N_("not a refund event")) from None


class StripeGateway:
    name = "stripe"

    def __init__(self, settings: GatewaySettings, conf: dict) -> None:
        self.settings, self.conf = settings, conf

    def _call(self, method: str, path: str, form: dict | None = None, key: str | None = None):
        headers = {"Authorization": f"Bearer {resolve(self.conf['secret_key'])}"}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if key:
            headers["Idempotency-Key"] = key
        answer = outbound.request(method, self.conf["api_url"].rstrip("/") + path, allowed=self.settings.allowed(),
                                  body=urlencode(form).encode() if form is not None else None, headers=headers,
                                  timeout=self.settings.http_timeout, max_bytes=1024 * 1024)
        try:
            payload = json.loads(answer.body or b"")
        except ValueError:
            payload = None
        return answer.status, payload if isinstance(payload, dict) else None, answer.body

    @staticmethod
    def _outcome(refund: dict) -> Outcome:
        status = DONE.get(refund.get("status"))
        if status is None or not isinstance(refund.get("amount"), int):
            return Outcome("unknown", error=f"unreadable refund: {excerpt(str(refund.get('status')))}")
        reason = refund.get("failure_reason")
        return Outcome(status, provider_ref=refund.get("id"), amount=refund["amount"],
                       currency=str(refund.get("currency", "")).upper(),
                       error=f"Stripe: {refund['status']} {excerpt(str(reason or ''))}".strip()
                       if status == "failed" else None)

    def send(self, leg: Leg) -> Outcome:
        if leg.amount <= 0 or not isinstance(leg.amount, int):
            return Outcome("failed", error="the refund amount must be a positive whole number of minor units")
        if not leg.payment_ref:
            return Outcome("failed", error="the order carries no Stripe payment reference")
        if leg.payment_total is not None and leg.amount > leg.payment_total:
            return Outcome("failed", error="the refund is larger than the order's card payment")
        form = {**original(leg.payment_ref), "amount": leg.amount, "metadata[returnflow_key]": leg.idempotency_key,
                "metadata[returnflow_leg]": leg.number}
        try:
            status, payload, raw = self._call("POST", "/v1/refunds", form, key=leg.idempotency_key)
        except OutboundError as exc:
            return Outcome("unknown", error=f"no answer from Stripe: {exc}")
        if payload is None:
            return Outcome("unknown", error=f"Stripe answered {status}, unreadable: {excerpt(raw)}")
        if status == 200:
            return self._outcome(payload)
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        if 400 <= status < 500 and status not in (408, 409, 429):
            return Outcome("failed", error=f"Stripe {status} {excerpt(str(error.get('code') or error.get('type')))}: "
                                           f"{excerpt(str(error.get('message')))}")
        return Outcome("unknown", error=f"Stripe answered {status} {excerpt(str(error.get('type')))}")

    def lookup(self, leg: Leg) -> Outcome | None:
        query = urlencode({**original(leg.payment_ref), "limit": 100})
        try:
            status, payload, _ = self._call("GET", f"/v1/refunds?{query}")
        except OutboundError:
            return None
        if status != 200 or payload is None or not isinstance(payload.get("data"), list):
            return None
        for refund in payload["data"]:
            if isinstance(refund, dict) and (refund.get("metadata") or {}).get("returnflow_key") == leg.idempotency_key:
                outcome = self._outcome(refund)
                return None if outcome.status == "unknown" else outcome
        return None if payload.get("has_more") else Outcome("missing")
