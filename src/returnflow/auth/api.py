"""Sign-in and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..merchants.models import Merchant
from ..web import DB, CurrentActor
from . import service
from .models import User

router = APIRouter(tags=["auth"])


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=200)
    password: str = Field(min_length=1, max_length=200)


@router.post("/auth/token")
def sign_in(body: SignIn, db: DB, request: Request) -> dict:
    """Exchanges email and password for a bearer token."""
    ttl = request.app.state.settings.token_ttl_hours
    with db.transaction() as session:
        user, token = service.sign_in(session, email=body.email, password=body.password, ttl_hours=ttl)
        return {"token": token, "token_type": "bearer", "role": user.role, "expires_in_hours": ttl}


@router.delete("/auth/token", status_code=204)
async def sign_out(actor: CurrentActor, db: DB, request: Request):
    """Revokes the bearer token this request was made with."""
    from fastapi.responses import Response

    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    with db.transaction() as session:
        service.revoke(session, token=token)
    return Response(status_code=204)


@router.get("/me")
async def me(actor: CurrentActor, db: DB) -> dict:
    """The signed-in staff member."""
    with db.read() as session:
        user = session.get(User, actor.user_id)
        merchant = session.get(Merchant, user.merchant_id) if user and user.merchant_id else None
        return {"id": actor.user_id, "name": actor.name, "role": actor.role, "email": user.email if user else None,
                "merchant": merchant.code if merchant else None}
