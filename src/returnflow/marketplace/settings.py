"""A merchant's connector settings: which platform, its app key and secret, the shop's authorisation, the platform's
API address (set by the deployment: nothing in the code points at a public address), the pull schedule.

Secrets (`app_secret`, `session_key`) are kept like the payment providers' (refunds/providers/config.py): the value
itself or `env:RETURNFLOW_MARKET_<NAME>`, naming a variable of the deployment's environment. Reading the settings
shows `••••••` (or the reference), never the value; sending the mask back, or leaving a secret out, keeps it.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_, every
from ..outbound import Allowed, check_url
from .models import MarketplaceConnector
from .taobao import TaobaoConnector

MASK = "••••••"
ENV_PREFIX = "RETURNFLOW_MARKET_"
SECRETS = ("app_secret", "session_key")
PLATFORMS = {"taobao": (N_("Taobao/Tmall"), "taobao-current")}  # (name, policy preset)
PRESET_OF = {name: preset for name, (_name, preset) in PLATFORMS.items()}
LABELS = {"platform": N_("platform"), "app_key": N_("app key"), "app_secret": N_("app secret"),
          "session_key": N_("shop authorisation (session)"), "api_url": N_("API address"),
          "every_minutes": N_("pull every (minutes)"), "seller_address_id": N_("return address id on the platform")}


class ConnectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_key: str = Field(min_length=1, max_length=100)
    app_secret: str | None = Field(default=None, max_length=300, description="The value, or env:RETURNFLOW_MARKET_…")
    session_key: str | None = Field(default=None, max_length=300, description="The value, or env:RETURNFLOW_MARKET_…")
    api_url: str = Field(min_length=1, max_length=500, description="The platform's API address, e.g. …/router/rest")
    every_minutes: int = Field(default=10, ge=1, le=1440)
    active: bool = True
    seller_address_id: str | None = Field(default=None, max_length=40)


def _problem(field: str, text: str, **params) -> Explained:
    """A refusal that names the setting in the reader's words before the problem."""
    return Explained(field, N_("{label}: {problem}"), label=every(LABELS[field]), problem=every(text, **params))


def resolve(value: str | None) -> str:
    if value and value.startswith("env:"):
        return os.environ.get(value[4:], "")
    return value or ""


def save(session: Session, merchant_id: int, platform: str, given: ConnectorIn, allowed: Allowed,
         now: datetime) -> MarketplaceConnector:
    """Checks everything before writing; a refusal names the field in both languages (422) and changes nothing."""
    if platform not in PLATFORMS:
        raise _problem("platform", N_("one of {choices}"), choices=", ".join(PLATFORMS))
    check_url(given.api_url, allowed, field="api_url")
    row = session.scalar(select(MarketplaceConnector).where(MarketplaceConnector.merchant_id == merchant_id,
                                                            MarketplaceConnector.platform == platform))
    values = {}
    for name in SECRETS:
        value = getattr(given, name)
        if value in (None, "", MASK):
            value = getattr(row, name) if row is not None else ""
        elif value.startswith("env:") and not re.fullmatch(rf"env:{ENV_PREFIX}[A-Z0-9_]+", value):
            raise _problem(name, N_("an environment reference must name a {prefix}… variable"), prefix=ENV_PREFIX)
        if not value:
            raise _problem(name, N_("is required"))
        values[name] = value
    if given.seller_address_id is not None and not given.seller_address_id.isdigit():
        raise _problem("seller_address_id", N_("digits only (the platform's address number)"))
    if row is None:
        row = MarketplaceConnector(merchant_id=merchant_id, platform=platform, created_at=now, next_pull_at=now,
                                   last_error="")
        session.add(row)
    row.app_key, row.api_url, row.every_minutes, row.active = given.app_key, given.api_url, given.every_minutes, \
        given.active
    row.app_secret, row.session_key = values["app_secret"], values["session_key"]
    row.options = {**(row.options or {}), **({"seller_address_id": given.seller_address_id}
                                              if given.seller_address_id is not None else {})}
    if row.next_pull_at is None or row.next_pull_at > now + timedelta(minutes=given.every_minutes):
        row.next_pull_at = now
    session.flush()
    return row


def shown(row: MarketplaceConnector) -> dict:
    title, preset = PLATFORMS[row.platform]
    return {"platform": row.platform, "name": every(title), "preset": preset,
            "app_key": row.app_key, "api_url": row.api_url, "every_minutes": row.every_minutes, "active": row.active,
            **{name: (getattr(row, name) if getattr(row, name).startswith("env:") else MASK)
               for name in SECRETS if getattr(row, name)},
            "seller_address_id": (row.options or {}).get("seller_address_id"),
            "cursor": row.cursor.isoformat() if row.cursor else None,
            "last_pull_at": row.last_pull_at.isoformat() if row.last_pull_at else None,
            "next_pull_at": row.next_pull_at.isoformat() if row.next_pull_at else None,
            "last_error": row.last_error or None}


def connector_for(row, allowed: Allowed, timeout: float = 10.0) -> TaobaoConnector:
    """The platform's connector for a stored row (secrets resolved now, so a rotated variable takes effect)."""
    return TaobaoConnector(api_url=row.api_url, app_key=row.app_key, app_secret=resolve(row.app_secret),
                           session_key=resolve(row.session_key), allowed=allowed, timeout=timeout,
                           options=dict(row.options or {}))
