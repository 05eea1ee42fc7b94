"""A fake WeChat Pay API v3 (domestic refunds) as its own process on 127.0.0.1, checking every request's
WECHATPAY2-SHA256-RSA2048 signature with the merchant's public key, signing every answer and notification with the
platform key, and encrypting each notification's resource with the API v3 key (AEAD_AES_256_GCM).

    python -m tests.support.fake_wechatpay --mchid M --serial S --merchant-public-key F --platform-private-key F
        --platform-serial P --api-v3-key K [--port 0]          # prints "PORT <n>" when ready

Test controls: see tests.support.fake_common.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.support.fake_common import (
    FORGER, LOCK, STATE, BaseHandler, later, load_private, load_public, queue, rsa_ok, rsa_sign, serve, take,
)

ARGS = argparse.Namespace()
PATH = "/v3/refund/domestic/refunds"
CST = timezone(timedelta(hours=8))


def signed_headers(body: bytes, key=None) -> dict:
    t, nonce = str(int(time.time())), secrets.token_hex(16)
    signature = rsa_sign(key or ARGS.platform_key, f"{t}\n{nonce}\n".encode() + body + b"\n")
    return {"Wechatpay-Timestamp": t, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
            "Wechatpay-Serial": ARGS.platform_serial, "Request-ID": uuid.uuid4().hex}


def notify(refund: dict) -> None:
    """The signed, encrypted notification of a refund's final status, queued for the test to deliver."""
    plain = {"mchid": ARGS.mchid, "out_trade_no": refund.get("out_trade_no") or "",
             "transaction_id": refund.get("transaction_id") or "", "out_refund_no": refund["out_refund_no"],
             "refund_id": refund["refund_id"], "refund_status": refund["status"],
             "success_time": datetime.now(CST).isoformat(timespec="seconds"), "user_received_account": "支付用户零钱",
             "amount": {"total": refund["amount"]["total"], "refund": refund["amount"]["refund"],
                        "payer_total": refund["amount"]["total"], "payer_refund": refund["amount"]["refund"]}}
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(ARGS.api_v3_key.encode()).encrypt(nonce.encode(), json.dumps(plain).encode(), b"refund")
    import base64

    with LOCK:
        STATE["events"] += 1
        event_id = f"EV-{STATE['events']:06d}-{uuid.uuid4().hex[:8]}"
        twice, forge = take("duplicate_next"), take("forge_next")
    event = {"id": event_id, "create_time": datetime.now(CST).isoformat(timespec="seconds"),
             "resource_type": "encrypt-resource",
             "event_type": "REFUND.SUCCESS" if refund["status"] == "SUCCESS" else f"REFUND.{refund['status']}",
             "summary": "退款成功" if refund["status"] == "SUCCESS" else "退款关闭或异常",
             "resource": {"original_type": "refund", "algorithm": "AEAD_AES_256_GCM",
                          "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": "refund",
                          "nonce": nonce}}
    body = json.dumps(event).encode()
    delivery = {"headers": {**signed_headers(body), "Content-Type": "application/json"}, "body": body.decode()}
    forged = None
    if forge:  # the same event, signed by someone who is not the platform
        forged = {"headers": {**signed_headers(body, FORGER), "Content-Type": "application/json"},
                  "body": body.decode()}
    queue(delivery, forged, twice=twice)


def settle(key: str, decline: bool) -> None:
    with LOCK:
        refund = STATE["refunds"][key]
        refund["status"] = STATE["config"].get("decline_as", "CLOSED") if decline else "SUCCESS"
        if not decline:
            refund["success_time"] = datetime.now(CST).isoformat(timespec="seconds")
        snapshot = json.loads(json.dumps(refund))
    notify(snapshot)


