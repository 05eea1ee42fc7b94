#!/usr/bin/env python
"""A fake Kuaidi100 (快递100), run as its own process on 127.0.0.1, speaking its protocol with real signature
checks. Standard library only.

    python tests/support/fake_kuaidi100.py --key K --secret S [--port 0]   # prints "PORT <n>" when ready

Protocol (as returnflow.logistics.kuaidi100 calls it):
    POST /poll                 form schema=json, param={company, number, key, parameters{callbackurl, salt, ...}}
                               → {"result", "returnCode": "200" | "501" (already subscribed) | "600" (bad key)
                                  | "700" (bad param), "message"}
    GET  /autonumber/auto      ?num=&key= → [{"comCode", "id", "noCount", "noPre", "startTime"}]
    POST /order/borderapi.do   form method=bOrder, key, t, param, sign=MD5(param+t+key+secret) upper-case
                               → {"result", "returnCode", "message", "data": {"taskId", "orderId", "kuaidinum"}}
Test controls (not part of the protocol):
    POST /_test/config  {"fail_next": n}        the next n protocol calls answer HTTP 503 (nothing kept);
                        {"booking_delay": s}    each pickup booking answers after s seconds
    POST /_test/push    {"number", "state", "status"?, "message"?, "items"?: [{"context", "time", "statusCode"?}],
                         "forge"?: true, "salt"?: s}
        → {"url": the subscription's callback URL, "form": {"param", "sign"}} — the push Kuaidi100 would POST,
          signed with the subscription's salt (a wrong one when forged), for the test to deliver
    GET  /_test/stats   {"subscriptions": {number: {...,"count"}}, "poll_posts", "bookings": [...], "autonumber"}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATE: dict = {"subscriptions": {}, "poll_posts": 0, "bookings": [], "autonumber": 0, "fail_next": 0,
               "booking_delay": 0.0}
ARGS = argparse.Namespace()
PREFIXES = (("SF", "shunfeng"), ("JD", "jd"), ("YT", "yuantong"), ("73", "zhongtong"), ("75", "zhongtong"),
            ("77", "shentong"), ("43", "yunda"), ("1Z", "ups"))
WAYBILL = {"shunfeng": "SF{:013d}", "yuantong": "YT{:013d}", "jd": "JDVA{:011d}", "zhongtong": "73{:010d}",
           "shentong": "77{:013d}", "yunda": "43{:011d}"}
STATE_WORDS = {"0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "4": "退签", "5": "派件", "6": "退回", "14": "拒签"}


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    def _failing(self) -> bool:
        with LOCK:
            if STATE["fail_next"] > 0:
                STATE["fail_next"] -= 1
                return True
        return False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/_test/stats":
            with LOCK:
                return self._send(200, {k: v for k, v in STATE.items() if k != "fail_next"})
        if url.path == "/autonumber/auto":
            if self._failing():
                return self._send(503, {"message": "busy"})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if query.get("key") != ARGS.key:
                return self._send(200, {"result": False, "returnCode": "600", "message": "key 无效"})
            number = query.get("num", "").upper()
            with LOCK:
                STATE["autonumber"] += 1
            return self._send(200, [{"comCode": com, "id": "", "noCount": 1, "noPre": pre, "startTime": ""}
                                    for pre, com in PREFIXES if number.startswith(pre)])
        return self._send(404, {"message": "not found"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path.startswith("/_test/"):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if url.path == "/_test/config":
                with LOCK:
                    STATE["fail_next"] = int(body.get("fail_next", 0))
                    STATE["booking_delay"] = float(body.get("booking_delay", 0))
                return self._send(200, {"ok": True})
            if url.path == "/_test/push":
                return self._push(body)
            return self._send(404, {"message": "not found"})
        form = self._form()
        if self._failing():
            return self._send(503, {"message": "busy"})
        if url.path == "/poll":
            return self._poll(form)
        if url.path == "/order/borderapi.do":
            time.sleep(STATE["booking_delay"])  # a slow carrier: concurrent requests overlap while it books
            return self._border(form)
        return self._send(404, {"message": "not found"})

    def _poll(self, form: dict) -> None:
        with LOCK:
            STATE["poll_posts"] += 1
        if form.get("schema") != "json":
            return self._send(200, {"result": False, "returnCode": "700", "message": "schema 须为 json"})
        try:
            param = json.loads(form.get("param") or "")
        except ValueError:
            return self._send(200, {"result": False, "returnCode": "700", "message": "param 不是 JSON"})
        if param.get("key") != ARGS.key:
            return self._send(200, {"result": False, "returnCode": "600", "message": "您不是合法的订阅者"})
        parameters = param.get("parameters") or {}
        if not param.get("company") or not param.get("number") or not parameters.get("callbackurl") \
                or not parameters.get("salt"):
            return self._send(200, {"result": False, "returnCode": "700", "message": "订阅参数不完整"})
        number = str(param["number"]).upper()
        with LOCK:
            current = STATE["subscriptions"].get(number)
            if current and current["active"]:
                current["duplicates"] += 1
                return self._send(200, {"result": False, "returnCode": "501", "message": "重复订阅"})
            count = (current or {}).get("count", 0) + 1
            STATE["subscriptions"][number] = {"company": param["company"], "callbackurl": parameters["callbackurl"],
                                              "salt": parameters["salt"], "resultv2": parameters.get("resultv2"),
                                              "active": True, "count": count,
                                              "duplicates": (current or {}).get("duplicates", 0)}
        return self._send(200, {"result": True, "returnCode": "200", "message": "提交成功"})

    def _border(self, form: dict) -> None:
        if form.get("method") != "bOrder" or form.get("key") != ARGS.key:
            return self._send(200, {"result": False, "returnCode": "400", "message": "method 或 key 不正确"})
        param_text, t = form.get("param") or "", form.get("t") or ""
        if md5_upper(param_text + t + ARGS.key + ARGS.secret) != (form.get("sign") or ""):
            return self._send(200, {"result": False, "returnCode": "10007", "message": "签名错误"})
        param = json.loads(param_text)
        missing = [k for k in ("kuaidicom", "recManName", "recManMobile", "recManPrintAddr", "sendManName",
                               "sendManMobile", "sendManPrintAddr", "cargo", "dayType", "pickupStartTime",
                               "pickupEndTime") if not param.get(k)]
        if missing:
            return self._send(200, {"result": False, "returnCode": "400", "message": f"缺少参数 {missing}"})
        if param["dayType"] not in ("今天", "明天", "后天") or param["pickupStartTime"] >= param["pickupEndTime"]:
            return self._send(200, {"result": False, "returnCode": "400", "message": "预约时间不正确"})
        if param["kuaidicom"] not in WAYBILL:
            return self._send(200, {"result": False, "returnCode": "400", "message": "该快递公司不支持上门取件"})
        with LOCK:
            n = len(STATE["bookings"]) + 1
            data = {"taskId": f"T{n:08d}", "orderId": f"O{n:08d}",
                    "kuaidinum": WAYBILL[param["kuaidicom"]].format(1234500000 + n)}
            STATE["bookings"].append({"param": param, **data})
        return self._send(200, {"result": True, "returnCode": "200", "message": "提交成功", "data": data})

    def _push(self, body: dict) -> None:
        number = str(body.get("number", "")).upper()
        with LOCK:
            sub = STATE["subscriptions"].get(number)
            if sub is None:
                return self._send(404, {"message": "not subscribed"})
            status = body.get("status", "polling")
            if status in ("abort", "shutdown"):
                sub["active"] = False
            company, url, salt = sub["company"], sub["callbackurl"], sub["salt"]
        state = str(body.get("state", "0"))
        items = body.get("items") or [{"context": "快件已揽收", "time": "2026-11-24 10:00:00"}]
        data = [{"context": i["context"], "time": i["time"], "ftime": i["time"],
                 "status": STATE_WORDS.get(str(i.get("statusCode", state))[:2].rstrip("0") or "0", "在途"),
                 **({"statusCode": i["statusCode"]} if "statusCode" in i else {}), "areaName": i.get("area", "")}
                for i in items]
        param = json.dumps({"status": status, "billstatus": "check", "message": body.get("message", ""),
                            "autoCheck": "0", "comOld": "", "comNew": "",
                            "lastResult": {"message": "ok", "nu": number, "ischeck": "1" if state == "3" else "0",
                                           "condition": "00", "com": company, "status": "200", "state": state,
                                           "data": data}}, ensure_ascii=False)
        used = body.get("salt") or (salt + "x" if body.get("forge") else salt)
        return self._send(200, {"url": url, "form": {"param": param, "sign": md5_upper(param + used)}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    global ARGS
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
