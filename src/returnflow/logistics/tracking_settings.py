"""A merchant's tracking and pickup settings (merchants.settings["tracking"]), and the secrets derived from them.

Carriers and aggregators reach the desk at a URL of the merchant's own, `/api/v1/logistics/hooks/{merchant}/
{provider}/{token}`, where `token` is an HMAC of the merchant code and provider under the merchant's hook secret:
no staff token is needed, a token of one merchant or provider opens nothing else, and rotating the secret retires
every old URL at once. Kuaidi100's push salt is derived per tracking number the same way. Secrets are never
answered back (masked) nor logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import Forbidden
from ..merchants.models import Merchant

KEY = "tracking"
PROVIDERS = ("kuaidi100", "aftership", "generic", "correios")
SECRETS = ("kuaidi100_key", "kuaidi100_customer", "kuaidi100_secret", "aftership_secret")
DEFAULTS: dict[str, Any] = {"provider": "none", "kuaidi100_key": "", "kuaidi100_customer": "",
                            "kuaidi100_secret": "", "aftership_secret": "", "pickup_enabled": False,
                            "pickup_payment": "CONSIGNEE", "hook_secret": ""}


_SETTINGS = select(Merchant.__table__.c.settings).where(Merchant.__table__.c.id == bindparam("id"))


def raw(session: Session, merchant_id: int) -> dict[str, Any]:
    """The settings with their secrets (for the server's own use only). Read once per transaction and merchant (a
    derivation batch asks for every case it derives); `save` drops what was read."""
    memo = session.info.setdefault(_MEMO, {})
    values = memo.get(merchant_id)
    if values is None:
        stored = (session.connection().execute(_SETTINGS, {"id": merchant_id}).scalar() or {}).get(KEY) or {}
        values = memo[merchant_id] = {**DEFAULTS, **{k: v for k, v in stored.items() if k in DEFAULTS}}
    return dict(values)  # the caller's own copy (save changes it)


_MEMO = "rf_tracking_settings"


def kuaidi100_ready(values: dict[str, Any]) -> bool:
    return values.get("provider") == "kuaidi100" and bool(values.get("kuaidi100_key"))


def token(hook_secret: str, merchant_code: str, provider: str) -> str:
    return hmac.new(hook_secret.encode(), f"hook:{merchant_code}:{provider}".encode(), hashlib.sha256).hexdigest()[:40]


def token_ok(hook_secret: str, merchant_code: str, provider: str, given: str) -> bool:
    return bool(hook_secret) and hmac.compare_digest(token(hook_secret, merchant_code, provider), given or "")


def salt(hook_secret: str, number: str) -> str:
    """The salt Kuaidi100 signs one tracking number's pushes with (asked for in its subscription)."""
    return hmac.new(hook_secret.encode(), f"kuaidi100-salt:{number}".encode(), hashlib.sha256).hexdigest()[:32]


def hook_path(merchant_code: str, provider: str, hook_secret: str) -> str:
    return f"/api/v1/logistics/hooks/{merchant_code}/{provider}/{token(hook_secret, merchant_code, provider)}"


def _mask(value: str) -> str:
    return f"••••{value[-4:]}" if len(value) > 8 else ("••••" if value else "")


def view(session: Session, merchant_id: int) -> dict[str, Any]:
    """What staff see: secrets masked, and the merchant's hook URLs (paths) to give each provider."""
    values = raw(session, merchant_id)
    code = session.scalar(select(Merchant.code).where(Merchant.id == merchant_id))
    shown = {k: (_mask(v) if k in SECRETS else v) for k, v in values.items() if k != "hook_secret"}
    shown["hooks"] = {p: hook_path(code, p, values["hook_secret"]) for p in PROVIDERS} if values["hook_secret"] else {}
    return shown


def save(session: Session, *, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Changes the given settings (supervisor, admin); a secret left out or empty keeps its value; `rotate_hooks`
    makes a new hook secret (every old hook URL and push salt stops working)."""
    if actor.kind == "customer" or actor.role not in ("supervisor", "admin") or actor.merchant_id is None:
        raise Forbidden("forbidden_role", role=actor.role, what="change the tracking settings",
                        allowed=["supervisor", "admin"])
    merchant = session.get(Merchant, actor.merchant_id)
    current = raw(session, actor.merchant_id)
    for name, value in data.items():
        if name in SECRETS and isinstance(value, str) and value.startswith("••••"):
            continue  # the mask sent back: keep the stored secret
        if name in DEFAULTS and value is not None and not (name in SECRETS and value == ""):
            current[name] = value.strip() if isinstance(value, str) else value
    if data.get("rotate_hooks") or not current["hook_secret"]:
        current["hook_secret"] = secrets.token_hex(24)
    merchant.settings = {**(merchant.settings or {}), KEY: current}
    session.flush()
    session.info.pop(_MEMO, None)
    return view(session, actor.merchant_id)