class Handler(BaseHandler):
    def answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.reply(status, data, signed_headers(data))

    def authorised(self, method: str, raw: bytes) -> bool:
        """The merchant's signature on this request (and a fresh timestamp), else a signed 401 SIGN_ERROR."""
        header = self.headers.get("Authorization") or ""
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        ok = header.startswith("WECHATPAY2-SHA256-RSA2048 ") and fields.get("mchid") == ARGS.mchid \
            and fields.get("serial_no") == ARGS.serial and fields.get("timestamp", "").isdigit() \
            and abs(time.time() - int(fields["timestamp"])) < 300 and rsa_ok(
                ARGS.merchant_key, f"{method}\n{self.path}\n{fields['timestamp']}\n{fields.get('nonce_str')}\n"
                .encode() + raw + b"\n", fields.get("signature", ""))
        if not ok:
            with LOCK:
                STATE["bad_signatures"] += 1
            self.answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        return ok

    def do_GET(self) -> None:
        if self.controls("GET"):
            return
        if not self.path.startswith(PATH + "/"):
            return self.answer(404, {"code": "NOT_FOUND", "message": "not found"})
        if not self.authorised("GET", b""):
            return
        key = self.path[len(PATH) + 1:]
        with LOCK:
            STATE["queries"] += 1
            refund = STATE["refunds"].get(key)
            snapshot = json.loads(json.dumps(refund)) if refund else None
        if snapshot is None:
            return self.answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})
        return self.answer(200, snapshot)

    def do_POST(self) -> None:
        if self.controls("POST"):
            return
        raw = self.body()
        if self.path != PATH:
            return self.answer(404, {"code": "NOT_FOUND", "message": "not found"})
        if not self.authorised("POST", raw):
            return
        try:
            body = json.loads(raw)
            key, amount = str(body["out_refund_no"]), body["amount"]
            refund_fen, total, currency = amount["refund"], amount["total"], amount["currency"]
            trade = body.get("transaction_id") or body.get("out_trade_no")
            if not (isinstance(refund_fen, int) and isinstance(total, int) and trade and currency == "CNY"
                    and 0 < refund_fen <= total and re.fullmatch(r"[0-9A-Za-z_\-|*@]{1,64}", key)):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"code": "PARAM_ERROR", "message": "参数错误"})
        delay, garbage = 0.0, False
        with LOCK:
            STATE["posts"] += 1
            existing = STATE["refunds"].get(key)
            if existing is not None:
                if existing["amount"]["refund"] != refund_fen:
                    return self.answer(400, {"code": "INVALID_REQUEST", "message": "退款单号重复但金额不同"})
                snapshot = json.loads(json.dumps(existing))
                return self.answer(200, snapshot)
            if take("error_next"):
                return self.answer(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
            if take("fail_next"):
                return self.answer(403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足"})
            refunded = sum(r["amount"]["refund"] for r in STATE["refunds"].values() if r["trade"] == trade
                           and r["status"] != "CLOSED")
            if refunded + refund_fen > total:
                return self.answer(400, {"code": "INVALID_REQUEST", "message": "退款金额超过订单可退金额"})
            decline = take("decline_next")
            if take("delay_next"):
                delay = STATE["config"]["response_delay"]
            garbage = take("garbage_next")
            STATE["created"] += 1
            refund = {"refund_id": f"50300{STATE['created']:09d}", "out_refund_no": key, "trade": trade,
                      "transaction_id": body.get("transaction_id"), "out_trade_no": body.get("out_trade_no"),
                      "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "status": "PROCESSING",
                      "create_time": datetime.now(CST).isoformat(timespec="seconds"), "funds_account": "AVAILABLE",
                      "amount": {"total": total, "refund": refund_fen, "payer_total": total,
                                 "payer_refund": refund_fen, "settlement_total": total,
                                 "settlement_refund": refund_fen, "discount_refund": 0, "currency": "CNY"}}
            STATE["refunds"][key] = refund
            snapshot = json.loads(json.dumps(refund))
            settle_delay = STATE["config"]["settle_delay"]
        later(settle_delay, lambda: settle(key, decline))
        if delay:
            time.sleep(delay)
        if garbage:
            return self.reply(200, b"<html>502 Bad Gateway</html>", kind="text/html")
        return self.answer(200, snapshot)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    for name in ("mchid", "serial", "merchant-public-key", "platform-private-key", "platform-serial", "api-v3-key"):
        parser.add_argument(f"--{name}", required=True)
    global ARGS
    ARGS = parser.parse_args()
    ARGS.merchant_key = load_public(ARGS.merchant_public_key)
    ARGS.platform_key = load_private(ARGS.platform_private_key)
    serve(Handler, ARGS.port)


if __name__ == "__main__":
    main()
