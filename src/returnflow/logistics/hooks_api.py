"""Tracking webhooks at each merchant's own secret URL (no staff token), the tracking settings, carrier detection.

`POST /logistics/hooks/{merchant}/{provider}/{token}`:
- `kuaidi100`: form fields `param` and `sign` (MD5 of param + the number's salt); answered with exactly the
  acknowledgement Kuaidi100 expects, or `result: false` (it then delivers again later).
- `aftership`: JSON, with `aftership-hmac-sha256` = base64 HMAC-SHA256 of the raw body under the merchant's
  AfterShip secret; a body whose `ts` is more than TOLERANCE seconds off is stale.
- `generic`, `correios`: JSON as documented in docs/logistics.md (the URL's token is the credential).
Every refusal is logged with the merchant, provider and reason — never a token, signature or secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..errors import Explained
from ..i18n import N_
from ..merchants.models import Merchant
from ..web import DB, CurrentActor, current_actor, locale_of, mutate
from . import adapters, kuaidi100, tracking_settings
from .carriers import CARRIERS, detect_local, normalise_number
from .staff import staff_merchant
from .tracking import ingest_parsed
from .subscriptions import Refused, handle_push

router = APIRouter(tags=["logistics"])
log = logging.getLogger("returnflow.tracking")
TOLERANCE = 300  # seconds an AfterShip-style body's `ts` may be off


class TrackingSettingsSave(BaseModel):
    """The merchant's tracking aggregator, its credentials (write-only), and whether shoppers may book pickups."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(default=None, pattern="^(none|kuaidi100)$",
                                 description="none, or kuaidi100 (return parcels are subscribed)")
    kuaidi100_key: str | None = Field(default=None, max_length=100, description="授权 key (write-only)")
    kuaidi100_customer: str | None = Field(default=None, max_length=100, description="customer (write-only)")
    kuaidi100_secret: str | None = Field(default=None, max_length=100, description="商家寄件 secret (write-only)")
    aftership_secret: str | None = Field(default=None, max_length=200, description="webhook secret (write-only)")
    pickup_enabled: bool | None = Field(default=None, description="Shoppers may book a courier pickup (上门取件)")
    pickup_payment: str | None = Field(default=None, pattern="^(SHIPPER|CONSIGNEE|MONTHLY)$",
                                       description="Who pays the pickup: SHIPPER, CONSIGNEE (到付) or MONTHLY (月结)")
    rotate_hooks: bool = Field(default=False, description="New hook URLs; the old ones stop working at once")


@router.get("/logistics/settings/tracking")
async def tracking_settings_view(actor: CurrentActor, db: DB) -> dict:
    """The tracking settings (secrets masked) and the merchant's hook URLs per provider (supervisor, admin)."""
    merchant_id = staff_merchant(actor, ("supervisor", "admin"), "see the tracking settings")
    with db.read() as session:
        return tracking_settings.view(session, merchant_id)


@router.put("/logistics/settings/tracking")
async def save_tracking_settings(body: TrackingSettingsSave, request: Request):
    """Changes the tracking settings; secrets left out keep their value (supervisor, admin)."""
    actor = await current_actor(request)

    def work(session):
        return 200, tracking_settings.save(session, actor=actor, data=body.model_dump())

    return await mutate(request, actor, work)


@router.get("/tracking/detect")
async def detect_carrier(number: str, actor: CurrentActor, db: DB, request: Request) -> dict:
    """The carriers a tracking number may belong to, likeliest first: Kuaidi100's number recognition where the
    merchant uses it, else (or when it does not answer) the local prefix rules."""
    value = normalise_number(number)
    if not value:
        raise Explained("number", N_("give a tracking number"))
    locale = locale_of(request)
    codes, source = [], "rules"
    values = None
    if actor.merchant_id is not None:
        with db.read() as session:
            values = tracking_settings.raw(session, actor.merchant_id)
    if values and tracking_settings.kuaidi100_ready(values):
        try:
            found = await run_in_threadpool(kuaidi100.autonumber, kuaidi100.Kuaidi100Settings(), number=value,
                                            key=values["kuaidi100_key"])
            codes = list(dict.fromkeys(kuaidi100.BY_COMPANY[c] for c in found if c in kuaidi100.BY_COMPANY))
            source = "kuaidi100" if codes else "rules"
        except kuaidi100.ProviderDown:
            codes = []
    codes = codes or detect_local(value)
    return {"number": value, "source": source,
            "carriers": [{"code": c, "name": CARRIERS[c].name(locale)} for c in codes]}


