"""Settings → Payments (admins): where refunds go — the default gateway and one per payment method, chosen in
words from the gateways that are configured — and each payment provider's credentials (WeChat Pay, Alipay,
Stripe). Secrets are shown masked, never their value; a blank or masked field keeps the stored secret. Everything
is saved through refunds.settings_save.save, the function the API's PUT /money/settings calls."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ..auth import users
from ..actor import Actor
from ..errors import AppError
from ..refunds import money_settings as money
from ..refunds import settings_save
from ..refunds.api import pay_settings
from ..refunds.providers import PROVIDERS
from ..refunds.providers import config as pc
from ..refunds.schemas import MoneySettingsIn
from .frame import FLASH, N_, gettext, locale_of, redirect
from .settings_pages import AUDIT_ACTIONS, admin_actor, ctx, explain, posted, render, text_of

router = APIRouter(include_in_schema=False)
FLASH.update({"payments_saved": N_("The payment settings were saved.")})
AUDIT_ACTIONS.update({"payments.save": N_("Payment settings saved")})

GATEWAYS = {"manual": N_("By hand (finance pays and marks the refund paid)"),
            "http": N_("The deployment's HTTP payment service"),
            "wechatpay": N_("WeChat Pay"), "alipay": N_("Alipay"), "stripe": N_("Stripe")}
METHODS = {"wechat": N_("Paid with WeChat Pay"), "alipay": N_("Paid with Alipay"), "card": N_("Paid by card"),
           "unionpay": N_("Paid with UnionPay")}
OTHER_METHOD = N_("Another payment method")
AUTOMATIC = N_("Automatic: the method's own provider when configured, otherwise the default")
# The provider's fields in the order of its form; the long ones (keys in PEM) are text areas.
FIELDS = {"wechatpay": ("mchid", "serial_no", "private_key", "api_v3_key", "platform_serial", "platform_public_key",
                        "api_url", "notify_url"),
          "alipay": ("app_id", "private_key", "alipay_public_key", "api_url", "notify_url"),
          "stripe": ("secret_key", "webhook_secret", "api_url")}
LONG = ("private_key", "platform_public_key", "alipay_public_key")
NOT_LISTED = N_("{field}: choose a gateway from the list.")
TOO_LONG = N_("{field}: this text is too long.")
ROUTING_LABELS = {"default_gateway": N_("Default gateway")}


def label(name: str, locale: str) -> str:
    """A provider field's name in the reader's language (the labels providers.config words its refusals with)."""
    text = gettext(locale, pc.KEY_NAMES[name])
    return text[:1].upper() + text[1:]


def _configured(request: Request, providers: dict) -> list[str]:
    found = ["manual"] + (["http"] if pay_settings(request).http_url else [])
    return found + [p for p in PROVIDERS if p in providers and not pc.missing(p, providers[p])]


def _method_word(method: str, locale: str) -> str:
    return gettext(locale, METHODS.get(method, OTHER_METHOD))


def _page(request: Request, actor: Actor, *, status: int = 200, routing: dict | None = None,
          typed: dict | None = None, **more: Any):
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        stored = money.money_settings(session, actor.merchant_id)
    shown = pc.shown(stored["providers"])
    usable = _configured(request, stored["providers"])
    routing = routing or {"default_gateway": stored["default_gateway"], "gateways": dict(stored["gateways"])}
    offered = [g for g in GATEWAYS if g in usable or g == routing["default_gateway"]
               or g in routing["gateways"].values()]
    gateway_options = [(g, gettext(locale, GATEWAYS[g])) for g in offered]
    methods = list(METHODS) + [m for m in routing["gateways"] if m not in METHODS]
    providers = []
    for name in PROVIDERS:
        values = dict(shown.get(name) or {})
        if typed and name in typed:  # what was typed, except secrets: those never come back
            values.update({k: v for k, v in typed[name].items() if k not in pc.SECRETS[name]})
        providers.append({"name": name, "title": gettext(locale, GATEWAYS[name]),
                          "configured": name in usable, "fields": [
                              {"key": k, "name": f"providers.{name}.{k}", "label": label(k, locale),
                               "value": values.get(k) or "", "secret": k in pc.SECRETS[name], "long": k in LONG}
                              for k in FIELDS[name]]})
    return render(request, "staff/settings/payments.html", ctx(
        actor, "payments", routing=routing, gateway_options=gateway_options,
        methods=[(m, _method_word(m, locale)) for m in methods], providers=providers, mask=pc.MASK, **more),
        status=status)


@router.get("/staff/settings/payments")
async def payments_page(request: Request):
    return _page(request, admin_actor(request))


def _body(stored: dict, **changes: Any) -> MoneySettingsIn:
    """The stored settings with `changes`, as the API would be sent them."""
    keep = {k: stored[k] for k in ("agent_limit", "supervisor_limit", "gateways", "default_gateway", "routes",
                                   "postage_cap")}
    return MoneySettingsIn.model_validate({**keep, **changes})


def _save(request: Request, actor: Actor, changes: dict, target: str) -> dict[str, str]:
    """Saves through the API's own function; {} when saved, else the refusal by field (nothing written)."""
    allowed = pay_settings(request).allowed()
    try:
        with request.app.state.db.transaction() as session:
            body = _body(money.money_settings(session, actor.merchant_id), **changes)
            settings_save.save(session, actor=actor, body=body, allowed=allowed)
            users.record(session, actor, merchant_id=actor.merchant_id, action="payments.save", target=target)
    except AppError as exc:
        locale = locale_of(request)
        labelled = gettext(locale, N_("{label}: {problem}"))
        return {f: labelled.format(label=_routing_label(f, locale), problem=m)
                if f == "default_gateway" or f.startswith("gateways.") else m for f, m in explain(exc, locale).items()}
    return {}


