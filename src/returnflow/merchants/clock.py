"""The merchant's one clock and language: the time zone every date a shopper or its staff read is in (case and
refund numbers, pages, vouchers, deadlines, imports), and the default language its words fall back to.

The time zone's source of truth is the `timezone` of the merchant's SLA settings (the settings page edits it;
Asia/Shanghai when the merchant never set one). Both answers are remembered per process (caches.py "merchant_zone",
"merchant_language"): saving the settings anywhere drops them everywhere within caches.CHECK_SECONDS, at once in the
process that saved.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..caches import CACHES, forget
from .models import Merchant, SlaSettings

DEFAULT_ZONE = "Asia/Shanghai"  # merchants set up before countries were asked keep this (sla.settings.DEFAULTS)

_SETTINGS = select(SlaSettings.settings).where(SlaSettings.merchant_id == bindparam("merchant_id"))


def zone_of(session: Session, merchant_id: int | None) -> ZoneInfo:
    """The merchant's time zone (Asia/Shanghai for no merchant, or one that set none or an unknown one)."""
    if merchant_id is None:
        return ZoneInfo(DEFAULT_ZONE)
    return CACHES["merchant_zone"].get(session, merchant_id, lambda: _zone(session, merchant_id), merchant_id)


def _zone(session: Session, merchant_id: int) -> ZoneInfo:
    settings = session.connection().execute(_SETTINGS, {"merchant_id": merchant_id}).scalar()
    try:
        return ZoneInfo((settings or {}).get("timezone") or DEFAULT_ZONE)
    except (KeyError, ValueError, TypeError, ZoneInfoNotFoundError):
        return ZoneInfo(DEFAULT_ZONE)


def forget_zone(merchant_id: int | None = None) -> None:
    """Drops the remembered zone (of one merchant, or all) in this process (sla.settings.save already did)."""
    forget("merchant_zone", merchant_id)


def language_of(session: Session, merchant_id: int) -> str | None:
    """The merchant's default language, remembered per process (caches.py "merchant_language"; merchants/api.py
    drops it when the language is changed, everywhere within caches.CHECK_SECONDS)."""
    return CACHES["merchant_language"].get(session, merchant_id, lambda: session.scalar(
        select(Merchant.default_locale).where(Merchant.id == merchant_id)), merchant_id)
