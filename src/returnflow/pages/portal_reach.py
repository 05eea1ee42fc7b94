"""Which channels can carry a sign-in code (configured providers), the admins' banner when one cannot, the shop's
contact details for shoppers, and the demo inbox that `serve --demo` adds (never in a normal deployment)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from ..cases.models import OutboxMessage
from ..merchants.models import Merchant
from ..notify import delivery
from ..notify.config import get_delivery_settings
from ..notify.channels import DeliveryError
from ..notify.templates import TemplateError, render as render_message
from .frame import N_, PageError, render, redirect
from ..notify.models import ProviderTemplate
from ..auth import users
from .settings_pages import admin_actor, posted, text_of

router = APIRouter(include_in_schema=False)
DEMO_INBOX_SIZE = 40


def demo_inbox_on(request: Request) -> bool:
    return bool(getattr(request.app.state.settings, "demo_inbox", False))


def delivery_settings(request: Request):
    """The delivery settings of this deployment (an app may carry its own, as tests do)."""
    return getattr(request.app.state, "delivery_settings", None) or get_delivery_settings()


def code_channels(request: Request) -> frozenset[str]:
    """"email" when SMTP is set up, "sms" when an SMS provider is; both in the demo (its inbox shows them). An app
    may fix the set (`app.state.code_channels`), as the tests do that read the codes from the outbox. With Aliyun
    SMS, a shop (the portal's merchant) without an approved template for the code is not offered "sms"."""
    fixed = getattr(request.app.state, "code_channels", None)
    delivery = delivery_settings(request)
    if fixed is not None:
        found = frozenset(fixed)
    elif demo_inbox_on(request):
        return frozenset({"email", "sms"})
    else:
        found = frozenset({name for name, on in (("email", delivery.smtp_host), ("sms", delivery.sms_on())) if on})
    if "sms" in found and delivery.sms_provider == "aliyun" and not _code_template(request):
        found = found - {"sms"}
    return found


def _code_template(request: Request) -> bool:
    """Whether the portal's shop has an approved text message template for the sign-in code."""
    code = request.path_params.get("merchant_code")
    if not code:
        return True  # not a shop's page (the console banner): providers alone decide
    with request.app.state.db.read() as session:
        return session.scalar(select(ProviderTemplate.id).join(Merchant, Merchant.id == ProviderTemplate.merchant_id)
                              .where(Merchant.code == code, ProviderTemplate.key == "otp_code",
                                     ProviderTemplate.channel == "sms")) is not None


GAP_WORDS = {"email": N_("No email server (SMTP) is set up: customers who sign in with an email address get no "
                         "code, and emails wait."),
             "sms": N_("No SMS provider is set up: customers who sign in with a phone number get no code.")}


def channel_gaps(request: Request) -> list[str]:
    """Msgids of the console banner: each channel no provider reaches."""
    reachable = code_channels(request)
    return [GAP_WORDS[name] for name in ("email", "sms") if name not in reachable]


def shop_contact(merchant: Merchant) -> dict[str, Any]:
    """The shop's phone and hours for shoppers, and whether it shows them instead of the return address."""
    raw = (merchant.settings or {}).get("contact") or {}
    return {"phone": str(raw.get("phone") or ""), "hours": str(raw.get("hours") or ""),
            "instead_of_address": bool(raw.get("instead_of_address"))}


@router.get("/demo/inbox")
async def demo_inbox(request: Request):
    """Every email and text message the demo sent, newest first, codes included: the demo has no mail server."""
    if not demo_inbox_on(request):
        raise PageError("not_found", N_("This page does not exist."), status=404)
    with request.app.state.db.read() as session:
        # Notices also go to the staff's and the customer's in-app lists: only emails and texts belong here.
        rows = [row for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "notify")
            .order_by(OutboxMessage.id.desc()).limit(4 * DEMO_INBOX_SIZE))
            if row.payload.get("channel") in ("email", "sms")][:DEMO_INBOX_SIZE]
        names = dict(session.execute(select(Merchant.id, Merchant.name)).all())
        messages = []
        for row in rows:
            channel, data = row.payload.get("channel"), row.payload.get("data") or {}
            try:  # a case's notices go to "customer:<id>": the address delivery sends them to
                to = delivery.address_for(session, channel, str(row.payload.get("to") or ""), row.merchant_id)
            except DeliveryError:
                to = ""  # none on file: delivery fails it too
            try:  # what the customer reads: subject and text in the message's language, as delivery writes them
                subject, body = render_message(session, row.merchant_id, str(row.payload.get("template")),
                                               row.payload.get("locale") or "zh-CN", data)
            except TemplateError:
                subject, body = "", ""  # delivery fails it too, and shows admins why (outbox list)
            messages.append({"at": row.created_at, "channel": channel, "to": to, "data": data,
                             "shop": names.get(row.merchant_id, ""), "code": data.get("code"),
                             "case": data.get("case") or data.get("number"), "state": data.get("state_label"),
                             "subject": subject, "body": body})
    return render(request, "demo_inbox.html", {"messages": messages, "area": "demo"})


@router.post("/staff/settings/shop-contact")
async def save_shop_contact(request: Request):
    """The shop's phone and hours for customers, and whether they replace the return address in the portal."""
    from .settings_addresses import _addresses_page

    actor = admin_actor(request)
    form = await posted(request)
    contact = {"phone": text_of(form, "shop_phone", 100), "hours": text_of(form, "shop_hours", 200),
               "instead_of_address": form.get("instead_of_address") == "on"}
    errors = {}
    if len(str(form.get("shop_phone") or "").strip()) > 40:
        errors["shop_phone"] = N_("This text is too long.")
    if len(str(form.get("shop_hours") or "").strip()) > 120:
        errors["shop_hours"] = N_("This text is too long.")
    if contact["instead_of_address"] and not contact["phone"]:
        errors["shop_phone"] = N_("Enter the phone number customers should call.")
    if errors:
        return _addresses_page(request, actor, status=422, errors=errors, shop=contact)
    with request.app.state.db.transaction() as session:
        merchant = session.get(Merchant, actor.merchant_id)
        merchant.settings = {**(merchant.settings or {}), "contact": contact}  # a new dict: the JSON column sees it
        users.record(session, actor, merchant_id=actor.merchant_id, action="shop_contact.save", target="contact")
    return redirect(request, "/staff/settings/addresses", flash="settings_saved")
