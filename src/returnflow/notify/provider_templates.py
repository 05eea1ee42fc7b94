"""Template messages: the provider's approved template (Aliyun SMS, WeChat) for one of our notification templates.

Chinese SMS providers and WeChat send only pre-approved templates: a template id, a signature name (SMS) and named
parameters. A merchant maps, per template key and channel, the provider's parameters to our fields; a message for
which no mapping exists, or whose value is longer than the provider takes, is not sent (the reason is recorded),
never sent truncated.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_, SUPPORTED, gettext
from .channels import DeliveryError
from .models import ProviderTemplate
from .templates import BUILTIN

PROVIDER = {"sms": "aliyun", "wechat": "wechat"}  # the provider of each template channel
ALIYUN_TEMPLATE = re.compile(r"^SMS_\d{3,20}$")
WECHAT_TEMPLATE = re.compile(r"^[A-Za-z0-9_-]{10,64}$")
ALIYUN_PARAM = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,29}$")
WECHAT_PARAM = re.compile(r"^([a-z_]+?)(\d*)$")
# Aliyun: each variable of a notification template takes 1 to 35 characters (verification code templates 4 to 6).
ALIYUN_MAX = 35
ALIYUN_CODE_MAX = 6
# WeChat subscribe and template messages: the limit depends on the kind of the key (thing1, character_string2 ...).
WECHAT_MAX = {"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5, "phrase": 5,
              "name": 10, "phone_number": 17, "car_number": 8, "amount": 32, "time": 32, "date": 32, "const": 20}
_ROW = select(ProviderTemplate.template_id, ProviderTemplate.sign_name, ProviderTemplate.params).where(
    ProviderTemplate.merchant_id == bindparam("m"), ProviderTemplate.key == bindparam("k"),
    ProviderTemplate.channel == bindparam("c"))


def _bad(field: str, text: str, /, **params) -> Explained:
    return Explained(field, text, code="invalid_provider_template", **params)


def check(channel: str, key: str, template_id: str, sign_name: str, params: dict) -> None:
    """Refuses (422, in both languages) what the provider would refuse or what we could not fill."""
    if channel not in PROVIDER:
        raise _bad("channel", N_("Template messages go by text message (sms) or WeChat (wechat)."))
    if key not in BUILTIN:
        raise _bad("template", N_("There is no notification template '{key}'."), key=key)
    if channel == "sms":
        if not ALIYUN_TEMPLATE.match(template_id):
            raise _bad("template", N_("An Aliyun SMS template code looks like SMS_123456789."))
        if not 2 <= len(sign_name) <= 12 or any(c in sign_name for c in "【】[]"):
            raise _bad("signature", N_("Enter the approved SMS signature name (2 to 12 characters, without brackets)."))
    elif not WECHAT_TEMPLATE.match(template_id):
        raise _bad("template", N_("A WeChat template id is 10 to 64 letters, digits, - or _."))
    if not params or len(params) > 20:
        raise _bad("params", N_("Map between 1 and 20 of the template's parameters to our fields."))
    fields = BUILTIN[key].fields
    for name, ours in params.items():
        pattern = ALIYUN_PARAM if channel == "sms" else WECHAT_PARAM
        if not isinstance(name, str) or not pattern.match(name) or (
                channel == "wechat" and pattern.match(name).group(1) not in WECHAT_MAX):
            raise _bad("params", N_("'{name}' is not a parameter name the provider uses."), name=name)
        if ours not in fields:
            raise _bad("params", N_("Parameter {name} must take one of this template's fields: {fields}."), name=name,
                       fields={tag: gettext(tag, N_(", ")).join(fields) for tag in SUPPORTED})


def find(session: Session, merchant_id: int | None, key: str, channel: str):
    """(template id, sign name, params) or None."""
    return session.execute(_ROW, {"m": merchant_id, "k": key, "c": channel}).first()


def approved_keys(session: Session, merchant_id: int, channel: str) -> set[str]:
    return set(session.scalars(select(ProviderTemplate.key).where(ProviderTemplate.merchant_id == merchant_id,
                                                                  ProviderTemplate.channel == channel)))


def limit_of(channel: str, name: str, ours: str) -> int:
    if channel == "sms":
        return ALIYUN_CODE_MAX if ours == "code" else ALIYUN_MAX
    return WECHAT_MAX[WECHAT_PARAM.match(name).group(1)]


def fill(channel: str, key: str, params: dict, data: dict) -> dict[str, str]:
    """The provider's parameters from our data; a missing or too long value is a permanent DeliveryError."""
    values = {}
    for name, ours in params.items():
        value = data.get(ours)
        if value in (None, ""):
            raise DeliveryError(f"template {key}: the field {ours} for parameter {name} is empty; the provider "
                                f"refuses an empty parameter", permanent=True)
        text = str(value)
        limit = limit_of(channel, name, ours)
        if len(text) > limit:
            raise DeliveryError(f"template {key}: parameter {name} ({ours}) has {len(text)} characters, more than "
                                f"the {limit} the provider accepts; not sent (it would arrive cut short)",
                                permanent=True)
        values[name] = text
    return values


def row_dict(row: ProviderTemplate) -> dict:
    return {"key": row.key, "channel": row.channel, "provider": row.provider, "template_id": row.template_id,
            "sign_name": row.sign_name, "params": row.params, "updated_at": row.updated_at}
