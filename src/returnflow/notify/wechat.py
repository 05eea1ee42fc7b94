"""WeChat template messages (official account, /cgi-bin/message/template/send) and subscribe messages (mini
program, /cgi-bin/message/subscribe/send) to a customer's openid.

Both need an access_token from /cgi-bin/token (grant_type=client_credential, appid, secret), valid for
`expires_in` seconds: it is fetched once and kept per process until shortly before it runs out, and dropped at once
when WeChat says it is invalid or expired (errcode 40001, 40014, 42001).
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from .. import outbound
from ..caches import CACHES
from .channels import DeliveryError, post_json
from .config import DeliverySettings

_TOKENS = CACHES["wechat_tokens"]  # (api url, appid) -> (token, monotonic expiry) (caches.py)
STALE_TOKEN = {40001, 40014, 42001}
REFUSED = {40003: "the openid is not a follower of this account", 40037: "the template id is not valid",
           43101: "the customer has not subscribed to this message (or used up the subscription)",
           47003: "a parameter does not fit the template's rules", 43004: "the customer does not follow the account"}


def _api(settings: DeliverySettings, path: str) -> str:
    return settings.wechat_api_url.rstrip("/") + path


def _json(status: int, answer: bytes, what: str) -> dict:
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise DeliveryError(f"WeChat {what} answered HTTP {status} without JSON: {outbound.excerpt(answer)!r}", status)
    return parsed


def access_token(settings: DeliverySettings) -> str:
    key = (settings.wechat_api_url, settings.wechat_appid)
    cached = _TOKENS.peek(key)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    query = urlencode({"grant_type": "client_credential", "appid": settings.wechat_appid,
                       "secret": settings.wechat_secret})
    try:
        answer = outbound.request("GET", _api(settings, "/cgi-bin/token?" + query), allowed=settings.allowed(),
                                  timeout=settings.http_timeout_seconds)
    except outbound.OutboundError as exc:
        raise DeliveryError(str(exc)) from None
    parsed = _json(answer.status, answer.body, "token")
    token = parsed.get("access_token")
    if not token:
        raise DeliveryError(f"WeChat gave no access_token: errcode {parsed.get('errcode')} "
                            f"{outbound.excerpt(str(parsed.get('errmsg') or ''))}", answer.status)
    life = max(int(parsed.get("expires_in") or 7200) - 300, 60)  # renewed five minutes before it runs out
    _TOKENS.put(key, (str(token), time.monotonic() + life))
    return str(token)


def forget_tokens() -> None:
    _TOKENS.drop()


def send(settings: DeliverySettings, *, openid: str, template_id: str, data: dict[str, str]) -> str:
    """Sends one template or subscribe message; returns WeChat's msgid (or "ok")."""
    if not (settings.wechat_appid and settings.wechat_secret and settings.wechat_api_url):
        raise DeliveryError("WeChat is not configured: set RETURNFLOW_WECHAT_APPID, RETURNFLOW_WECHAT_SECRET and "
                            "RETURNFLOW_WECHAT_API_URL")
    token = access_token(settings)
    path = "/cgi-bin/message/subscribe/send" if settings.wechat_kind == "subscribe" else \
        "/cgi-bin/message/template/send"
    body = {"touser": openid, "template_id": template_id, "data": {k: {"value": v} for k, v in data.items()}}
    if settings.wechat_kind == "subscribe":
        body["lang"] = "zh_CN"
    status, answer = post_json(_api(settings, f"{path}?{urlencode({'access_token': token})}"),
                               json.dumps(body, ensure_ascii=False).encode(), {}, settings.http_timeout_seconds,
                               settings.allowed())
    parsed = _json(status, answer, "message")
    code = parsed.get("errcode", 0)
    if code == 0:
        return outbound.excerpt(str(parsed.get("msgid") or "ok"), 200)
    message = outbound.excerpt(str(parsed.get("errmsg") or ""), 200)
    if code in STALE_TOKEN:
        _TOKENS.drop((settings.wechat_api_url, settings.wechat_appid))
        raise DeliveryError(f"WeChat refused the access token ({code}: {message}); a new one is fetched on retry",
                            status)
    if code in REFUSED:
        raise DeliveryError(f"WeChat refused template {template_id}: {REFUSED[code]} ({code}: {message})", status,
                            permanent=True)
    raise DeliveryError(f"WeChat answered errcode {code}: {message}", status)
