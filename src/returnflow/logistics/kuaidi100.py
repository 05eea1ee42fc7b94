"""Kuaidi100 (快递100), the aggregator most Chinese merchants track parcels through: the protocol, nothing else.

- Subscription (快递信息推送服务, 订阅): POST form `schema=json`, `param={"company", "number", "key", "parameters":
  {"callbackurl", "salt", "resultv2"}}` to `/poll`; answer `{"result", "returnCode", "message"}` where 200 is
  accepted and 501 "already subscribed" is as good.
- Push (推送): Kuaidi100 POSTs form fields `param` (JSON: `status` polling|shutdown|abort|updateall, `message`,
  `lastResult` {state, nu, com, data: [{context, time, ftime, status, statusCode?, areaName?}]}) and `sign` =
  upper-case MD5(param + salt); we answer exactly `{"result": true, "returnCode": "200", "message": "成功"}`.
- Number recognition (智能单号识别): GET `/autonumber/auto?num=&key=` → `[{"comCode", "noPre", ...}]`.
- Merchant shipping (商家寄件): POST form `method=bOrder`, `key`, `t` (ms), `param` (JSON: kuaidicom, sender and
  receiver, cargo, payment, dayType, pickupStartTime, pickupEndTime, ...), `sign` = upper-case MD5(param + t + key +
  secret); answer `{"result", "returnCode", "message", "data": {"taskId", "orderId", "kuaidinum"}}`.

Every call goes through the outbound guard (public addresses, or the deployment's allowed hosts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .. import outbound
from ..outbound import Allowed
from .adapters import UNKNOWN, TrackingUpdate
from .carriers import normalise_number

ACK = {"result": True, "returnCode": "200", "message": "成功"}
NACK = {"result": False, "returnCode": "500", "message": "失败"}
CN = ZoneInfo("Asia/Shanghai")  # Kuaidi100's times carry no offset: they are Beijing time

# Our carrier codes ↔ Kuaidi100 company codes (公司编码).
COMPANIES = {"SF": "shunfeng", "JD": "jd", "YTO": "yuantong", "ZTO": "zhongtong", "STO": "shentong",
             "YUNDA": "yunda", "EMS": "ems", "HKPOST": "hkpost", "USPS": "usps", "UPS": "ups", "DPDUK": "dpduk"}
BY_COMPANY = {v: k for k, v in COMPANIES.items()}
PICKUP_CARRIERS = ("SF", "JD", "YTO", "ZTO", "STO", "YUNDA", "EMS")  # 商家寄件 collects for these

# lastResult.state / data[].statusCode → our seven statuses. Main states: 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签,
# 5 派件, 6 退回, 7 转投, 8 清关, 14 拒签 (10–13: customs stages). With resultv2=4 sub-states are three or four
# digits whose leading one or two digits are the main state (209: 疑难·破损, 1401: 拒签 ...).
STATES = {"0": "in_transit", "1": "in_transit", "2": "failed_attempt", "3": "delivered", "4": "returned_to_sender",
          "5": "out_for_delivery", "6": "returned_to_sender", "7": "in_transit", "8": "in_transit",
          "10": "in_transit", "11": "in_transit", "12": "in_transit", "13": "in_transit", "14": "failed_attempt"}
SUB_STATES = {"209": "damaged", "202": UNKNOWN, "210": UNKNOWN}
# The status words Kuaidi100 writes on each data item (resultv2=1).
WORDS = {"在途": "in_transit", "揽收": "in_transit", "疑难": "failed_attempt", "签收": "delivered",
         "退签": "returned_to_sender", "派件": "out_for_delivery", "退回": "returned_to_sender", "转投": "in_transit",
         "清关": "in_transit", "拒签": "failed_attempt", "待清关": "in_transit", "清关中": "in_transit",
         "已清关": "in_transit", "清关异常": "failed_attempt"}


class Kuaidi100Settings(BaseSettings):
    """Where Kuaidi100 and our own public address are, from RETURNFLOW_KUAIDI100_* / RETURNFLOW_PUBLIC_URL.
    The merchant's key, customer id and secret are the merchant's settings (Settings → Tracking)."""

    model_config = SettingsConfigDict(env_prefix="RETURNFLOW_", extra="ignore", populate_by_name=True)

    kuaidi100_url: str = ""  # the poll API's base (subscription, merchant shipping)
    kuaidi100_autonumber_url: str = ""  # the number recognition base; empty: the same as kuaidi100_url
    public_url: str = ""  # this desk's address as Kuaidi100 reaches it (for the callback URL)
    kuaidi100_timeout: float = Field(default=5.0, gt=0)
    outbound_allowed_hosts: str = ""

    def allowed(self) -> Allowed:
        return Allowed.parse(self.outbound_allowed_hosts)


class ProviderDown(Exception):
    """No usable answer (unreachable, timed out, 5xx, unreadable): the caller retries or says so. No secrets."""


@dataclass(frozen=True)
class Answer:
    ok: bool
    code: str
    message: str
    data: dict


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()  # noqa: S324 — the provider's protocol


def push_sign(param: str, salt: str) -> str:
    return md5_upper(param + salt)


def push_sign_ok(param: str, sign: str, salt: str) -> bool:
    return hmac.compare_digest(push_sign(param, salt), (sign or "").strip().upper())


def subscribe_param(*, company: str, number: str, key: str, callback_url: str, salt: str) -> str:
    return json.dumps({"company": company, "number": number, "key": key,
                       "parameters": {"callbackurl": callback_url, "salt": salt, "resultv2": "4"}},
                      ensure_ascii=False, separators=(",", ":"))


def order_sign(param: str, t: str, key: str, secret: str) -> str:
    return md5_upper(param + t + key + secret)


def _post_form(settings: Kuaidi100Settings, base: str, path: str, fields: dict) -> Answer:
    if not base:
        raise ProviderDown("Kuaidi100's address is not configured (RETURNFLOW_KUAIDI100_URL)")
    try:
        answer = outbound.request("POST", base.rstrip("/") + path, allowed=settings.allowed(),
                                  timeout=settings.kuaidi100_timeout, body=urlencode(fields).encode(),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    except outbound.OutboundError as exc:
        raise ProviderDown(f"Kuaidi100 did not answer: {type(exc).__name__}") from None
    return _answer(answer.status, answer.body)


def _answer(status: int, body: bytes) -> Answer:
    if status >= 500:
        raise ProviderDown(f"Kuaidi100 answered HTTP {status}")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise ProviderDown("Kuaidi100's answer could not be read") from None
    if not isinstance(payload, dict):
        raise ProviderDown("Kuaidi100's answer could not be read")
    ok = payload.get("result") is True or str(payload.get("result")).lower() == "true"
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return Answer(ok, str(payload.get("returnCode") or ""), str(payload.get("message") or "")[:200], data)


def subscribe(settings: Kuaidi100Settings, *, company: str, number: str, key: str, callback_url: str,
              salt: str) -> Answer:
    """One subscription request. 200 and 501 (重复订阅, already subscribed) are both a subscription."""
    param = subscribe_param(company=company, number=number, key=key, callback_url=callback_url, salt=salt)
    answer = _post_form(settings, settings.kuaidi100_url, "/poll", {"schema": "json", "param": param})
    if answer.code == "501":
        return Answer(True, answer.code, answer.message, answer.data)
    if answer.code.startswith("5") and not answer.ok:
        raise ProviderDown(f"Kuaidi100 answered {answer.code}")
    return answer


def autonumber(settings: Kuaidi100Settings, *, number: str, key: str) -> list[str]:
    """Kuaidi100's guesses for the number's company, best first, as Kuaidi100 company codes."""
    base = settings.kuaidi100_autonumber_url or settings.kuaidi100_url
    if not base or not key:
        raise ProviderDown("Kuaidi100 is not configured")
    url = base.rstrip("/") + "/autonumber/auto?" + urlencode({"num": number, "key": key})
    try:
        answer = outbound.request("GET", url, allowed=settings.allowed(), timeout=settings.kuaidi100_timeout)
    except outbound.OutboundError as exc:
        raise ProviderDown(f"Kuaidi100 did not answer: {type(exc).__name__}") from None
    if answer.status != 200:
        raise ProviderDown(f"Kuaidi100 answered HTTP {answer.status}")
    try:
        found = json.loads(answer.body or b"[]")
    except ValueError:
        raise ProviderDown("Kuaidi100's answer could not be read") from None
    if not isinstance(found, list):
        return []
    return [str(item.get("comCode")) for item in found if isinstance(item, dict) and item.get("comCode")]


def book_pickup(settings: Kuaidi100Settings, *, key: str, secret: str, param: dict,
                now_ms: int | None = None) -> Answer:
    """商家寄件 bOrder: books a courier to collect the parcel."""
    text = json.dumps(param, ensure_ascii=False, separators=(",", ":"))
    t = str(now_ms if now_ms is not None else int(time.time() * 1000))
    return _post_form(settings, settings.kuaidi100_url, "/order/borderapi.do",
                      {"method": "bOrder", "key": key, "t": t, "param": text,
                       "sign": order_sign(text, t, key, secret)})


# ---- the push --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Push:
    status: str  # polling | shutdown | abort | updateall
    message: str
    company: str
    number: str
    updates: list[TrackingUpdate]
    carrier: str | None  # our code for the company, if we know it


def status_of(state: str, word: str = "") -> str:
    """Our status for a Kuaidi100 state code (main or sub-state), else for its status word."""
    state = (state or "").strip()
    if state in SUB_STATES:
        return SUB_STATES[state]
    if state in STATES:
        return STATES[state]
    main = state[:1] if len(state) == 3 else state[:2] if len(state) == 4 else None  # 501 → 5, 1401 → 14
    if main in STATES:
        return STATES[main]
    return WORDS.get((word or "").strip(), UNKNOWN)


def _when(value: str) -> datetime | None:
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value.strip(), form).replace(tzinfo=CN).astimezone(timezone.utc)
        except (ValueError, AttributeError):
            continue
    return None


class BadPush(ValueError):
    """A push whose param is not the JSON Kuaidi100 sends (said in English for the log; the answer is a NACK)."""


def parse_push(param: str) -> Push:
    """Reads a push's `param`. Each data item becomes one event (its own status code or word; the newest item
    takes lastResult.state when it carries none)."""
    try:
        body = json.loads(param)
    except ValueError:
        raise BadPush("param is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("lastResult", {}), dict):
        raise BadPush("param is not a push object")
    last = body.get("lastResult") or {}
    company = str(last.get("com") or body.get("comNew") or "").strip().lower()
    number = normalise_number(str(last.get("nu") or ""))
    carrier = BY_COMPANY.get(company)
    items = last.get("data") or []
    if not isinstance(items, list):
        raise BadPush("lastResult.data is not a list")
    updates = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadPush(f"lastResult.data[{i}] is not an object")
        at = _when(str(item.get("ftime") or item.get("time") or ""))
        if at is None:
            raise BadPush(f"lastResult.data[{i}].time is not a time")
        code = str(item.get("statusCode") or "")
        if not code and i == 0:  # data is newest first; the parcel's state describes the newest item
            code = str(last.get("state") or "")
        status = status_of(code, str(item.get("status") or ""))
        updates.append(TrackingUpdate(carrier or "OTHER", number, status, at, code or str(item.get("status") or ""),
                                      str(item.get("context") or "").strip(), str(item.get("areaName") or ""),
                                      "kuaidi100"))
    return Push(str(body.get("status") or ""), str(body.get("message") or ""), company, number, updates, carrier)
