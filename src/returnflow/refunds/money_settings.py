"""The merchant's money settings: its payment gateways per method and the refund amount each role may approve."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..merchants.models import Merchant
from ..money import to_minor
from .providers import METHOD_PROVIDER
from .providers.config import missing

DEFAULT_AGENT_LIMIT = Decimal(500)


def money_settings(session: Session, merchant_id: int) -> dict:
    """The merchant's money settings with defaults filled in."""
    raw = (session.scalar(select(Merchant.settings).where(Merchant.id == merchant_id)) or {}).get("money") or {}
    return {"agent_limit": raw.get("agent_limit", {}), "supervisor_limit": raw.get("supervisor_limit", {}),
            "gateways": raw.get("gateways", {}), "default_gateway": raw.get("default_gateway", "manual"),
            "routes": raw.get("routes", {}), "postage_cap": raw.get("postage_cap", {}),
            "providers": raw.get("providers", {})}  # holds secrets: shown only through providers.config.shown


def gateway_for(settings: dict, method: str) -> str:
    """The gateway a payment method's refunds go through: the merchant's choice for the method, else the provider
    that method belongs to when the merchant has configured it (wechat -> WeChat Pay, alipay -> Alipay), else the
    default gateway."""
    if method in settings["gateways"]:
        return settings["gateways"][method]
    provider = METHOD_PROVIDER.get(method)
    if provider and provider in settings["providers"] and not missing(provider, settings["providers"][provider]):
        return provider
    return settings["default_gateway"]


def limit_for(settings: dict, role: str, currency: str) -> int | None:
    """How much `role` may refund at once in `currency` without approval (None: no limit)."""
    if role == "admin":
        return None
    if role == "supervisor":
        value = settings["supervisor_limit"].get(currency)
        return None if value is None else to_minor(value, currency)
    if role == "agent":
        return to_minor(settings["agent_limit"].get(currency, DEFAULT_AGENT_LIMIT), currency)
    return 0
