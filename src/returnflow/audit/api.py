"""The archive of a closed case, as one ZIP download."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..errors import Forbidden
from ..web import current_actor
from .archive import build

router = APIRouter(tags=["audit"])
READERS = ("agent", "finance", "supervisor", "admin", "platform")


@router.get("/cases/{number}/archive", response_class=Response,
            responses={200: {"description": "The archive", "content": {"application/zip": {}}}})
async def archive(number: str, request: Request):
    """A closed case's archive (归档): PDF summary (zh-CN + en), evidence, events with their hash chain, refunds and
    vouchers as JSON, and a manifest of SHA-256 sums."""
    actor = await current_actor(request)
    if actor.role not in READERS:
        raise Forbidden("forbidden_role", role=actor.role, what="download an archive", allowed=list(READERS))
    db, store = request.app.state.db, request.app.state.store

    def work() -> bytes:
        with db.read() as session:
            return build(session, store, actor=actor, number=number)

    data = await run_in_threadpool(work)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{number}.zip"'})
