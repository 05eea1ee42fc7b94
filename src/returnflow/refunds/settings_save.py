"""Saving a merchant's money settings: the one function the API (PUT /money/settings) and the staff console's
Settings → Payments both call, so that both check the same way. Refusals name the field (Explained)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import Forbidden
from ..merchants.models import Merchant
from ..money import MoneyError, to_minor
from ..outbound import Allowed
from . import money_settings, refusal
from .gateways import GATEWAYS
from .providers import config as provider_config
from .providers import routes as provider_routes
from .schemas import MoneySettingsIn
from ..i18n import N_


def save(session: Session, *, actor: Actor, body: MoneySettingsIn, allowed: Allowed) -> dict:
    """Checks and stores the merchant's money settings (admin); answers them with secrets masked."""
    if actor.role != "admin" or actor.merchant_id is None:
        raise Forbidden("forbidden_role", role=actor.role, what="change money settings", allowed=["admin"])
    chosen = [("default_gateway", body.default_gateway), *[(f"gateways.{k}", v) for k, v in body.gateways.items()],
              *[(f"routes.{k}", v) for k, v in body.routes.items()]]
    for field, value in chosen:
        if value not in GATEWAYS:
            raise refusal.refuse(field, N_("'{value}' is not a gateway; allowed: {GATEWAYS}"), value=value,
                                 GATEWAYS=', '.join(GATEWAYS))
    for name in ("agent_limit", "supervisor_limit", "postage_cap"):
        for currency, value in getattr(body, name).items():
            try:
                if to_minor(value, currency) < 0:
                    raise MoneyError(N_("must not be negative"))
            except MoneyError as exc:
                raise refusal.refuse(f"{name}.{currency}", exc.text, **exc.values) from None
    for route in body.routes:
        if route in ("original", "balance"):
            raise refusal.refuse(f"routes.{route}", N_("is built in"))
    stored = money_settings.money_settings(session, actor.merchant_id)["providers"]
    providers = provider_routes.to_store(body.providers, stored, allowed, chosen)
    value = {"agent_limit": {k: str(v) for k, v in body.agent_limit.items()},
             "supervisor_limit": {k: str(v) for k, v in body.supervisor_limit.items()},
             "gateways": body.gateways, "default_gateway": body.default_gateway, "routes": body.routes,
             "postage_cap": {k: str(v) for k, v in body.postage_cap.items()}, "providers": providers}
    merchant = session.get(Merchant, actor.merchant_id)
    merchant.settings = {**(merchant.settings or {}), "money": value}
    session.flush()
    return {**value, "providers": provider_config.shown(providers)}
