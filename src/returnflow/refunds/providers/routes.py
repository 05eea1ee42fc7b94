"""The providers' part of the money API: their notification endpoint and their credentials in the money settings
(merged with what is stored, checked, shown masked). Included in refunds.api's router."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ... import outbound
from ...errors import Explained, NotFound
from ...outbound import Allowed
from ...web import JSON
from ..gateways import GatewaySettings
from ...i18n import N_, every
from . import PROVIDERS
from . import config as provider_config
from .notify import notification

router = APIRouter(tags=["money"])


def _pay_settings(request: Request) -> GatewaySettings:
    from ..api import pay_settings

    return pay_settings(request)


@router.post("/money/webhooks/{gateway}/{merchant}")
async def provider_notification(gateway: str, merchant: str, request: Request):
    """WeChat Pay's, Alipay's or Stripe's refund notification for one merchant (by its code); the provider's signature
    is the authentication. WeChat Pay is answered 200 {"code": "SUCCESS"}, Alipay the plain text "success"; anything
    refused is a 4xx (the provider sends it again later)."""
    if gateway not in PROVIDERS:
        raise NotFound("gateway", gateway, field="gateway")
    body = await request.body()
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if gateway == "alipay" else {}
    result = await run_in_threadpool(notification, request.app.state.db, _pay_settings(request), name=gateway,
                                     merchant=merchant, headers={k.lower(): v for k, v in request.headers.items()},
                                     body=body, form=form)
    if gateway == "alipay":
        return Response("success", media_type="text/plain")
    return JSON({"code": "SUCCESS", "message": "成功", **result} if gateway == "wechatpay" else result)


def to_store(given: provider_config.ProvidersIn | None, stored: dict, allowed: Allowed,
             chosen: list[tuple[str, str]]) -> dict:
    """The providers' settings to store: each one given merged with what is stored (secrets kept when masked or
    left out), its keys readable, its address allowed; and every gateway `chosen` ((field, name)) configured.
    Raises Explained naming the field."""
    providers = dict(stored)
    for name, item in (given or provider_config.ProvidersIn()):
        if item is None:
            continue
        try:
            providers[name] = provider_config.merge(name, item, stored.get(name))
        except provider_config.ConfigProblem as exc:
            raise exc.refusal() from None
        if item.api_url:  # called by the desk: checked like every outbound address, when saved
            outbound.check_url(item.api_url, allowed, field=f"providers.{name}.api_url")
    for field, name in chosen:
        if name in PROVIDERS and provider_config.missing(name, providers.get(name)):
            raise Explained(field, N_("{provider} is not configured yet: enter its credentials first"),
                            provider=every(provider_config.NAMES[name]))
    return providers
