"""A stand-in for Taobao's TOP router (…/router/rest), run as its own process, for the marketplace sync tests.

    python -m tests.support.fake_taobao PORT LOG --app-key K --secret S --session SK

It checks each call as TOP does: the common parameters, `app_key` and `session`, the timestamp within 10 minutes,
and the md5 signature (upper-case hex MD5 of secret + sorted name+value pairs + secret, computed here again, not
imported from the product). It keeps its own refunds with their `refund_version` and `modified`, answers
taobao.refunds.receive.get (by modified window, paged, use_has_next), taobao.refund.get, and the seller's decisions
taobao.rp.refunds.agree, taobao.rp.returngoods.agree, taobao.refund.refuse, taobao.nextone.logistics.warehouse.update
— a decision carrying a version that is not the refund's current one is refused (the fake's wording; each accepted
decision moves the refund to its next status and version). Every call is appended to LOG as one JSON line.

Test controls:
    POST /_test/refunds   {refund fields}                      puts a refund (version from `modified`)
    POST /_test/change    {"refund_id", fields...}             the buyer or the platform changes it: new version
    POST /_test/config    {"now": "yyyy-MM-dd HH:mm:ss", "error_next": n}   the platform's clock; system errors
    GET  /_test/refunds                                         every refund as kept
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

CST = timezone(timedelta(hours=8))
LOCK = threading.Lock()
STATE: dict = {"refunds": {}, "now": None, "error_next": 0, "n": 0}
NEXT = {"taobao.rp.returngoods.agree": "WAIT_BUYER_RETURN_GOODS", "taobao.refund.refuse": "SELLER_REFUSE_BUYER",
        "taobao.rp.refunds.agree": "SUCCESS"}


def md5_sign(params: dict, secret: str) -> str:
    joined = "".join(k + params[k] for k in sorted(params) if k != "sign" and params[k] != "")
    return hashlib.md5((secret + joined + secret).encode("utf-8")).hexdigest().upper()


def parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)


def now_text() -> str:
    return STATE["now"] or datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")


def version_of(modified: str, old: int = 0) -> int:
    return max(int(parse(modified).timestamp() * 1000), old + 1)


def error(code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> dict:
    body = {"code": code, "msg": msg, "request_id": "fake"}
    if sub_code:
        body |= {"sub_code": sub_code, "sub_msg": sub_msg}
    return {"error_response": body}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--app-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--session", required=True)
    args = parser.parse_args()

    def moved(refund: dict, status: str | None = None, **changes) -> None:
        if status:
            refund["status"] = status
        refund.update(changes)
        refund["modified"] = max(now_text(), refund["modified"])
        refund["refund_version"] = version_of(refund["modified"], refund["refund_version"])

    def stale(refund: dict, version: str) -> bool:
        return str(refund["refund_version"]) != str(version)

    def decide(method: str, p: dict) -> dict:
        if method == "taobao.rp.refunds.agree":
            results, ok = [], True
            for info in p.get("refund_infos", "").split(","):
                parts = info.split("|")
                refund = STATE["refunds"].get(parts[0])
                if refund is None or len(parts) < 3:
                    results.append({"refund_id": parts[0], "succ": False, "message": "退款不存在 refund not found"})
                    ok = False
                elif stale(refund, parts[2]):
                    results.append({"refund_id": parts[0], "succ": False,
                                    "message": "退款版本已变更，请刷新后重试 (refund version changed)"})
                    ok = False
                elif int(parts[1]) != round(float(refund["refund_fee"]) * 100):
                    results.append({"refund_id": parts[0], "succ": False, "message": "退款金额不一致 amount differs"})
                    ok = False
                else:
                    moved(refund, NEXT[method])
                    results.append({"refund_id": parts[0], "succ": True, "message": "成功"})
            return {"rp_refunds_agree_response": {
                "succ": ok, "msg_code": "OP_SUCC" if ok else "OP_FAILURE_UE", "message": "",
                "results": {"refund_mapping_result": results}, "request_id": "fake"}}
        refund = STATE["refunds"].get(p.get("refund_id", ""))
        if refund is None:
            return error(15, "Remote service error", "isv.refund-not-exist", "退款不存在")
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        if method == "taobao.nextone.logistics.warehouse.update":
            if p.get("warehouse_status") not in ("1", "2"):
                return error(40, "Missing required arguments:warehouse_status")
            moved(refund, None, warehouse_status=int(p["warehouse_status"]))
            return {key: {"is_success": True, "request_id": "fake"}}
        if stale(refund, p.get("refund_version", "")):
            return error(15, "Remote service error", "isv.refund-version-changed",
                         "退款版本已变更，请刷新后重试 (refund version changed)")
        if refund["status"] != "WAIT_SELLER_AGREE":
            return error(15, "Remote service error", "isv.refund-status-error", f"退款状态不允许：{refund['status']}")
        if method == "taobao.refund.refuse" and not (2 <= len(p.get("refuse_message", "")) <= 200):
            return error(41, "Invalid arguments:refuse_message")
        moved(refund, NEXT[method])
        return {key: {"is_success": True, "request_id": "fake"}}

    def answer(p: dict) -> dict:
        for name in ("method", "app_key", "timestamp", "sign", "sign_method", "v"):
            if not p.get(name):
                return error(40, f"Missing required arguments:{name}")
        if p["app_key"] != args.app_key:
            return error(29, "Invalid app Key")
        if p["sign_method"] != "md5" or p["sign"] != md5_sign(p, args.secret):
            return error(25, "Invalid signature")
        try:
            skew = abs((datetime.now(CST) - parse(p["timestamp"])).total_seconds())
        except ValueError:
            return error(41, "Invalid arguments:timestamp")
        if skew > 600:
            return error(31, "Invalid timestamp")
        if p.get("session") != args.session:
            return error(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")
        if STATE["error_next"] > 0:
            STATE["error_next"] -= 1
            return error(15, "Remote service error", "isp.top-remote-connection-timeout", "服务暂时不可用")
        method = p["method"]
        if method == "taobao.refunds.receive.get":
            start, end = parse(p["start_modified"]), parse(p["end_modified"])
            found = sorted((r for r in STATE["refunds"].values() if start <= parse(r["modified"]) <= end),
                           key=lambda r: r["modified"])
            size, page = int(p.get("page_size") or 40), int(p.get("page_no") or 1)
            chunk = found[(page - 1) * size: page * size]
            fields = p.get("fields", "").split(",")
            return {"refunds_receive_get_response": {
                "refunds": {"refund": [{k: r[k] for k in fields if k in r} for r in chunk]},
                "has_next": page * size < len(found), "request_id": "fake"}}
        if method == "taobao.refund.get":
            refund = STATE["refunds"].get(p.get("refund_id", ""))
            if refund is None:
                return error(15, "Remote service error", "isv.refund-not-exist", "退款不存在")
            fields = p.get("fields", "").split(",")
            return {"refund_get_response": {"refund": {k: refund[k] for k in fields if k in refund},
                                            "request_id": "fake"}}
        if method in NEXT or method == "taobao.nextone.logistics.warehouse.update":
            return decide(method, p)
        return error(22, "Invalid method")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_a) -> None:
            pass

        def reply(self, data: dict, status: int = 200) -> None:
            raw = json.dumps(data, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if urlparse(self.path).path == "/_test/refunds":
                with LOCK:
                    self.reply(STATE["refunds"])
                return
            self.reply({}, 204 if self.path == "/" else 404)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlparse(self.path).path
            with LOCK:
                if path == "/_test/refunds":
                    refund = json.loads(raw)
                    refund = {"status": "WAIT_SELLER_AGREE", "has_good_return": False, "num": 1,
                              "modified": refund.get("created"), **refund}
                    refund["refund_version"] = version_of(refund["modified"])
                    STATE["refunds"][str(refund["refund_id"])] = refund
                    return self.reply(refund)
                if path == "/_test/change":
                    change = json.loads(raw)
                    refund = STATE["refunds"][str(change.pop("refund_id"))]
                    modified = change.pop("modified", None)
                    refund.update(change)
                    refund["modified"] = modified or now_text()
                    refund["refund_version"] = version_of(refund["modified"], refund["refund_version"])
                    return self.reply(refund)
                if path == "/_test/config":
                    STATE.update(json.loads(raw))
                    return self.reply({k: STATE[k] for k in ("now", "error_next")})
                params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
                result = answer(params)
                STATE["n"] += 1
                with open(args.log, "a", encoding="utf-8") as out:
                    out.write(json.dumps({"n": STATE["n"], "method": params.get("method"), "params": params,
                                          "answer": result}, ensure_ascii=False) + "\n")
            self.reply(result)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
