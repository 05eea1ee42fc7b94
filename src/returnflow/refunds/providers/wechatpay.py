"""WeChat Pay API v3 domestic refunds (微信支付 APIv3 境内退款).

- Refund: `POST /v3/refund/domestic/refunds` {out_refund_no = the leg's idempotency key (the same number refunds
  once), transaction_id | out_trade_no (from the order's payment reference), notify_url?, amount {refund, total,
  currency: "CNY"} in fen}. Answer {refund_id, out_refund_no, status: SUCCESS | PROCESSING | CLOSED | ABNORMAL,
  amount {refund, total, currency, ...}}; errors are 4xx/5xx {code, message}.
- Query: `GET /v3/refund/domestic/refunds/{out_refund_no}` (404 RESOURCE_NOT_EXISTS: never received).
- Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str="",signature="",timestamp="",
  serial_no=""`, the signature SHA256withRSA (merchant key) over "METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n".
- Answers and notifications carry Wechatpay-Timestamp, -Nonce, -Signature and -Serial; the signature is the
  platform key's SHA256withRSA over "TIMESTAMP\\nNONCE\\nBODY\\n". An answer that does not verify is no answer.
- Notification: {id, create_time, event_type: REFUND.SUCCESS | REFUND.ABNORMAL | REFUND.CLOSED, resource_type:
  "encrypt-resource", resource {algorithm: AEAD_AES_256_GCM, ciphertext, associated_data, nonce, original_type}};
  the resource decrypts (API v3 key) to {mchid, out_refund_no, refund_id, refund_status, amount {refund, total,
  payer_refund, ...}, ...}. We answer 204 when handled, 4xx {code: "FAIL", message} otherwise (it retries).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from ... import outbound
from ...outbound import OutboundError, excerpt
from ..gateways import GatewaySettings, Leg, Outcome
from ...errors import Explained
from ...i18n import N_
from . import crypto
from .config import resolve

PATH = "/v3/refund/domestic/refunds"
SCHEME = "WECHATPAY2-SHA256-RSA2048"
DONE = {"SUCCESS": "succeeded", "CLOSED": "failed", "ABNORMAL": "abnormal", "PROCESSING": "sent"}
# ABNORMAL: the money left the merchant but could not reach the customer's account (a closed card). It is not a
# failure to retry under a new number (that could pay twice): the leg stays sent, saying so, and finance resolves
# it in the WeChat Pay merchant platform.
ABNORMAL = ("WeChat Pay: ABNORMAL: the refund could not reach the customer's account; resolve it in the WeChat Pay "
            "merchant platform (it is not sent again)")


class Refused(ValueError):
    """A notification that must not be believed: what is wrong with it, as a msgid of the catalogs (`text`, with
    {placeholders} from `values`); `en` is what the log keeps."""

    def __init__(self, text: str, /, **values) -> None:
        self.text, self.values = text, values
        super().__init__(self.en)

    @property
    def en(self) -> str:
        return self.text.format(**self.values)

    def refusal(self, field: str, **kw) -> Explained:
        return Explained(field, self.text, **kw, **self.values)


def original(payment_ref: str | None) -> dict:
    """WeChat Pay's own transaction id is 28 digits; anything else is the shop's out_trade_no."""
    ref = payment_ref or ""
    return {"transaction_id": ref} if ref.isdigit() and len(ref) == 28 else {"out_trade_no": ref}


def authorization(conf: dict, method: str, path: str, body: str, *, timestamp: int | None = None,
                  nonce: str | None = None) -> str:
    t = str(int(time.time()) if timestamp is None else timestamp)
    n = nonce or secrets.token_hex(16).upper()
    signature = crypto.rsa_sign(resolve(conf["private_key"]), f"{method}\n{path}\n{t}\n{n}\n{body}\n")
    return (f'{SCHEME} mchid="{conf["mchid"]}",nonce_str="{n}",signature="{signature}",timestamp="{t}",'
            f'serial_no="{conf["serial_no"]}"')


def check_signed(conf: dict, headers: dict, body: bytes, *, tolerance: int, now: float | None = None) -> None:
    """Raises Refused unless the platform signed `body` recently (headers in lower case)."""
    t, nonce = headers.get("wechatpay-timestamp"), headers.get("wechatpay-nonce")
    signature, serial = headers.get("wechatpay-signature"), headers.get("wechatpay-serial")
    if not (t and nonce and signature):
        raise Refused(N_("missing Wechatpay-Signature headers"))
    if conf.get("platform_serial") and serial != conf["platform_serial"]:
        raise Refused(N_("signed with an unknown platform key (Wechatpay-Serial)"))
    if not crypto.rsa_verify(conf["platform_public_key"], f"{t}\n{nonce}\n".encode() + body + b"\n", signature):
        raise Refused(N_("bad signature"))
    try:
        stamp = int(t)
    except ValueError:
        raise Refused(N_("malformed Wechatpay-Timestamp")) from None
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        raise Refused(N_("signature timestamp outside the tolerance (replayed?)"))


@dataclass(frozen=True)
class Notice:
    """A verified, decrypted refund notification."""

    event_id: str
    key: str
    status: str  # succeeded | failed
    amount: int
    currency: str
    provider_ref: str | None
    detail: str


def read_notification(conf: dict, headers: dict, body: bytes, *, tolerance: int) -> Notice:
    check_signed(conf, headers, body, tolerance=tolerance)
    try:
        event = json.loads(body)
        resource = event["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise Refused(N_("unsupported resource algorithm"))
        plain = crypto.aes_gcm_decrypt(resolve(conf["api_v3_key"]), resource["nonce"],
                                       resource.get("associated_data") or "", resource["ciphertext"])
        if plain is None:
            raise Refused(N_("the resource does not decrypt with the API v3 key"))
        refund = json.loads(plain)
        status = DONE.get(refund["refund_status"])
        if status not in ("succeeded", "failed", "abnormal"):
            raise Refused(N_("not a final refund status: {refund_status}"), refund_status=refund['refund_status'])
        if conf.get("mchid") and str(refund.get("mchid", conf["mchid"])) != str(conf["mchid"]):
            raise Refused(N_("the notification is for another merchant id"))
        return Notice(event_id=str(event["id"]), key=str(refund["out_refund_no"]), status=status,
                      amount=int(refund["amount"]["refund"]), currency=str(refund["amount"].get("currency", "CNY")),
                      provider_ref=refund.get("refund_id"), detail=str(refund["refund_status"]))
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused(N_("not a refund notification")) from None


class WechatPayGateway:
    name = "wechatpay"

    def __init__(self, settings: GatewaySettings, conf: dict) -> None:
        self.settings, self.conf = settings, conf

    def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, str]:
        """(status, the verified JSON answer or None when it is not one we can trust, a note)."""
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False) if body is not None else ""
        headers = {"Authorization": authorization(self.conf, method, path, text), "Accept": "application/json",
                   "Content-Type": "application/json"}
        answer = outbound.request(method, self.conf["api_url"].rstrip("/") + path, allowed=self.settings.allowed(),
                                  body=text.encode() if body is not None else None, headers=headers,
                                  timeout=self.settings.http_timeout, max_bytes=1024 * 1024)
        try:
            check_signed(self.conf, answer.headers, answer.body, tolerance=self.settings.webhook_tolerance_seconds)
        except Refused as exc:
            return answer.status, None, f"answer {answer.status} not verified: {exc.en}"
        try:
            payload = json.loads(answer.body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return answer.status, None, f"answer {answer.status} unreadable: {excerpt(answer.body)}"
        return answer.status, payload, ""

    @staticmethod
    def _outcome(payload: dict) -> Outcome:
        amount = payload.get("amount") if isinstance(payload.get("amount"), dict) else {}
        status = DONE.get(payload.get("status"))
        if status is None:
            return Outcome("unknown", error=f"unknown refund status {excerpt(str(payload.get('status')))}")
        if status == "abnormal":
            return Outcome("unknown", provider_ref=payload.get("refund_id"), error=ABNORMAL)
        return Outcome(status, provider_ref=payload.get("refund_id"),
                       error=f"WeChat Pay: {payload['status']}" if status == "failed" else None,
                       amount=amount.get("refund"), currency=amount.get("currency"))

    def refusal(self, leg: Leg) -> str | None:
        """Why this leg must not be sent at all (refused before sending), else None."""
        if leg.currency != "CNY":
            return f"WeChat Pay refunds CNY only (fen); this payment is in {leg.currency}"
        if leg.amount <= 0 or not isinstance(leg.amount, int):
            return "the refund amount must be a positive whole number of fen"
        if leg.payment_total is None or leg.amount > leg.payment_total:
            return "the order's WeChat Pay payment (its total in fen) is unknown or smaller than the refund"
        if not leg.payment_ref:
            return "the order carries no WeChat Pay transaction reference"
        return None

    def send(self, leg: Leg) -> Outcome:
        refused = self.refusal(leg)
        if refused:
            return Outcome("failed", error=refused)
        body = {**original(leg.payment_ref), "out_refund_no": leg.idempotency_key,
                "amount": {"refund": leg.amount, "total": leg.payment_total, "currency": "CNY"}}
        if self.conf.get("notify_url"):
            body["notify_url"] = self.conf["notify_url"]
        try:
            status, payload, note = self._call("POST", PATH, body)
        except (OutboundError, crypto.KeyError_) as exc:
            if isinstance(exc, crypto.KeyError_):  # an env-referenced key that cannot be read: nothing was sent
                return Outcome("unknown", error=f"the merchant's WeChat Pay private key cannot be used: {exc}")
            return Outcome("unknown", error=f"no answer from WeChat Pay: {exc}")
        if payload is None:
            return Outcome("unknown", error=note)  # asked again by the query, never guessed
        if status == 200:
            return self._outcome(payload)
        if 400 <= status < 500 and status not in (408, 409, 429):
            return Outcome("failed", error=f"WeChat Pay {status} {excerpt(str(payload.get('code')))}: "
                                           f"{excerpt(str(payload.get('message')))}")
        return Outcome("unknown", error=f"WeChat Pay answered {status} {excerpt(str(payload.get('code')))}")

    def lookup(self, leg: Leg) -> Outcome | None:
        try:
            status, payload, _ = self._call("GET", f"{PATH}/{leg.idempotency_key}")
        except (OutboundError, crypto.KeyError_):
            return None
        if payload is None:
            return None
        if status == 404 and payload.get("code") == "RESOURCE_NOT_EXISTS":
            return Outcome("missing")
        if status != 200:
            return None
        outcome = self._outcome(payload)
        return None if outcome.status == "unknown" and outcome.error != ABNORMAL else outcome
