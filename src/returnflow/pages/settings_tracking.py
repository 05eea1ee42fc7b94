"""Settings → Tracking and pickup (admins): the tracking aggregator (Kuaidi100) and its credentials (masked; a
blank field keeps the stored one), whether shoppers may book a courier pickup and who pays it, and the shop's own
hook URLs per provider to copy into each provider's console (secrets in the URL: admins only), with a button that
makes new ones. Everything goes through logistics.tracking_settings.save, as PUT /logistics/settings/tracking."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ..auth import users
from ..actor import Actor
from ..errors import AppError
from ..logistics import tracking_settings as ts
from ..logistics.hooks_api import TrackingSettingsSave
from .frame import FLASH, N_, gettext, locale_of, redirect
from .settings_pages import AUDIT_ACTIONS, admin_actor, ctx, explain, posted, render, text_of

router = APIRouter(include_in_schema=False)
FLASH.update({"tracking_settings_saved": N_("The tracking and pickup settings were saved."),
              "hooks_rotated": N_("New hook URLs were made; the old ones no longer work. Give the new ones to "
                                  "each provider.")})
AUDIT_ACTIONS.update({"tracking.save": N_("Tracking and pickup settings saved"),
                      "tracking.rotate": N_("Tracking hook URLs replaced")})

AGGREGATORS = {"none": N_("None (staff enter tracking updates by hand)"), "kuaidi100": N_("Kuaidi100")}
PAYERS = {"SHIPPER": N_("The sender (the shopper) pays the courier"),
          "CONSIGNEE": N_("The shop pays on delivery (freight collect)"),
          "MONTHLY": N_("The shop's monthly account with the carrier")}
HOOKS = {"kuaidi100": N_("Kuaidi100"), "aftership": N_("AfterShip"), "generic": N_("Other aggregators (plain JSON)"),
         "correios": N_("Correios (Brazil)")}
SECRET_LABELS = {"kuaidi100_key": N_("Kuaidi100 authorisation key"), "kuaidi100_customer": N_("Kuaidi100 customer id"),
                 "kuaidi100_secret": N_("Kuaidi100 pickup (merchant shipping) secret"),
                 "aftership_secret": N_("AfterShip webhook secret")}
LABELS = {"provider": N_("Tracking aggregator"), "pickup_payment": N_("Who pays a pickup"), **SECRET_LABELS}
NOT_LISTED = N_("{field}: choose from the list.")
TOO_LONG = N_("{field}: this text is too long.")
CONFIRM = N_("Tick the box to confirm: the old hook URLs stop working at once.")


def _options(table: dict[str, str], locale: str) -> list[tuple[str, str]]:
    return [(k, gettext(locale, v)) for k, v in table.items()]


def _page(request: Request, actor: Actor, *, status: int = 200, typed: dict | None = None, **more: Any):
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        view = ts.view(session, actor.merchant_id)
    values = {k: view[k] for k in ("provider", "pickup_enabled", "pickup_payment")}
    values.update(typed or {})
    base = str(request.base_url).rstrip("/")
    hooks = [(gettext(locale, HOOKS.get(p, p)), p, base + path) for p, path in view["hooks"].items()]
    secrets = [(k, gettext(locale, SECRET_LABELS[k]), view.get(k) or "") for k in ts.SECRETS]
    return render(request, "staff/settings/tracking.html", ctx(
        actor, "tracking", values=values, secrets=secrets, hooks=hooks,
        aggregators=_options(AGGREGATORS, locale), payers=_options(PAYERS, locale), **more), status=status)


@router.get("/staff/settings/tracking")
async def tracking_page(request: Request):
    return _page(request, admin_actor(request))


def _store(request: Request, actor: Actor, data: dict, action: str) -> dict[str, str]:
    try:
        with request.app.state.db.transaction() as session:
            ts.save(session, actor=actor, data=data)
            users.record(session, actor, merchant_id=actor.merchant_id, action=action,
                         target=gettext(locale_of(request), N_("Tracking and pickup")))
    except AppError as exc:
        return explain(exc, locale_of(request))
    return {}


@router.post("/staff/settings/tracking")
async def tracking_save(request: Request):
    actor = admin_actor(request)
    locale = locale_of(request)
    form = await posted(request)
    typed = {"provider": text_of(form, "provider", 40), "pickup_payment": text_of(form, "pickup_payment", 40),
             "pickup_enabled": form.get("pickup_enabled") == "on"}
    data: dict[str, Any] = dict(typed)
    data.update({k: str(form.get(k) or "").strip()[:400] or None for k in ts.SECRETS})
    errors: dict[str, str] = {}
    for name, table in (("provider", AGGREGATORS), ("pickup_payment", PAYERS)):
        if typed[name] not in table:
            errors[name] = gettext(locale, NOT_LISTED).format(field=gettext(locale, LABELS[name]))
    if not errors:
        try:
            TrackingSettingsSave.model_validate(data)
        except ValidationError as exc:
            for problem in exc.errors():
                key = str(problem["loc"][-1])
                errors[key] = gettext(locale, TOO_LONG).format(field=gettext(locale, LABELS.get(key, key)))
    if not errors:
        errors = _store(request, actor, data, "tracking.save")
    if errors:
        return _page(request, actor, status=422, typed=typed, errors=errors)
    return redirect(request, "/staff/settings/tracking", flash="tracking_settings_saved")


@router.post("/staff/settings/tracking/rotate")
async def hooks_rotate(request: Request):
    """New hook URLs (every old one stops working): only with the box ticked."""
    actor = admin_actor(request)
    form = await posted(request)
    if form.get("confirm") != "yes":
        return _page(request, actor, status=422, errors={"confirm": CONFIRM})
    errors = _store(request, actor, {"rotate_hooks": True}, "tracking.rotate")
    if errors:
        return _page(request, actor, status=422, errors=errors)
    return redirect(request, "/staff/settings/tracking", flash="hooks_rotated")
