"""The customer portal's JSON API: what a signed-in customer (the portal session cookie, as on the pages) may read
of their own case's conversation — the messages shown to them and the plans proposed to them. Internal messages
are never read here at all (cases/visibility.py). Under /api/v1, so errors come back as JSON in the caller's
language."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..cases import plans, service
from ..cases.conversation_schemas import message_dict, plan_dict
from ..cases.messages import messages_of
from ..errors import Worded
from ..i18n import N_
from ..web import DB, JSON
from . import portal
from .portal_session import SESSION_COOKIE

router = APIRouter(tags=["portal"])
SIGN_IN = N_("Sign in on the shop's portal first: there is no portal session, or it has ended.")
NO_SESSION = {401: {"description": "No portal session: sign in on the portal (the `rf_portal` cookie)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
STAFF_ONLY = ("proposed_by", "answered_by")  # staff references stay with staff


def _customer_case(request: Request, session, merchant_code: str, number: str):
    merchant = portal.merchant_by_code(session, merchant_code)
    actor = portal.customer_actor(session, merchant=merchant, token=request.cookies.get(SESSION_COOKIE))
    if actor is None:
        raise Worded("unauthenticated", SIGN_IN, status=401)
    return service.get_case(session, actor=actor, number=number)  # scoped: another customer's case is not found


@router.get("/portal/{merchant_code}/cases/{number}/messages", responses=NO_SESSION)
async def customer_messages(merchant_code: str, number: str, request: Request, db: DB) -> list[dict]:
    """The messages of the signed-in customer's case that are shown to them, oldest first (signed in with the
    portal session cookie `rf_portal`; internal messages are never included)."""
    with db.read() as session:
        case = _customer_case(request, session, merchant_code, number)
        return JSON([message_dict(m) for m in messages_of(session, case.id, customer=True)])


@router.get("/portal/{merchant_code}/cases/{number}/plans", responses=NO_SESSION)
async def customer_plans(merchant_code: str, number: str, request: Request, db: DB) -> list[dict]:
    """The plans proposed to the signed-in customer on their case, oldest first (portal session cookie)."""
    with db.read() as session:
        case = _customer_case(request, session, merchant_code, number)
        return JSON([{k: v for k, v in plan_dict(p).items() if k not in STAFF_ONLY}
                     for p in plans.plans_of(session, case.id)])
