"""The customer portal's session: the signed-in shopper (a cookie holding a one-time code's session), the merchant
whose portal it is, and the shopper's own cases; shared by the portal's pages (portal_pages.py, portal_actions.py,
portal_open.py, policy_words.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..actor import Actor
from ..cases import service
from ..merchants.models import Merchant
from . import portal

SESSION_COOKIE = "rf_portal"
MAX_FILES = 6


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _db(request: Request):
    return request.app.state.db


def _customer(request: Request, session, merchant: Merchant) -> Actor | None:
    return portal.customer_actor(session, merchant=merchant, token=request.cookies.get(SESSION_COOKIE))


def _signin_url(merchant: Merchant) -> str:
    return f"/p/{merchant.code}/"


def _context(merchant: Merchant, actor: Actor | None, **more: Any) -> dict[str, Any]:
    return {"merchant": merchant, "customer": actor, "area": "portal", **more}


def _require_customer(request: Request, session, merchant_code: str) -> tuple[Merchant, Actor]:
    merchant = portal.merchant_by_code(session, merchant_code)
    actor = _customer(request, session, merchant)
    if actor is None:
        raise SignInNeeded(merchant.code)
    return merchant, actor


class SignInNeeded(Exception):
    def __init__(self, merchant_code: str) -> None:
        self.merchant_code = merchant_code


def _own_case(session, actor: Actor, number: str):
    return service.get_case(session, actor=actor, number=number)  # scoped: another customer's case is not found