# ---- the hooks -------------------------------------------------------------------------------------------------

def _refuse(merchant_code: str, provider: str, reason: str) -> None:
    log.warning("tracking hook refused: merchant=%s provider=%s reason=%s", merchant_code[:40], provider[:20], reason)


def _bad_token() -> Explained:
    return Explained("token", N_("this hook address is not valid (wrong or retired token)"), code="bad_hook_token",
                     status=401)


async def _run(request: Request, fn):
    db = request.app.state.db

    def call():
        with db.transaction() as session:
            return fn(session)

    return call() if db.dialect == "sqlite" else await run_in_threadpool(call)


@router.post("/logistics/hooks/{merchant_code}/{provider}/{token}")
async def merchant_hook(merchant_code: str, provider: str, token: str, request: Request):
    """Tracking events from a carrier or aggregator, at the merchant's secret URL (see Settings → Tracking)."""
    db = request.app.state.db
    locale = locale_of(request)
    raw = await request.body()
    with db.read() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == merchant_code))
        values = tracking_settings.raw(session, merchant_id) if merchant_id is not None else None
    known = provider in tracking_settings.PROVIDERS
    if merchant_id is None or not known or not tracking_settings.token_ok(values["hook_secret"], merchant_code,
                                                                          provider, token):
        _refuse(merchant_code, provider, "unknown merchant or provider, or wrong token")
        if provider == "kuaidi100":
            return JSONResponse(kuaidi100.NACK, status_code=401)
        raise _bad_token()
    if provider == "kuaidi100":
        return await _kuaidi100(request, merchant_code, merchant_id, values["hook_secret"], raw, locale)
    if provider == "aftership":
        _check_aftership(request, merchant_code, values.get("aftership_secret") or "", raw)
    body = _json(raw)
    if provider == "aftership":
        ts = body.get("ts") if isinstance(body, dict) else None
        if isinstance(ts, (int, float)) and abs(time.time() - ts) > TOLERANCE:
            _refuse(merchant_code, provider, "stale (ts out of tolerance)")
            raise Explained("ts", N_("the event is older than {seconds} seconds (stale or replayed)"),
                            seconds=TOLERANCE, code="stale_hook", status=401)
    parsed = adapters.parse(provider, body)
    return await _run(request, lambda s: ingest_parsed(s, merchant_id=merchant_id, parsed=parsed, locale=locale))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"")
    except ValueError:
        raise Explained("body", N_("must be JSON"), code="bad_tracking_event") from None


def _check_aftership(request: Request, merchant_code: str, secret: str, raw: bytes) -> None:
    given = request.headers.get("aftership-hmac-sha256") or ""
    expected = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    if not secret or not hmac.compare_digest(expected, given.strip()):
        _refuse(merchant_code, "aftership", "no AfterShip secret set" if not secret else "HMAC does not match")
        raise Explained("aftership-hmac-sha256", N_("the signature does not match the body"), code="bad_signature",
                        status=401)


async def _kuaidi100(request: Request, merchant_code: str, merchant_id: int, hook_secret: str, raw: bytes,
                     locale: str):
    form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    param, sign = (form.get("param") or [""])[0], (form.get("sign") or [""])[0]
    try:
        await _run(request, lambda s: handle_push(s, merchant_id=merchant_id, hook_secret=hook_secret, param=param,
                                                  sign=sign, locale=locale))
    except Refused as refused:
        _refuse(merchant_code, "kuaidi100", refused.reason)
        return JSONResponse(kuaidi100.NACK, status_code=refused.status)
    except Explained as problem:  # a push whose events cannot be read: Kuaidi100 delivers it again later
        _refuse(merchant_code, "kuaidi100", f"unreadable events: {problem}")
        return JSONResponse(kuaidi100.NACK, status_code=400)
    return JSONResponse(kuaidi100.ACK)
