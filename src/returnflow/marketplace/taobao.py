"""Taobao/Tmall refunds over the TOP open API (淘宝开放平台), the shape its documentation and SDKs describe.

Every call is a form POST to the router address (`api_url`, e.g. …/router/rest) with the common parameters
`method`, `app_key`, `session` (the shop's authorisation), `timestamp` ("yyyy-MM-dd HH:mm:ss", GMT+8), `format=json`,
`v=2.0`, `sign_method=md5` and `sign`: the upper-case hex MD5 of app_secret + every other parameter as name+value
sorted by name (empty values left out) + app_secret. The answer is {"<method without 'taobao.', dots as
underscores>_response": {...}} or {"error_response": {"code", "msg", "sub_code", "sub_msg"}}.

Pull: `taobao.refunds.receive.get` (start_modified / end_modified, page_no, page_size, use_has_next) lists the ids;
`taobao.refund.get` reads each one (refund_version, created, modified, has_good_return, refund_fee, outer_id, num).
Push: agree to a refund `taobao.rp.refunds.agree` (refund_infos "refund_id|amount in fen|version|phase"), agree to a
return `taobao.rp.returngoods.agree` (refund_id, refund_version, refund_phase, seller_address_id), refuse
`taobao.refund.refuse` (refund_id, refuse_message, refund_version, refund_phase), the return arrived
`taobao.nextone.logistics.warehouse.update` (refund_id, warehouse_status=1).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from .. import outbound
from ..outbound import Allowed
from .connector import Decision, PlatformError, PlatformRequest

BEIJING = ZoneInfo("Asia/Shanghai")
LIST_FIELDS = "refund_id,tid,status,modified"
GET_FIELDS = ("refund_id,tid,oid,status,created,modified,refund_fee,total_fee,has_good_return,reason,desc,outer_id,"
              "num,refund_version,refund_phase,good_status,title")
PAGE_SIZE = 100
WINDOW = timedelta(days=1)   # one list call asks for at most a day of changes; a longer gap is read a day at a time
SIGNATURE_CODES = {"25", "27", "29"}   # invalid signature, invalid session, invalid app key: the credentials
RETRY_CODES = {"7", "15"}              # call limit; remote service error without a business (isv.*) sub_code


def sign(params: dict[str, str], secret: str) -> str:
    """TOP's md5 signature over the parameters (without `sign`), as the platform computes it."""
    text = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign" and params[k] not in (None, ""))
    return hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()


def top_time(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)


