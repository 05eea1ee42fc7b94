#!/usr/bin/env python
"""Fake Chinese message services, each run as its own process on 127.0.0.1, checking requests as the real service
does. Standard library only.

    python -m tests.support.fake_cn aliyun   PORT LOG --key-id ID --key-secret S --sign NAME \
                                             --template SMS_1:code,minutes
    python -m tests.support.fake_cn wechat   PORT LOG --appid A --secret S --template TPL:thing1,character_string2
    python -m tests.support.fake_cn wecom    PORT LOG --key K [--fail N]
    python -m tests.support.fake_cn dingtalk PORT LOG --token T --secret SEC... [--fail N]

Every request is appended to LOG (JSON lines: service, path, query, body, answer). `--fail N`: the first N
otherwise valid robot calls answer an error (errcode 45009 / 130101), as a throttled robot does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

LOCK = threading.Lock()
ARGS = argparse.Namespace()
STATE = {"nonces": set(), "fail": 0, "tokens": set(), "issued": 0}


def templates() -> dict[str, list[str]]:
    found = {}
    for spec in ARGS.template or []:
        name, _, params = spec.partition(":")
        found[name] = [p for p in params.split(",") if p]
    return found


def aliyun_encode(text: str) -> str:
    # Aliyun's documented recipe: java URLEncoder (UTF-8), then "+" -> %20, "*" -> %2A, %7E -> "~".
    return quote(text, safe="~", encoding="utf-8").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def aliyun(method: str, params: dict[str, str]) -> tuple[int, dict]:
    required = ("AccessKeyId", "Action", "Format", "PhoneNumbers", "SignName", "SignatureMethod", "SignatureNonce",
                "SignatureVersion", "TemplateCode", "Timestamp", "Version", "Signature")
    missing = [k for k in required if not params.get(k)]
    if missing:
        return 400, {"Code": "MissingParameter", "Message": f"missing {missing[0]}"}
    if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
        return 400, {"Code": "InvalidAction", "Message": "unknown action or version"}
    if params["AccessKeyId"] != ARGS.key_id:
        return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}
    if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
        return 400, {"Code": "InvalidSignatureMethod", "Message": "only HMAC-SHA1 1.0"}
    stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    if abs((datetime.now(timezone.utc) - stamp).total_seconds()) > 900:
        return 400, {"Code": "InvalidTimeStamp.Expired", "Message": "timestamp expired"}
    signed = {k: v for k, v in params.items() if k != "Signature"}
    canonical = "&".join(f"{aliyun_encode(k)}={aliyun_encode(v)}" for k, v in sorted(signed.items()))
    to_sign = f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"
    want = base64.b64encode(hmac.new((ARGS.key_secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest())
    if not hmac.compare_digest(want.decode(), params["Signature"]):
        return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
    with LOCK:
        if params["SignatureNonce"] in STATE["nonces"]:
            return 400, {"Code": "SignatureNonceUsed", "Message": "nonce used"}
        STATE["nonces"].add(params["SignatureNonce"])
    if params["SignName"] != ARGS.sign:
        return 200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "signature name not approved"}
    known = templates()
    if params["TemplateCode"] not in known:
        return 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "template not approved"}
    values = json.loads(params.get("TemplateParam") or "{}")
    for name in known[params["TemplateCode"]]:
        if not values.get(name):
            return 200, {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": f"missing {name}"}
        if len(str(values[name])) > 35:
            return 200, {"Code": "isv.PARAM_LENGTH_LIMIT", "Message": f"{name} too long"}
    if not params["PhoneNumbers"].isdigit():
        return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "bad number"}
    return 200, {"Code": "OK", "Message": "OK", "BizId": f"biz-{len(STATE['nonces'])}", "RequestId": "req"}


def wechat(method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict]:
    if path == "/cgi-bin/token":
        if query.get("grant_type") != "client_credential" or query.get("appid") != ARGS.appid or \
                query.get("secret") != ARGS.secret:
            return 200, {"errcode": 40013, "errmsg": "invalid appid or secret"}
        with LOCK:
            STATE["issued"] += 1
            token = f"token-{STATE['issued']}"
            STATE["tokens"].add(token)
        return 200, {"access_token": token, "expires_in": 7200}
    if path not in ("/cgi-bin/message/subscribe/send", "/cgi-bin/message/template/send") or method != "POST":
        return 404, {"errcode": 404, "errmsg": "no such api"}
    if query.get("access_token") not in STATE["tokens"]:
        return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
    if not isinstance(body, dict) or not body.get("touser") or not isinstance(body.get("data"), dict):
        return 200, {"errcode": 47001, "errmsg": "data format error"}
    known = templates()
    if body.get("template_id") not in known:
        return 200, {"errcode": 40037, "errmsg": "invalid template_id"}
    for name in known[body["template_id"]]:
        item = body["data"].get(name)
        if not isinstance(item, dict) or not item.get("value"):
            return 200, {"errcode": 47003, "errmsg": f"argument invalid! data.{name}.value empty"}
        if name.startswith("thing") and len(item["value"]) > 20:
            return 200, {"errcode": 47003, "errmsg": f"argument invalid! data.{name}.value too long"}
    return 200, {"errcode": 0, "errmsg": "ok", "msgid": 1000 + STATE["issued"]}


def _fail_once(code: int, message: str) -> dict | None:
    with LOCK:
        if STATE["fail"] > 0:
            STATE["fail"] -= 1
            return {"errcode": code, "errmsg": message}
    return None


def _markdown_ok(body: dict | None, *keys: str) -> bool:
    markdown = (body or {}).get("markdown")
    return (body or {}).get("msgtype") == "markdown" and isinstance(markdown, dict) and all(
        isinstance(markdown.get(k), str) and markdown[k] for k in keys)


def wecom(path: str, query: dict, body: dict | None) -> tuple[int, dict]:
    if path != "/cgi-bin/webhook/send" or query.get("key") != ARGS.key:
        return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
    if not _markdown_ok(body, "content"):
        return 200, {"errcode": 40008, "errmsg": "invalid message type"}
    return 200, _fail_once(45009, "api freq out of limit") or {"errcode": 0, "errmsg": "ok"}


def dingtalk(path: str, query: dict, body: dict | None) -> tuple[int, dict]:
    if path != "/robot/send" or query.get("access_token") != ARGS.token:
        return 200, {"errcode": 300001, "errmsg": "token is not exist"}
    stamp = query.get("timestamp", "")
    if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3600_000:
        return 200, {"errcode": 310000, "errmsg": "sign not match, timestamp is invalid"}
    want = base64.b64encode(hmac.new(ARGS.secret.encode(), f"{stamp}\n{ARGS.secret}".encode(),
                                     hashlib.sha256).digest()).decode()
    if query.get("sign") != want:  # parse_qsl has undone the URL encoding
        return 200, {"errcode": 310000, "errmsg": "sign not match"}
    if not _markdown_ok(body, "title", "text"):
        return 200, {"errcode": 40035, "errmsg": "missing markdown"}
    return 200, _fail_once(130101, "send too fast") or {"errcode": 0, "errmsg": "ok"}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = None
        if ARGS.service == "aliyun":
            status, answer = aliyun(method, dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            if ARGS.service == "wechat":
                status, answer = wechat(method, parts.path, query, body)
            elif ARGS.service == "wecom":
                status, answer = wecom(parts.path, query, body)
            else:
                status, answer = dingtalk(parts.path, query, body)
        entry = {"service": ARGS.service, "method": method, "path": parts.path, "query": query,
                 "body": raw.decode(errors="replace"), "answer": answer}
        with LOCK, open(ARGS.log, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=("aliyun", "wechat", "wecom", "dingtalk"))
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    for name in ("--key-id", "--key-secret", "--sign", "--appid", "--secret", "--key", "--token"):
        parser.add_argument(name, default="")
    parser.add_argument("--template", action="append")
    parser.add_argument("--fail", type=int, default=0)
    parser.parse_args(argv, namespace=ARGS)
    STATE["fail"] = ARGS.fail
    ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
