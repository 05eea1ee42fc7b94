"""Alipay refunds (支付宝 统一收单交易退款) through the open API gateway.

- Every request is a form POST to the gateway address with app_id, method, format=JSON, charset=utf-8,
  sign_type=RSA2, timestamp (yyyy-MM-dd HH:mm:ss, Beijing time), version=1.0, biz_content (JSON) and sign: the
  app private key's SHA256withRSA over the parameters sorted by name as "k=v&k=v" (empty values and sign left out).
- `alipay.trade.refund` biz_content {out_trade_no | trade_no (the order's payment reference), refund_amount (yuan,
  two decimals), out_request_no = the leg's idempotency key (partial refunds: one number per refund)}.
  The answer {"alipay_trade_refund_response": {code, msg, sub_code?, fund_change, refund_fee, ...}, "sign"} is
  verified with the Alipay public key over the exact text of the response node. code 10000 with fund_change "Y":
  money moved. fund_change "N" (a repeated request, nothing moved this time): the query decides.
- `alipay.trade.fastpay.refund.query` {out_trade_no | trade_no, out_request_no}: refund_status REFUND_SUCCESS and
  refund_amount when it was refunded; neither when Alipay never refunded under that number.
- The asynchronous notification (trade_status_sync) is a form POST signed the same way (sign and sign_type left
  out of the signed text) carrying notify_id, notify_time, app_id, out_biz_no (= out_request_no), refund_fee (the
  trade's refunded total) and gmt_refund; we answer the plain text "success".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ... import outbound
from ...outbound import OutboundError, excerpt
from ..gateways import GatewaySettings, Leg, Outcome
from ...i18n import N_
from . import crypto
from .config import resolve
from .wechatpay import Refused

BEIJING = ZoneInfo("Asia/Shanghai")
REFUND, QUERY = "alipay.trade.refund", "alipay.trade.fastpay.refund.query"
RETRYABLE = {"ACQ.SYSTEM_ERROR", "ACQ.REASON_TRADE_LOCKED", "isp.unknow-error", "aop.ACQ.SYSTEM_ERROR"}


def sign_content(params: dict) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign",) and params[k] not in (None, ""))


def sign(key: str, params: dict) -> str:
    return crypto.rsa_sign(key, sign_content(params))


def yuan(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


def fen(text) -> int | None:
    try:
        value = Decimal(str(text)) * 100
    except (InvalidOperation, ValueError):
        return None
    return int(value) if value == value.to_integral_value() else None


def original(payment_ref: str | None) -> dict:
    """Alipay's own trade number is 28 digits; anything else is the shop's out_trade_no."""
    ref = payment_ref or ""
    return {"trade_no": ref} if ref.isdigit() and len(ref) == 28 else {"out_trade_no": ref}


def response_node(text: str, method: str) -> tuple[str, str] | None:
    """(the exact text of the response node, the sign) from an answer; None if it has no such shape."""
    name = f'"{method.replace(".", "_")}_response"'
    start = text.find(name)
    end = text.rfind(',"sign"')
    if start < 0 or end < 0:
        return None
    start = text.find(":", start + len(name)) + 1
    try:
        signature = json.loads("{" + text[end + 1:].rstrip().rstrip("}") + "}").get("sign")
    except ValueError:
        return None
    return text[start:end].strip(), signature


@dataclass(frozen=True)
class Notice:
    event_id: str
    key: str
    status: str
    amount: int | None
    currency: str
    provider_ref: str | None
    detail: str


def read_notification(conf: dict, form: dict, *, tolerance: int, now: float | None = None) -> Notice:
    """A verified refund notification, or Refused."""
    signature = form.get("sign")
    if not signature:
        raise Refused(N_("missing sign"))
    signed = {k: v for k, v in form.items() if k not in ("sign", "sign_type")}
    if not crypto.rsa_verify(conf["alipay_public_key"], sign_content(signed), signature):
        raise Refused(N_("bad signature"))
    if form.get("app_id") != conf.get("app_id"):
        raise Refused(N_("the notification is for another app id"))
    try:
        sent = datetime.strptime(form.get("notify_time", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        raise Refused(N_("malformed notify_time")) from None
    if abs((time.time() if now is None else now) - sent.timestamp()) > tolerance:
        raise Refused(N_("signature timestamp outside the tolerance (replayed?)"))
    if not form.get("out_biz_no") or not form.get("notify_id") or fen(form.get("refund_fee")) is None:
        raise Refused(N_("not a refund notification"))
    return Notice(event_id=form["notify_id"], key=form["out_biz_no"], status="succeeded",
                  amount=fen(form["refund_fee"]), currency="CNY", provider_ref=form.get("trade_no"),
                  detail=form.get("trade_status") or "refund")


class AlipayGateway:
    name = "alipay"

    def __init__(self, settings: GatewaySettings, conf: dict) -> None:
        self.settings, self.conf = settings, conf

    def _call(self, method: str, biz: dict) -> tuple[dict | None, str]:
        """(the verified response node, or None with a note saying why it cannot be trusted)."""
        params = {"app_id": self.conf["app_id"], "method": method, "format": "JSON", "charset": "utf-8",
                  "sign_type": "RSA2", "version": "1.0",
                  "timestamp": datetime.fromtimestamp(time.time(), BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
                  "biz_content": json.dumps(biz, separators=(",", ":"), ensure_ascii=False)}
        params["sign"] = sign(resolve(self.conf["private_key"]), params)
        answer = outbound.request("POST", self.conf["api_url"], allowed=self.settings.allowed(),
                                  body=urlencode(params).encode(), timeout=self.settings.http_timeout,
                                  headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                                  max_bytes=1024 * 1024)
        if answer.status != 200:
            return None, f"Alipay answered {answer.status}"
        text = answer.body.decode("utf-8", "replace")
        found = response_node(text, method)
        if found is None:
            return None, f"unreadable answer: {excerpt(text)}"
        node, signature = found
        if not crypto.rsa_verify(self.conf["alipay_public_key"], node, signature or ""):
            return None, "the answer's signature does not verify"
        try:
            payload = json.loads(node)
        except ValueError:
            payload = None
        return (payload, "") if isinstance(payload, dict) else (None, f"unreadable answer: {excerpt(text)}")

    def refusal(self, leg: Leg) -> str | None:
        if leg.currency != "CNY":
            return f"Alipay refunds CNY only (yuan, two decimals); this payment is in {leg.currency}"
        if leg.amount <= 0 or not isinstance(leg.amount, int):
            return "the refund amount must be a positive whole number of fen"
        if leg.payment_total is not None and leg.amount > leg.payment_total:
            return "the refund is larger than the order's Alipay payment"
        if not leg.payment_ref:
            return "the order carries no Alipay trade reference"
        return None

    def send(self, leg: Leg) -> Outcome:
        refused = self.refusal(leg)
        if refused:
            return Outcome("failed", error=refused)
        biz = {**original(leg.payment_ref), "refund_amount": yuan(leg.amount), "out_request_no": leg.idempotency_key}
        try:
            node, note = self._call(REFUND, biz)
        except (OutboundError, crypto.KeyError_) as exc:
            if isinstance(exc, crypto.KeyError_):  # an env-referenced key that cannot be read: nothing was sent
                return Outcome("unknown", error=f"the merchant's Alipay private key cannot be used: {exc}")
            return Outcome("unknown", error=f"no answer from Alipay: {exc}")
        if node is None:
            return Outcome("unknown", error=note)
        code, sub = str(node.get("code")), str(node.get("sub_code") or "")
        if code == "10000":
            if node.get("fund_change") == "Y":
                return Outcome("succeeded", provider_ref=node.get("trade_no"))
            # Nothing moved this time: refunded before under this number, or not at all. The query decides.
            return self.lookup(leg) or Outcome("unknown", error="fund_change N and the query did not answer")
        if code in ("20000",) or sub in RETRYABLE:
            return Outcome("unknown", error=f"Alipay {code} {excerpt(sub)}: {excerpt(str(node.get('sub_msg')))}")
        why = excerpt(str(node.get("sub_msg") or node.get("msg")))
        return Outcome("failed", error=f"Alipay {code} {excerpt(sub)}: {why}")

    def lookup(self, leg: Leg) -> Outcome | None:
        biz = {**original(leg.payment_ref), "out_request_no": leg.idempotency_key,
               "query_options": ["gmt_refund_pay"]}
        try:
            node, _ = self._call(QUERY, biz)
        except (OutboundError, crypto.KeyError_):
            return None
        if node is None:
            return None
        if str(node.get("code")) == "10000":
            if node.get("refund_status") == "REFUND_SUCCESS" and fen(node.get("refund_amount")) is not None:
                return Outcome("succeeded", provider_ref=node.get("trade_no"), amount=fen(node["refund_amount"]),
                               currency="CNY")
            if not node.get("refund_amount") and not node.get("refund_status"):
                return Outcome("missing")
        if node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return Outcome("missing")
        return None
