"""The archive of a closed case, as one ZIP download."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..errors import Explained, Forbidden
from ..i18n import N_
from ..web import current_actor
from ..pages import customer_copy
from .archive import build

router = APIRouter(tags=["audit"])
READERS = ("agent", "finance", "supervisor", "admin", "platform")
COPIES = {"staff": build, "customer": customer_copy.build}


@router.get("/cases/{number}/archive", response_class=Response,
            responses={200: {"description": "The archive", "content": {"application/zip": {}}}})
async def archive(number: str, request: Request, copy: str = Query("staff", pattern="^(staff|customer)$")):
    """A closed case's archive (归档): PDF summary (zh-CN + en), evidence, events with their hash chain, refunds and
    vouchers as JSON, and a manifest of SHA-256 sums, internal items marked. `copy=customer`: the customer's copy
    instead, with only what the customer may see (the same file the customer downloads in the portal)."""
    actor = await current_actor(request)
    if actor.role not in READERS:
        raise Forbidden("forbidden_role", role=actor.role, what="download an archive", allowed=list(READERS))
    if copy not in COPIES:
        raise Explained("copy", N_("choose 'staff' (everything, internal items marked) or 'customer' (what the "
                                   "customer may see)"), allowed=list(COPIES))
    db, store = request.app.state.db, request.app.state.store
    builder = COPIES[copy]

    def work() -> bytes:
        with db.read() as session:
            return builder(session, store, actor=actor, number=number)

    data = await run_in_threadpool(work)
    suffix = "-customer" if copy == "customer" else ""
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{number}{suffix}.zip"'})
