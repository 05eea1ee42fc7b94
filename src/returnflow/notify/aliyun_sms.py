"""Aliyun SMS (短信服务) `SendSms`, RPC style: the request's parameters signed with HMAC-SHA1 of the AccessKey
secret, as Aliyun's RPC signature (SignatureVersion 1.0) defines it.

StringToSign = METHOD + "&" + pct("/") + "&" + pct(canonical query), where the canonical query is the parameters
sorted by name, each `pct(name)=pct(value)` joined by "&", and pct is RFC 3986 percent-encoding (UTF-8; letters,
digits, "-", "_", ".", "~" kept; space as %20, "*" as %2A). Signature = base64(HMAC-SHA1(secret + "&", it)).
The answer is JSON: {"Code": "OK", "BizId": ...} or an error Code and Message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

from .. import outbound
from .channels import DeliveryError, post_json
from .config import DeliverySettings

VERSION = "2017-05-25"
# Codes that no retry can change: the template, signature or a parameter was refused as such.
REFUSED = {"isv.SMS_TEMPLATE_ILLEGAL": "the template code is not approved for this account",
           "isv.SMS_SIGNATURE_ILLEGAL": "the signature name is not approved for this account",
           "isv.TEMPLATE_MISSING_PARAMETERS": "the template needs parameters that were not sent",
           "isv.TEMPLATE_PARAMS_ILLEGAL": "a parameter does not fit the template's rules",
           "isv.PARAM_LENGTH_LIMIT": "a parameter is longer than the template allows",
           "isv.MOBILE_NUMBER_ILLEGAL": "the phone number is not valid for SMS",
           "isv.INVALID_PARAMETERS": "the parameters were refused"}


def pct(value: str) -> str:
    return quote(value, safe="-_.~")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    return f"{method}&{pct('/')}&{pct(canonical)}"


def sign(secret: str, method: str, params: dict[str, str]) -> str:
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def phone_numbers(e164: str) -> str:
    """Aliyun takes mainland numbers without the country code, others with it (no "+")."""
    digits = e164.lstrip("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def signed_params(settings: DeliverySettings, *, phone: str, sign_name: str, template_code: str,
                  template_param: dict[str, str], nonce: str, now: datetime | None = None) -> dict[str, str]:
    params = {
        "AccessKeyId": settings.aliyun_access_key_id, "Action": "SendSms", "Format": "JSON",
        "PhoneNumbers": phone_numbers(phone), "RegionId": settings.aliyun_region, "SignName": sign_name,
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce, "SignatureVersion": "1.0",
        "TemplateCode": template_code,
        "TemplateParam": json.dumps(template_param, ensure_ascii=False, separators=(",", ":")),
        "Timestamp": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": VERSION,
    }
    params["Signature"] = sign(settings.aliyun_access_key_secret, "POST", params)
    return params


def send(settings: DeliverySettings, *, phone: str, sign_name: str, template_code: str,
         template_param: dict[str, str], message_id: str) -> str:
    """Sends one templated text message; returns Aliyun's BizId. A refused template, signature or parameter is a
    permanent failure (recorded with Aliyun's reason, not retried); throttling and outages are retried."""
    if not (settings.aliyun_access_key_id and settings.aliyun_access_key_secret):
        raise DeliveryError("Aliyun SMS is not configured: set RETURNFLOW_ALIYUN_ACCESS_KEY_ID and "
                            "RETURNFLOW_ALIYUN_ACCESS_KEY_SECRET")
    # The nonce is new per try: Aliyun refuses a nonce it has seen within 15 minutes.
    params = signed_params(settings, phone=phone, sign_name=sign_name, template_code=template_code,
                           template_param=template_param, nonce=f"{message_id}-{uuid.uuid4().hex}")
    body = "&".join(f"{pct(k)}={pct(v)}" for k, v in params.items()).encode()
    status, answer = post_json(settings.aliyun_sms_url, body,
                               {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                               settings.http_timeout_seconds, settings.allowed())
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise DeliveryError(f"Aliyun SMS answered HTTP {status} without JSON: {outbound.excerpt(answer)!r}", status)
    code = str(parsed.get("Code") or "")
    if code == "OK":
        return outbound.excerpt(str(parsed.get("BizId") or parsed.get("RequestId") or "OK"), 200)
    why = REFUSED.get(code)
    message = outbound.excerpt(str(parsed.get("Message") or ""), 200)
    if why:
        raise DeliveryError(f"Aliyun SMS refused template {template_code}: {why} ({code}: {message})", status,
                            permanent=True)
    raise DeliveryError(f"Aliyun SMS answered {code or 'HTTP ' + str(status)}: {message}", status)
