"""The workers' API: how far behind they are (beside the SLA endpoints, under the same tag)."""

from __future__ import annotations

from fastapi import APIRouter

from ..merchants.scope import resolve_merchant
from ..errors import Forbidden
from ..web import DB, CurrentActor
from .worker import lag

router = APIRouter(tags=["sla"])
VIEWERS = ("supervisor", "admin", "platform")


@router.get("/sla/worker")
async def worker_lag(actor: CurrentActor, db: DB, merchant: str | None = None) -> dict:
    """How far behind the workers are: due timers, outbox backlog, dead letters. A merchant's staff see their
    merchant's share only; a platform user sees the whole deployment, or one merchant's when it names one."""
    if actor.role not in VIEWERS:
        raise Forbidden("forbidden_role", role=actor.role, what="read SLA data", allowed=list(VIEWERS))
    merchant_id = None
    if actor.merchant_id is not None or merchant:
        with db.read() as session:
            merchant_id = resolve_merchant(session, actor, merchant).id
    return lag(db, merchant_id=merchant_id)
