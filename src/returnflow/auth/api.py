"""Sign-in and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from fastapi.responses import Response

from ..merchants.models import Merchant
from ..db import utcnow
from ..web import DB, CurrentActor, error_response
from . import guard, service, totp
from .models import User

router = APIRouter(tags=["auth"])


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=200)
    password: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=20,
                             description="The 6-digit code of the authenticator app, for accounts with two-factor")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/token")
def sign_in(body: SignIn, db: DB, request: Request):
    """Exchanges email and password (and the second factor's code, when set up) for a bearer token.
    Repeated failures lock password sign-in for a while (429 `too_many_sign_ins`, with Retry-After)."""
    ttl = request.app.state.settings.token_ttl_hours
    try:
        done = service.attempt_sign_in(db, email=body.email, password=body.password, code=body.code,
                                       client=client_of(request), ttl_hours=ttl)
    except guard.TooManySignIns as exc:
        response = error_response(request, exc)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return {"token": done.token, "token_type": "bearer", "role": done.user.role, "expires_in_hours": ttl}


@router.delete("/auth/token", status_code=204)
async def sign_out(actor: CurrentActor, db: DB, request: Request):
    """Revokes the bearer token this request was made with."""
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
                "merchant": merchant.code if merchant else None,
                "two_factor": bool(user and user.totp_enabled), "two_factor_required": actor.must_enroll}


@router.post("/auth/two-factor")
async def two_factor_begin(actor: CurrentActor, db: DB) -> dict:
    """Starts setting up the second factor: a new secret as an otpauth URI (and QR code), shown this once.
    Calling it again before confirming replaces the secret; once confirmed it answers 409."""
    with db.transaction() as session:
        return totp.begin(session.get(User, actor.user_id))


class TwoFactorCode(BaseModel):
    code: str = Field(min_length=1, max_length=20, description="The 6-digit code the authenticator app shows")


@router.post("/auth/two-factor/confirm")
async def two_factor_confirm(body: TwoFactorCode, actor: CurrentActor, db: DB) -> dict:
    """Turns the second factor on once a current code proves the app holds the secret."""
    with db.transaction() as session:
        user = session.get(User, actor.user_id)
        totp.confirm(user, body.code, utcnow())
        service.forget_user(session, user.id)
    return {"two_factor": True}

