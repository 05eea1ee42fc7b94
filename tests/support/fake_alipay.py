"""A fake Alipay open API gateway (alipay.trade.refund, alipay.trade.fastpay.refund.query) as its own process on
127.0.0.1: it checks each request's RSA2 sign with the app's public key, signs each answer's response node and
each notification with the Alipay key, moves money once per out_request_no, and answers a repeated request with
fund_change "N".

    python -m tests.support.fake_alipay --app-id A --app-public-key F --alipay-private-key F [--port 0]

Test controls: see tests.support.fake_common.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

from tests.support.fake_common import (
    FORGER, LOCK, STATE, BaseHandler, later, load_private, load_public, queue, rsa_ok, rsa_sign, serve, take,
)

ARGS = argparse.Namespace()
CST = timezone(timedelta(hours=8))
TOTALS: dict[str, Decimal] = {}  # what each trade was paid, learnt from the first refund's trade number


def content(params: dict) -> bytes:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] != "").encode()


def now_text() -> str:
    return datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")


def notify(refund: dict) -> None:
    with LOCK:
        STATE["events"] += 1
        twice, forge = take("duplicate_next"), take("forge_next")
        total = sum(Decimal(r["refund_amount"]) for r in STATE["refunds"].values() if r["trade"] == refund["trade"])
    form = {"notify_time": now_text(), "notify_type": "trade_status_sync", "notify_id": uuid.uuid4().hex,
            "app_id": ARGS.app_id, "charset": "utf-8", "version": "1.0", "trade_no": refund["trade_no"],
            "out_trade_no": refund["out_trade_no"], "out_biz_no": refund["out_request_no"],
            "trade_status": "TRADE_SUCCESS", "refund_fee": f"{total:.2f}", "gmt_refund": refund["gmt_refund_pay"]}
    sign = rsa_sign(ARGS.alipay_key, content(form))
    from urllib.parse import urlencode

    delivery = {"headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                "body": urlencode({**form, "sign_type": "RSA2", "sign": sign})}
    forged = None
    if forge:
        forged = {**delivery, "body": urlencode({**form, "sign_type": "RSA2",
                                                 "sign": rsa_sign(FORGER, content(form))})}
    queue(delivery, forged, twice=twice)


class Handler(BaseHandler):
    def answer(self, method: str, node: dict) -> None:
        text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        sign = rsa_sign(ARGS.alipay_key, text.encode())
        data = ('{"' + method.replace(".", "_") + '_response":' + text + ',"sign":"' + sign + '"}').encode()
        self.reply(200, data, kind="text/html;charset=utf-8")

    def do_GET(self) -> None:
        if not self.controls("GET"):
            self.reply(404, b"not found", kind="text/plain")

    def do_POST(self) -> None:
        if self.controls("POST"):
            return
        params = dict(parse_qsl(self.body().decode(), keep_blank_values=True))
        method = params.get("method", "")
        signed = {k: v for k, v in params.items() if k != "sign"}
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)
            fresh = abs(time.time() - sent.timestamp()) < 900
        except ValueError:
            fresh = False
        if params.get("app_id") != ARGS.app_id or params.get("sign_type") != "RSA2" or not fresh or not rsa_ok(
                ARGS.app_key, content(signed), params.get("sign", "")):
            with LOCK:
                STATE["bad_signatures"] += 1
            return self.answer(method or "error", {"code": "40002", "msg": "Invalid Arguments",
                                                   "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"})
        try:
            biz = json.loads(params["biz_content"])
            key = str(biz["out_request_no"])
            trade = biz.get("trade_no") or biz.get("out_trade_no")
            if not trade:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self.answer(method, {"code": "40002", "msg": "Invalid Arguments",
                                        "sub_code": "isv.invalid-parameter", "sub_msg": "参数无效"})
        if method == "alipay.trade.fastpay.refund.query":
            return self.query(key, trade)
        if method != "alipay.trade.refund":
            return self.answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"})
        return self.refund(biz, key, trade)

    def query(self, key: str, trade: str) -> None:
        with LOCK:
            STATE["queries"] += 1
            refund = STATE["refunds"].get(key)
            refund = dict(refund) if refund else None
        if refund is None:
            return self.answer("alipay.trade.fastpay.refund.query", {"code": "10000", "msg": "Success",
                                                                     "out_request_no": key, "out_trade_no": trade})
        return self.answer("alipay.trade.fastpay.refund.query", {
            "code": "10000", "msg": "Success", "trade_no": refund["trade_no"], "out_trade_no": refund["out_trade_no"],
            "out_request_no": key, "total_amount": refund["total_amount"], "refund_amount": refund["refund_amount"],
            "refund_status": "REFUND_SUCCESS", "gmt_refund_pay": refund["gmt_refund_pay"]})

    def refund(self, biz: dict, key: str, trade: str) -> None:
        method = "alipay.trade.refund"
        text = str(biz.get("refund_amount", ""))
        try:
            amount = Decimal(text)
            if amount <= 0 or amount != amount.quantize(Decimal("0.01")) or len(text.split(".")[-1]) > 2:
                raise ValueError
        except (ValueError, ArithmeticError):
            return self.answer(method, {"code": "40002", "msg": "Invalid Arguments",
                                        "sub_code": "isv.invalid-parameter", "sub_msg": "refund_amount 无效"})
        delay, garbage = 0.0, False
        with LOCK:
            STATE["posts"] += 1
            existing = STATE["refunds"].get(key)
            refunded = sum(Decimal(r["refund_amount"]) for r in STATE["refunds"].values() if r["trade"] == trade)
            if existing is not None:
                if Decimal(existing["refund_amount"]) != amount:
                    return self.answer(method, {"code": "40004", "msg": "Business Failed",
                                                "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                                                "sub_msg": "退款金额与首次请求不一致"})
                return self.answer(method, {"code": "10000", "msg": "Success", "trade_no": existing["trade_no"],
                                            "out_trade_no": existing["out_trade_no"], "fund_change": "N",
                                            "refund_fee": f"{refunded:.2f}"})
            if take("error_next"):
                return self.answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR",
                                            "sub_msg": "系统错误"})
            if take("fail_next") or take("decline_next"):
                return self.answer(method, {"code": "40004", "msg": "Business Failed",
                                            "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH", "sub_msg": "卖家余额不足"})
            if take("delay_next"):
                delay = STATE["config"]["response_delay"]
            garbage = take("garbage_next")
            STATE["created"] += 1
            trade_no = trade if trade.isdigit() and len(trade) == 28 else f"2026120622001{STATE['created']:015d}"
            refund = {"out_request_no": key, "trade": trade, "trade_no": trade_no,
                      "out_trade_no": biz.get("out_trade_no") or "", "refund_amount": f"{amount:.2f}",
                      "total_amount": f"{refunded + amount:.2f}", "gmt_refund_pay": now_text()}
            STATE["refunds"][key] = refund
            snapshot = dict(refund)
            settle_delay = STATE["config"]["settle_delay"]
        later(settle_delay, lambda: notify(snapshot))
        if delay:
            time.sleep(delay)
        if garbage:
            return self.reply(200, b'{"alipay_trade_refund_response":{"code":"10000"', kind="text/html")
        return self.answer(method, {"code": "10000", "msg": "Success", "trade_no": trade_no,
                                    "out_trade_no": snapshot["out_trade_no"], "buyer_logon_id": "159****5620",
                                    "fund_change": "Y", "refund_fee": f"{refunded + amount:.2f}"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    for name in ("app-id", "app-public-key", "alipay-private-key"):
        parser.add_argument(f"--{name}", required=True)
    global ARGS
    ARGS = parser.parse_args()
    ARGS.app_key = load_public(ARGS.app_public_key)
    ARGS.alipay_key = load_private(ARGS.alipay_private_key)
    serve(Handler, ARGS.port)


if __name__ == "__main__":
    main()
