"""Payment gateways behind one small interface: `send` a refund leg, `lookup` its outcome, `verify` a webhook.

`manual`: finance pays outside the system and marks the leg paid with a reference.
`wechatpay`, `alipay`, `stripe`: the providers' own protocols with the merchant's credentials (refunds.providers).
`http`: a provider speaking a common refund protocol —
  POST {url}/v1/refunds with `Authorization: Bearer <key>` and `Idempotency-Key: <leg key>`; body
  {"amount": <minor>, "currency", "payment_ref", "reference"}; answers {"id", "status": pending|succeeded|failed,
  "amount", "currency", "failure_reason"}. The same key sent again returns the same refund, never a second one.
  GET {url}/v1/refunds?idempotency_key=<key> finds it again after a lost answer.
  The outcome arrives later by webhook: POST <our url>/api/v1/money/webhooks/http with
  `Pay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` and body
  {"id": "evt_..", "type": "refund.succeeded" | "refund.failed", "data": {<the refund>, "idempotency_key"}}.
Charges (money taken from the customer, e.g. an advance exchange whose return never came), answered at once:
  POST {url}/v1/charges with `Idempotency-Key`; body {"amount", "currency", "payment_ref", "reference",
  "capture": true (charge now) | false (hold: authorise only)}; answers {"id", "status": succeeded | authorized |
  failed, "amount", "currency", "failure_reason"}.
  POST {url}/v1/charges/{id}/capture and POST {url}/v1/charges/{id}/release, each with `Idempotency-Key`;
  answer {"id", "status": captured | released | failed, ...}. The same key again returns the same answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .. import outbound
from ..outbound import Allowed, OutboundError, excerpt, redact_url


class GatewaySettings(BaseSettings):
    """The HTTP gateway's address and secrets, from RETURNFLOW_PAY_* (never stored in the repository)."""

    model_config = SettingsConfigDict(env_prefix="RETURNFLOW_PAY_", extra="ignore", populate_by_name=True)

    http_url: str = ""
    http_api_key: str = Field(default="", repr=False)
    http_webhook_secret: str = Field(default="", repr=False)
    http_timeout: float = Field(default=5.0, gt=0)
    webhook_tolerance_seconds: int = 300
    # The deployment's allowed hosts (RETURNFLOW_OUTBOUND_ALLOWED_HOSTS, as in returnflow.config).
    outbound_allowed_hosts: str = Field(default="", validation_alias="RETURNFLOW_OUTBOUND_ALLOWED_HOSTS")

    def allowed(self) -> Allowed:
        return Allowed.parse(self.outbound_allowed_hosts)

    def __repr_args__(self):
        # Secrets are left out of repr (repr=False); URLs, which may carry a key in their query, are shown redacted.
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name and name.endswith("_url") and value else value

    def problems(self) -> dict[str, tuple[str, str]]:
        """{"RETURNFLOW_PAY_HTTP_URL": (en, zh)} when the gateway URL may not be called (resolved now)."""
        if not self.http_url:
            return {}
        try:
            outbound.target(self.http_url, self.allowed())
        except outbound.Unresolved:
            return {}  # a name that does not resolve now is checked again at each call
        except outbound.Refused as exc:
            return {"RETURNFLOW_PAY_HTTP_URL": (exc.en, exc.zh)}
        return {}