class TaobaoConnector:
    platform = "taobao"

    def __init__(self, *, api_url: str, app_key: str, app_secret: str, session_key: str, allowed: Allowed,
                 timeout: float = 10.0, options: dict | None = None, clock=None) -> None:
        self.api_url, self.app_key, self.app_secret, self.session_key = api_url, app_key, app_secret, session_key
        self.allowed, self.timeout, self.options = allowed, timeout, options or {}
        self.clock = clock or (lambda: datetime.now(BEIJING))

    # ---- the protocol -------------------------------------------------------------------------------------------
    def call(self, method: str, business: dict[str, str]) -> dict:
        params = {"method": method, "app_key": self.app_key, "session": self.session_key,
                  "timestamp": top_time(self.clock()), "format": "json", "v": "2.0", "sign_method": "md5",
                  **{k: str(v) for k, v in business.items() if v is not None}}
        params["sign"] = sign(params, self.app_secret)
        try:
            answer = outbound.request("POST", self.api_url, allowed=self.allowed, timeout=self.timeout,
                                      body=urlencode(params).encode(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                                      max_bytes=4 * 1024 * 1024)
        except outbound.OutboundError as exc:
            raise PlatformError(f"Taobao could not be reached: {exc}", retry=True) from None
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise PlatformError(f"Taobao answered HTTP {answer.status} without JSON: "
                                f"{outbound.excerpt(answer.body)!r}", retry=True)
        error = parsed.get("error_response")
        if isinstance(error, dict):
            raise _error(method, error)
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        body = parsed.get(key)
        if not isinstance(body, dict):
            raise PlatformError(f"Taobao's answer to {method} has no {key}", retry=True)
        return body

    # ---- pull ---------------------------------------------------------------------------------------------------
    def pull(self, start: datetime, end: datetime) -> list[PlatformRequest]:
        ids: list[str] = []
        page = 1
        while True:
            body = self.call("taobao.refunds.receive.get", {
                "fields": LIST_FIELDS, "start_modified": top_time(start), "end_modified": top_time(end),
                "page_no": str(page), "page_size": str(PAGE_SIZE), "use_has_next": "true"})
            items = ((body.get("refunds") or {}).get("refund")) or []
            ids += [str(item.get("refund_id")) for item in items if item.get("refund_id")]
            if not body.get("has_next") or not items:
                break
            page += 1
        return [self.get(refund_id) for refund_id in dict.fromkeys(ids)]

    def get(self, external_id: str) -> PlatformRequest:
        refund = self.call("taobao.refund.get", {"fields": GET_FIELDS, "refund_id": external_id}).get("refund")
        if not isinstance(refund, dict) or not refund.get("refund_id") or not refund.get("created"):
            raise PlatformError(f"Taobao's answer to taobao.refund.get has no refund {external_id}", retry=True)
        return request_of(refund)

    # ---- push ---------------------------------------------------------------------------------------------------
    def push(self, decision: Decision) -> str:
        d = decision
        phase = d.phase
        if d.decision == "agree_refund":
            amount = f"{d.amount_minor}"
            infos = "|".join([d.external_id, amount, d.version] + ([phase] if phase else []))
            body = self.call("taobao.rp.refunds.agree", {"refund_infos": infos})
            if not body.get("succ"):
                results = ((body.get("results") or {}).get("refund_mapping_result")) or []
                message = "; ".join(str(r.get("message") or "") for r in results) or str(body.get("message") or "")
                raise PlatformError(f"Taobao did not agree the refund ({body.get('msg_code')}): {message}",
                                    code=str(body.get("msg_code") or ""), stale=_mentions_version(message))
        elif d.decision == "agree_return":
            body = self.call("taobao.rp.returngoods.agree", {
                "refund_id": d.external_id, "refund_version": d.version, "refund_phase": phase or None,
                "seller_address_id": self.options.get("seller_address_id") or None})
            _succeeded(body, "agree the return")
        elif d.decision == "refuse":
            body = self.call("taobao.refund.refuse", {
                "refund_id": d.external_id, "refuse_message": d.message[:200] or "拒绝退款",
                "refund_version": d.version, "refund_phase": phase or None})
            _succeeded(body, "refuse")
        elif d.decision == "received":
            body = self.call("taobao.nextone.logistics.warehouse.update", {
                "refund_id": d.external_id, "warehouse_status": "1"})
            _succeeded(body, "confirm the return arrived")
        else:
            raise ValueError(f"unknown decision {d.decision}")
        return str(body.get("request_id") or "")


def request_of(refund: dict) -> PlatformRequest:
    """A refund of taobao.refund.get as the connector interface's request."""
    try:
        amount = Decimal(str(refund.get("refund_fee") or "0"))
    except InvalidOperation:
        amount = Decimal(0)
    created = parse_time(str(refund.get("created")))
    modified = parse_time(str(refund.get("modified") or refund.get("created")))
    try:
        quantity = max(int(refund.get("num") or 1), 1)
    except (TypeError, ValueError):
        quantity = 1
    return PlatformRequest(
        external_id=str(refund.get("refund_id")), order_ref=str(refund.get("tid") or ""),
        status=str(refund.get("status") or ""), version=str(refund.get("refund_version") or ""),
        created=created, modified=modified, goods_return=_true(refund.get("has_good_return")), amount=amount,
        sku=str(refund.get("outer_id") or ""), quantity=quantity, reason=str(refund.get("reason") or ""),
        description=str(refund.get("desc") or ""), raw=refund)


def _true(value) -> bool:
    return value is True or str(value).lower() == "true"


def _mentions_version(text: str) -> bool:
    return "version" in text.lower() or "版本" in text


def _succeeded(body: dict, what: str) -> None:
    if body.get("is_success") is False or str(body.get("is_success")).lower() == "false":
        raise PlatformError(f"Taobao did not {what}: {body.get('msg') or body.get('message') or 'is_success false'}")


def _error(method: str, error: dict) -> PlatformError:
    code, sub = str(error.get("code") or ""), str(error.get("sub_code") or "")
    text = f"Taobao refused {method}: {code} {error.get('msg') or ''}"
    if sub or error.get("sub_msg"):
        text += f" ({sub} {error.get('sub_msg') or ''})".rstrip()
    text = outbound.excerpt(text, 400)
    return PlatformError(text, code=sub or code, signature=code in SIGNATURE_CODES,
                         stale=_mentions_version(f"{sub} {error.get('sub_msg') or ''}"),
                         retry=sub.startswith("isp.") or (code in RETRY_CODES and not sub.startswith("isv.")))
