"""The "notify" topic (contract 1): render the template for the recipient's locale and send it by its channel.

Payload: {"channel": "email"|"sms"|"in_app"|"push"|"wechat", "to": address | phone | "customer:<id>" | "user:<id>",
"locale": "zh-CN"|"en", "template": key, "data": {...}}.
Text messages through Aliyun (RETURNFLOW_SMS_PROVIDER=aliyun) and WeChat messages go out as the merchant's approved
provider template (notify.provider_templates); without one the message is dead-lettered with that reason.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from ..auth.models import User
from ..db import Database, utcnow
from ..orders.models import Customer
from . import aliyun_sms, provider_templates, wechat
from .channels import DeliveryError, send_email, send_via_provider
from .config import DeliverySettings
from .models import InAppMessage
from .outbox import Claimed, StoreRow
from .templates import TemplateError, cached_texts, fill, readable, render

TOPIC = "notify"
_CUSTOMER = select(Customer.email, Customer.phone, Customer.merchant_id, Customer.wechat_openid).where(
    Customer.id == bindparam("id"))
_USER = select(User.email, None, User.merchant_id, None).where(User.id == bindparam("id"))
CHANNELS = ("email", "sms", "in_app", "push", "wechat")
WHAT = {"email": "email address", "sms": "phone number", "wechat": "WeChat openid"}


def _needs_lookup(channel: str, to: str) -> bool:
    """Whether `address_for` reads the database for this recipient (an email address or a phone number on file)."""
    kind, _, ref = to.partition(":")
    return kind in ("customer", "user") and ref.isdigit() and channel not in ("in_app", "push")


def address_for(session, channel: str, to: str, merchant_id: int | None) -> str:
    """The concrete address for a channel: an email, a phone number, or the portal recipient itself (raises
    DeliveryError when the recipient has none). The demo inbox shows messages by it too."""
    kind, _, ref = to.partition(":")
    if kind not in ("customer", "user") or not ref.isdigit():
        if channel in ("in_app", "wechat"):
            raise DeliveryError(f"{channel} messages go to customer:<id> or user:<id>, not {to!r}")
        return to
    if channel in ("in_app", "push"):
        return to
    row = session.connection().execute(_CUSTOMER if kind == "customer" else _USER, {"id": int(ref)}).first()
    if row is None or (merchant_id is not None and row[2] not in (merchant_id, None)):
        raise DeliveryError(f"recipient {to} does not exist")
    address = row[{"email": 0, "sms": 1, "wechat": 3}[channel]]
    if not address:
        raise DeliveryError(f"recipient {to} has no {WHAT[channel]}", permanent=channel == "wechat")
    return address


def deliver(db: Database, settings: DeliverySettings, message: Claimed) -> tuple[int | None, str | StoreRow]:
    p = message.payload
    channel, to = p.get("channel"), str(p.get("to") or "")
    if channel not in CHANNELS:
        raise DeliveryError(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    key, locale, data = str(p.get("template")), p.get("locale") or "zh-CN", p.get("data") or {}
    if channel == "wechat" or channel == "sms" and settings.sms_provider == "aliyun":
        return _templated(db, settings, message, channel, key, to, data)
    known = cached_texts(message.merchant_id, key, locale)
    try:
        if known is not None and not _needs_lookup(channel, to):
            # In-app and push messages to a known recipient, in wording already looked up: no database needed.
            data = readable(data, locale)
            subject, body = fill(known[0], data, key), fill(known[1], data, key)
            address = address_for(None, channel, to, message.merchant_id)
        else:
            with db.read() as session:
                subject, body = render(session, message.merchant_id, key, locale, data)
                address = address_for(session, channel, to, message.merchant_id)
    except TemplateError as exc:
        raise DeliveryError(str(exc)) from None
    ref = f"outbox-{message.id}"
    if channel == "email":
        return 250, send_email(settings, to=address, subject=subject, body=body, message_id=ref)
    if channel == "sms":
        return 200, send_via_provider(settings.sms_url, settings.sms_token, settings.http_timeout_seconds, kind="sms",
                                      to=address, subject=subject, text=body, message_id=ref,
                                      allowed=settings.allowed())
    if channel == "push":
        return 200, send_via_provider(settings.push_url, settings.push_token, settings.http_timeout_seconds,
                                      kind="push", to=address, subject=subject, text=body, message_id=ref,
                                      allowed=settings.allowed())
    # Stored by the transaction that records the message as sent (notify.outbox), once per outbox id.
    return None, StoreRow(InAppMessage.__table__, {
        "merchant_id": message.merchant_id, "case_id": message.case_id, "outbox_id": message.id,
        "recipient": address, "template": p.get("template"), "locale": p.get("locale") or "zh-CN",
        "subject": subject, "body": body, "created_at": utcnow(), "read_at": None})


def _templated(db: Database, settings: DeliverySettings, message: Claimed, channel: str, key: str, to: str,
               data: dict) -> tuple[int, str]:
    """A message through the merchant's approved provider template: Aliyun SMS or WeChat."""
    with db.read() as session:
        row = provider_templates.find(session, message.merchant_id, key, channel)
        address = address_for(session, channel, to, message.merchant_id)
    provider = "Aliyun SMS" if channel == "sms" else "WeChat"
    if row is None:
        raise DeliveryError(f"no approved {provider} template for {key}: the merchant sets one under Settings > "
                            f"Notifications (template messages)", permanent=True)
    template_id, sign_name, params = row
    values = provider_templates.fill(channel, key, params or {}, data)
    if channel == "sms":
        return 200, aliyun_sms.send(settings, phone=address, sign_name=sign_name, template_code=template_id,
                                    template_param=values, message_id=f"outbox-{message.id}")
    return 200, wechat.send(settings, openid=address, template_id=template_id, data=values)