@router.post("/staff/settings/payments")
async def routing_save(request: Request):
    """The default gateway and the gateway per payment method."""
    actor = admin_actor(request)
    locale = locale_of(request)
    form = await posted(request)
    routing = {"default_gateway": text_of(form, "default_gateway", 40), "gateways": {}}
    errors: dict[str, str] = {}
    for key in form.keys():
        if key.startswith("gateways.") and re.fullmatch(r"[a-z0-9_]{1,40}", key[len("gateways."):]):
            value = text_of(form, key, 40)
            if value:
                routing["gateways"][key[len("gateways."):]] = value
    for field, value in [("default_gateway", routing["default_gateway"]),
                         *[(f"gateways.{m}", g) for m, g in routing["gateways"].items()]]:
        if value not in GATEWAYS:
            errors[field] = gettext(locale, NOT_LISTED).format(field=_routing_label(field, locale))
    if not errors:
        errors = _save(request, actor, routing, gettext(locale, N_("Where refunds go")))
    if errors:
        return _page(request, actor, status=422, routing=routing, errors=errors)
    return redirect(request, "/staff/settings/payments", flash="payments_saved")


def _routing_label(field: str, locale: str) -> str:
    if field.startswith("gateways."):
        return _method_word(field[len("gateways."):], locale)
    return gettext(locale, ROUTING_LABELS.get(field, N_("Default gateway")))


@router.post("/staff/settings/payments/{name}")
async def provider_save(name: str, request: Request):
    """One provider's credentials; a blank or masked secret keeps the stored one."""
    actor = admin_actor(request)
    locale = locale_of(request)
    if name not in PROVIDERS:
        return redirect(request, "/staff/settings/payments")
    form = await posted(request)
    typed = {k: str(form.get(f"providers.{name}.{k}") or "").strip()[:9000] for k in FIELDS[name]}
    given = {k: (v or None) if k in pc.SECRETS[name] else v for k, v in typed.items()}
    errors: dict[str, str] = {}
    try:
        MoneySettingsIn.model_validate({"providers": {name: given}})
    except ValidationError as exc:
        for problem in exc.errors():
            key = str(problem["loc"][-1])
            errors[f"providers.{name}.{key}"] = gettext(locale, TOO_LONG).format(field=label(key, locale))
    if not errors:
        errors = _save(request, actor, {"providers": {name: given}}, gettext(locale, GATEWAYS[name]))
        errors = {f: m[:1].upper() + m[1:] for f, m in errors.items()}  # "private key: …" starts a sentence here
    if errors:
        return _page(request, actor, status=422, typed={name: typed}, errors=errors)
    return redirect(request, "/staff/settings/payments", flash="payments_saved")
