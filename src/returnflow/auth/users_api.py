"""The staff accounts API (admins): list, invite, change role, deactivate, and the audit events of those changes."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..merchants.scope import resolve_merchant
from ..web import DB, JSON, CurrentActor, mutate
from . import users

router = APIRouter(tags=["users"])


def _merchant_id(session, actor, merchant: str | None) -> int:
    """The merchant the call is about: an admin's own (naming another is refused), or the one a platform user names."""
    users.check_manager(actor)
    return resolve_merchant(session, actor, merchant).id


@router.get("/users")
async def list_users(actor: CurrentActor, db: DB, merchant: str | None = None,
                     active: bool | None = None) -> JSON:
    """The merchant's staff accounts with role, authority level and whether they are active (admins)."""
    users.check_manager(actor)
    with db.read() as session:
        mid = _merchant_id(session, actor, merchant)
        rows = users.list_users(session, actor=actor, merchant_id=mid)
        return JSON([users.user_dict(u) for u in rows if active is None or u.active == active])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=200)
    name: str = Field(max_length=200)
    role: str = Field(description="agent, warehouse, finance, supervisor or admin")
    locale: str = Field(default="zh-CN", max_length=20, description="A language of the catalogs (GET /api/v1/languages)")
    password: str | None = Field(default=None, max_length=200,
                                 description="At least 10 characters; omit it for a one-time password")
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")


@router.post("/users", status_code=201)
async def invite_user(body: UserCreate, request: Request, actor: CurrentActor):
    """Creates a staff account. Without a password the answer carries a one-time password, shown this once."""
    users.check_manager(actor)
    users.check_new_user(email=body.email.strip().lower(), name=body.name, role=body.role, locale=body.locale,
                         password=body.password)

    def work(session):
        mid = _merchant_id(session, actor, body.merchant)
        user, temporary = users.invite(session, actor=actor, email=body.email, name=body.name, role=body.role,
                                       locale=body.locale, password=body.password, merchant_id=mid)
        result = users.user_dict(user)
        if temporary:
            result["temporary_password"] = temporary
        return 201, result

    return await mutate(request, actor, work)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str | None = None
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=20, description="A language of the catalogs")


@router.patch("/users/{user_id:int}")
async def change_user(body: UserChange, request: Request, actor: CurrentActor, user_id: int = Path(ge=1)):
    """Changes a staff member's role (and so authority level), name or language; a role change revokes their
    tokens, so the new role applies at once. The last active admin cannot lose the role (409 `last_admin`)."""
    users.check_manager(actor)

    def work(session):
        user = users.change(session, actor=actor, user_id=user_id, role=body.role, name=body.name,
                            locale=body.locale)
        return 200, users.user_dict(user)

    return await mutate(request, actor, work)


@router.post("/users/{user_id:int}/deactivate")
async def deactivate_user(request: Request, actor: CurrentActor, user_id: int = Path(ge=1)):
    """Deactivates a staff member: they can no longer sign in and every token of theirs is revoked.
    The last active admin cannot be deactivated (409 `last_admin`)."""
    users.check_manager(actor)

    def work(session):
        return 200, users.user_dict(users.deactivate(session, actor=actor, user_id=user_id))

    return await mutate(request, actor, work)


@router.get("/users/events")
async def user_events(actor: CurrentActor, db: DB, merchant: str | None = None,
                      limit: int = Query(50, ge=1, le=500)) -> JSON:
    """Audit events of staff and settings changes, newest first: who, what, to whom, the details."""
    users.check_manager(actor)
    with db.read() as session:
        mid = _merchant_id(session, actor, merchant)
        return JSON([{"id": e.id, "at": e.created_at, "actor": e.actor_ref, "actor_name": e.actor_name,
                      "action": e.action, "target": e.target, "details": e.details}
                     for e in users.events(session, actor=actor, merchant_id=mid, limit=limit)])


@router.post("/users/{user_id}/unlock")
async def unlock_user(request: Request, actor: CurrentActor, user_id: int = Path(ge=1)):
    """Lifts a sign-in lock after repeated failed sign-ins and forgets the failures (audited as `user.unlock`)."""
    users.check_manager(actor)

    def work(session):
        user, cleared = users.unlock(session, actor=actor, user_id=user_id)
        return 200, {**users.user_dict(user), "failures_cleared": cleared}

    return await mutate(request, actor, work)


@router.post("/users/{user_id}/two-factor/reset")
async def reset_two_factor(request: Request, actor: CurrentActor, user_id: int = Path(ge=1)):
    """Removes a staff member's second factor (a lost phone) and signs them out everywhere; they set it up again."""
    users.check_manager(actor)

    def work(session):
        return 200, users.user_dict(users.reset_two_factor(session, actor=actor, user_id=user_id))

    return await mutate(request, actor, work)


@router.get("/settings/security")
async def get_security(actor: CurrentActor, db: DB, merchant: str | None = None) -> dict:
    """The merchant's sign-in rules: whether admins and finance must use two-factor sign-in (admins)."""
    users.check_manager(actor)
    with db.read() as session:
        return users.security_of(resolve_merchant(session, actor, merchant))


class Security(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_two_factor: bool = Field(description="Admins and finance must set up two-factor sign-in first")


@router.put("/settings/security")
async def put_security(body: Security, request: Request, actor: CurrentActor, merchant: str | None = None):
    """Sets the merchant's sign-in rules (admins); audited as `security.save`."""
    users.check_manager(actor)

    def work(session):
        mid = _merchant_id(session, actor, merchant)
        return 200, users.set_security(session, actor=actor, merchant_id=mid,
                                       require_two_factor=body.require_two_factor)

    return await mutate(request, actor, work)
