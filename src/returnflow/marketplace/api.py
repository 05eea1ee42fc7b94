"""API: a merchant's marketplace connectors, a pull on demand, the synced requests staff must look at (waiting for
their order, or in conflict) and settling a conflict."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from ..actor import Actor
from ..cases.models import Case
from ..merchants.scope import resolve_merchant
from ..db import utcnow
from ..errors import Forbidden
from ..fields import RowId
from ..outbound import Allowed
from ..web import DB, CurrentActor, mutate
from . import push, settings
from .models import MarketplaceConnector, MarketplacePush, MarketplaceRequest
from .sync import pull

router = APIRouter(tags=["marketplace"])
ADMINS = ("admin", "supervisor", "platform")
STAFF = ("agent", "warehouse", "finance", "supervisor", "admin", "platform")
DECIDERS = ("agent", "supervisor", "admin")


def _only(actor: Actor, roles: tuple[str, ...], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=list(roles))


def _allowed(request: Request) -> Allowed:
    return Allowed.parse(request.app.state.settings.outbound_allowed_hosts)


class ConnectorBody(settings.ConnectorIn):
    merchant: str | None = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: Literal["desk", "platform"]
    merchant: str | None = None


@router.get("/marketplace/connectors")
async def list_connectors(actor: CurrentActor, db: DB, merchant: str | None = None) -> list[dict]:
    """The merchant's connectors, secrets masked."""
    _only(actor, ADMINS, "read marketplace connectors")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        rows = session.scalars(select(MarketplaceConnector).where(MarketplaceConnector.merchant_id == m.id)).all()
        return [settings.shown(r) for r in rows]


@router.put("/marketplace/connectors/{platform}")
async def put_connector(platform: str, body: ConnectorBody, request: Request, actor: CurrentActor):
    """Sets the merchant's connector to a platform (taobao). Every field is checked before anything is written."""
    _only(actor, ADMINS, "set marketplace connectors")
    allowed = _allowed(request)

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        given = settings.ConnectorIn(**body.model_dump(exclude={"merchant"}))
        return 200, settings.shown(settings.save(session, m.id, platform, given, allowed, utcnow()))

    return await mutate(request, actor, work)


@router.post("/marketplace/connectors/{platform}/pull")
async def pull_now(platform: str, request: Request, actor: CurrentActor, db: DB, merchant: str | None = None) -> dict:
    """Pulls now (as the timer would): what was opened, changed, flagged, and what waits; a platform error is said."""
    _only(actor, ADMINS, "pull from a marketplace")
    with db.read() as session:
        merchant_id = resolve_merchant(session, actor, merchant).id
    result = await run_in_threadpool(pull, db, merchant_id, platform, allowed=_allowed(request))
    return result.as_dict()


def request_dict(r: MarketplaceRequest, number: str | None, pushes: list[MarketplacePush]) -> dict:
    return {"id": r.id, "platform": r.platform, "external_id": r.external_id, "order": r.order_ref,
            "status": r.status, "version": r.version, "created": r.platform_created.isoformat(),
            "modified": r.platform_modified.isoformat(), "case": number, "problem": r.problem, "tries": r.tries,
            "conflict": r.conflict,
            "decisions": [{"decision": p.decision, "status": p.status, "version": p.version, "error": p.error or None}
                          for p in pushes]}


def attention(session, merchant_id: int, which: str = "attention") -> list[dict]:
    """Synced requests: "attention" (in conflict or no case yet), "conflict", "waiting" or "all"; newest first."""
    stmt = (select(MarketplaceRequest, Case.number).outerjoin(Case, Case.id == MarketplaceRequest.case_id)
            .where(MarketplaceRequest.merchant_id == merchant_id)
            .order_by(MarketplaceRequest.platform_modified.desc(), MarketplaceRequest.id.desc()).limit(500))
    if which == "conflict":
        stmt = stmt.where(MarketplaceRequest.conflict.is_not(None))
    elif which == "waiting":
        stmt = stmt.where(MarketplaceRequest.case_id.is_(None))
    rows = session.execute(stmt).all()
    if which == "attention":  # a JSON null and SQL NULL differ by backend: filtered here
        rows = [(r, n) for r, n in rows if r.conflict or r.case_id is None]
    ids = [r.id for r, _ in rows]
    pushes: dict[int, list] = {}
    for p in session.scalars(select(MarketplacePush).where(MarketplacePush.request_id.in_(ids or [0]))
                             .order_by(MarketplacePush.id)):
        pushes.setdefault(p.request_id, []).append(p)
    return [request_dict(r, n, pushes.get(r.id, [])) for r, n in rows]


@router.get("/marketplace/requests")
async def list_requests(actor: CurrentActor, db: DB, merchant: str | None = None,
                        which: Literal["attention", "conflict", "waiting", "all"] = "attention") -> list[dict]:
    """What staff must look at: requests in conflict and requests that are no case yet (with the reason)."""
    _only(actor, STAFF, "read marketplace requests")
    with db.read() as session:
        return attention(session, resolve_merchant(session, actor, merchant).id, which)


@router.post("/marketplace/requests/{request_id}/resolve")
async def resolve_conflict(request_id: RowId, body: ResolveIn, request: Request, actor: CurrentActor):
    """Settles a conflict: keep "desk" (the held decisions go out with the platform's current version) or
    "platform" (they are dropped)."""
    _only(actor, DECIDERS, "settle marketplace conflicts")

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        r = push.resolve(session, m.id, request_id, body.keep, utcnow())
        return 200, {"id": r.id, "external_id": r.external_id, "conflict": None, "kept": body.keep}

    return await mutate(request, actor, work)