@dataclass(frozen=True)
class Leg:
    """What a gateway needs to know about one refund leg."""

    number: str
    idempotency_key: str
    amount: int
    currency: str
    method: str
    payment_ref: str | None
    payment_total: int | None = None  # what the order's payment this leg returns to took, in minor units
    merchant_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What the gateway said: `sent` (accepted, outcome to follow), `succeeded`, `failed`, or `unknown` (no answer)."""

    status: str
    provider_ref: str | None = None
    error: str | None = None
    amount: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    """What a gateway needs for one charge operation (hold, capture, release or charge)."""

    op: str
    number: str
    idempotency_key: str
    amount: int
    currency: str
    payment_ref: str | None
    provider_ref: str | None = None


CHARGE_DONE = {"hold": "authorized", "charge": "succeeded", "capture": "captured", "release": "released"}


class Gateway(Protocol):
    name: str

    def send(self, leg: Leg) -> Outcome: ...

    def lookup(self, leg: Leg) -> Outcome | None: ...


class ManualGateway:
    """Finance pays by hand (bank transfer, cash) and marks the leg paid with a reference."""

    name = "manual"

    def send(self, leg: Leg) -> Outcome:
        return Outcome("sent")

    def lookup(self, leg: Leg) -> Outcome | None:
        return None

    def charge(self, request: ChargeRequest) -> Outcome:
        """Finance takes the money (or the deposit) by hand: a hold or release is only recorded; a charge or
        capture waits for finance to mark it collected."""
        return Outcome("succeeded" if request.op in ("hold", "release") else "sent", provider_ref="manual")


class HttpGateway:
    """The provider protocol in the module docstring, over plain HTTP with a timeout."""

    name = "http"

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings

    def _call(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
        """One exchange through the outbound guard (public addresses or allowed hosts only, within the timeout);
        OutboundError when there was no answer. An answer that is not a JSON object reads as {}."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.settings.http_api_key}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        answer = outbound.request(method, self.settings.http_url.rstrip("/") + path, body=data, headers=headers,
                                  timeout=self.settings.http_timeout, allowed=self.settings.allowed(),
                                  max_bytes=1024 * 1024)
        try:
            payload = json.loads(answer.body or b"{}")
        except ValueError:
            payload = {}
        return answer.status, payload if isinstance(payload, dict) else {}

    @staticmethod
    def _outcome(payload: dict) -> Outcome:
        status = payload.get("status")
        mapped = {"succeeded": "succeeded", "failed": "failed"}.get(status, "sent")
        reason = payload.get("failure_reason")
        return Outcome(mapped, provider_ref=payload.get("id"), error=excerpt(str(reason)) if reason else None,
                       amount=payload.get("amount"), currency=payload.get("currency"))

    def send(self, leg: Leg) -> Outcome:
        if not self.settings.http_url:
            return Outcome("unknown", error="the HTTP gateway is not configured (RETURNFLOW_PAY_HTTP_URL)")
        body = {"amount": leg.amount, "currency": leg.currency, "payment_ref": leg.payment_ref,
                "reference": leg.number, "method": leg.method}
        try:
            status, payload = self._call("POST", "/v1/refunds", body, key=leg.idempotency_key)
        except OutboundError as exc:
            # No answer: the provider may or may not have it. The leg stays `sent`; the same key is safe to resend.
            return Outcome("unknown", error=f"no answer from the provider: {exc}")
        if status in (200, 201, 202):
            return self._outcome(payload)
        if 400 <= status < 500 and status not in (408, 409, 429):
            # A definite refusal: no money moved, the leg may be retried with a new key.
            return Outcome("failed", error=f"{status} {excerpt(str(payload.get('error') or payload))}")
        return Outcome("unknown", error=f"provider answered {status}")

    def lookup(self, leg: Leg) -> Outcome | None:
        if not self.settings.http_url:
            return None
        try:
            status, payload = self._call("GET", f"/v1/refunds?idempotency_key={leg.idempotency_key}")
        except OutboundError:
            return None
        if status == 404:
            return Outcome("missing")
        return self._outcome(payload) if status == 200 else None


    def charge(self, request: ChargeRequest) -> Outcome:
        """One charge operation; `succeeded` when the provider did it, `failed` on a definite refusal, `unknown`
        when there was no clear answer (safe to repeat with the same key)."""
        if not self.settings.http_url:
            return Outcome("unknown", error="the HTTP gateway is not configured (RETURNFLOW_PAY_HTTP_URL)")
        if request.op in ("hold", "charge"):
            path, body = "/v1/charges", {"amount": request.amount, "currency": request.currency,
                                         "payment_ref": request.payment_ref, "reference": request.number,
                                         "capture": request.op == "charge"}
        else:
            path, body = f"/v1/charges/{request.provider_ref}/{request.op}", {}
        try:
            status, payload = self._call("POST", path, body, key=request.idempotency_key)
        except OutboundError as exc:
            return Outcome("unknown", error=f"no answer from the provider: {exc}")
        if status in (200, 201):
            done = payload.get("status") == CHARGE_DONE[request.op]
            return Outcome("succeeded" if done else "failed", provider_ref=payload.get("id") or request.provider_ref,
                           error=None if done else excerpt(str(payload.get("failure_reason")
                                                               or payload.get("status"))),
                           amount=payload.get("amount"), currency=payload.get("currency"))
        if 400 <= status < 500 and status not in (408, 409, 429):
            return Outcome("failed", error=f"{status} {excerpt(str(payload.get('error') or payload))}")
        return Outcome("unknown", error=f"provider answered {status}")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The Pay-Signature header value for `body` (what the provider sends; tests and the fake use it too)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str | None, body: bytes, *, tolerance: int, now: float | None = None) -> str | None:
    """None if the signature is good and fresh, else what is wrong with it."""
    if not secret:
        return "no webhook secret is configured"
    if not header:
        return "missing Pay-Signature header"
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return "malformed Pay-Signature header"
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        return "bad signature"
    if abs((time.time() if now is None else now) - t) > tolerance:
        return "signature timestamp outside the tolerance (replayed?)"
    return None


def gateway(name: str, settings: GatewaySettings, conf: dict | None = None) -> Gateway:
    """The gateway called `name` (`conf`: the merchant's credentials for a provider in refunds.providers)."""
    if name == "http":
        return HttpGateway(settings)
    if name in PROVIDER_GATEWAYS:
        from .providers import build
        from .providers.config import missing

        return build(name, settings, conf) if not missing(name, conf) else Unconfigured(name)
    return ManualGateway()


class Unconfigured:
    """A provider whose credentials were removed after a leg was routed to it: nothing is sent, the leg waits."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, leg: Leg) -> Outcome:
        return Outcome("unknown", error=f"{self.name} is not configured for this merchant (money settings)")

    def lookup(self, leg: Leg) -> Outcome | None:
        return None


PROVIDER_GATEWAYS = ("wechatpay", "alipay", "stripe")
GATEWAYS = ("manual", "http", *PROVIDER_GATEWAYS)
