"""Staff accounts, password sign-in (argon2) and API tokens (only their hash is stored)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..caches import CACHES, changed
from ..db import utcnow
from ..errors import AppError, Explained, Unauthenticated
from ..i18n import N_
from ..merchants.models import Merchant
from . import guard, totp
from ..actor import STAFF_ROLES, SYSTEM, Actor
from .models import ApiToken, User

_hasher = PasswordHasher()
# Token look-ups are remembered per process (caches.py "tokens", 5 s): a token revoked or a staff member changed
# anywhere stops working everywhere within caches.CHECK_SECONDS, at once in the process that made the change.
TOKENS = CACHES["tokens"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, email: str, name: str, role: str, merchant_id: int | None,
                password: str | None = None, locale: str = "zh-CN") -> User:
    """Adds a staff member; platform users belong to no merchant, everyone else to exactly one."""
    if role not in STAFF_ROLES:
        raise Explained("role", N_("must be one of {roles}"), roles=", ".join(STAFF_ROLES), allowed=list(STAFF_ROLES))
    if (role == "platform") != (merchant_id is None):
        raise Explained("merchant", N_("platform users have no merchant; every other role needs one"))
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Explained("email", N_("{email} is already registered"), email=email)
    user = User(email=email, name=name, role=role, merchant_id=merchant_id, locale=locale,
                password_hash=_hasher.hash(password) if password else None)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, *, user: User, label: str = "", ttl_hours: int | None = None,
                expires: datetime | None = None) -> str:
    """A new bearer token for `user`; the plain token is returned once and never stored."""
    token = "rf_" + secrets.token_urlsafe(32)
    expires = expires or (utcnow() + timedelta(hours=ttl_hours) if ttl_hours else None)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, expires_at=expires))
    session.flush()
    return token


PENDING = "two-factor-pending"  # a password-checked sign-in waiting for its code; not a usable token
PENDING_MINUTES = 5


@dataclass
class SignedIn:
    user: User
    token: str


@dataclass
class CodeNeeded:
    """The password was right and the account has a second factor: ask for the code, carrying `pending`."""

    pending: str


def attempt_sign_in(db, *, email: str, password: str | None = None, pending: str | None = None,
                    code: str | None = None, client: str, ttl_hours: int,
                    two_steps: bool = False) -> SignedIn | CodeNeeded:
    """Checks a staff sign-in against the throttle, then the password (or a pending sign-in) and the second factor.

    With `two_steps` (the sign-in page) a right password without a code answers CodeNeeded; the API asks for
    the code in the same request instead. Failures are written in their own committed transaction before the refusal is raised, so they count even
    though the sign-in fails; unknown emails cost the same hashing and count the same as known ones.
    """
    now = utcnow()
    keys = [guard.account_key(email), guard.client_key(client)]
    refusal: AppError | None = None
    result: SignedIn | CodeNeeded | None = None
    with db.transaction() as session:
        guard.serialise(session, keys)
        until = guard.locked_until(session, keys, now)
        if until is not None:
            raise guard.TooManySignIns(until, now)
        user = session.scalar(select(User).where(User.email == email.strip().lower(), User.active.is_(True)))
        ok = _first_factor(session, user, password, pending, now)
        if ok and user.totp_enabled:
            if not code:
                if pending is None and two_steps:
                    result = CodeNeeded(issue_token(session, user=user, label=PENDING, ttl_hours=None,
                                                    expires=now + timedelta(minutes=PENDING_MINUTES)))
                else:
                    refusal = Unauthenticated("totp_required", field="code")
            elif not totp.check(user, code, now):
                ok, refusal = False, Unauthenticated("totp_wrong", field="code")
        if result is None and refusal is None and ok:
            guard.reset(session, keys[0])
            _revoke_pending(session, pending)
            result = SignedIn(user, issue_token(session, user=user, label="sign-in", ttl_hours=ttl_hours))
        elif not ok:
            locked = guard.failed(session, {keys[0]: guard.ACCOUNT_LIMIT, keys[1]: guard.CLIENT_LIMIT}, now)
            refusal = refusal or Unauthenticated("bad_credentials")
            if locked is not None:
                _revoke_pending(session, pending)
                if user is not None:
                    from .users import record

                    record(session, SYSTEM, merchant_id=user.merchant_id, action="signin.locked", target=user.email,
                           details={"user_id": user.id, "client": client[:100], "minutes": int(guard.LOCK.seconds // 60)})
                refusal = guard.TooManySignIns(locked, now)
    if refusal is not None:
        raise refusal
    assert result is not None
    return result


def _first_factor(session: Session, user: User | None, password: str | None, pending: str | None, now) -> bool:
    """The password, or the pending sign-in a password opened; the same hashing cost for unknown accounts."""
    if pending is not None:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(pending),
                                                    ApiToken.label == PENDING, ApiToken.revoked.is_(False)))
        return (user is not None and row is not None and row.user_id == user.id and row.expires_at is not None
                and row.expires_at > now)
    if user is None or not user.password_hash:
        _hasher.hash(password or "")  # same cost whether or not the user exists
        return False
    try:
        return _hasher.verify(user.password_hash, password or "")
    except VerificationError:
        return False


def _revoke_pending(session: Session, pending: str | None) -> None:
    if pending is not None:
        session.execute(update(ApiToken).where(ApiToken.token_hash == hash_token(pending), ApiToken.label == PENDING)
                        .values(revoked=True))


def actor_for_token(session_factory, token: str) -> Actor:
    """The actor behind a bearer token, or 401."""
    digest = hash_token(token)
    if CACHES.due():
        with session_factory() as session:
            CACHES.refresh(session)
    hit = TOKENS.peek(digest)
    if hit is not None:
        return hit
    with session_factory() as session:
        row = session.execute(
            select(User, ApiToken, Merchant.settings).join(ApiToken, ApiToken.user_id == User.id)
            .outerjoin(Merchant, Merchant.id == User.merchant_id)
            .where(ApiToken.token_hash == digest, ApiToken.revoked.is_(False), ApiToken.label != PENDING,
                   User.active.is_(True))).first()
    if row is None:
        raise Unauthenticated("unauthenticated")
    user, api_token, merchant_settings = row
    if api_token.expires_at is not None and api_token.expires_at < utcnow():
        raise Unauthenticated("unauthenticated")
    actor = Actor(kind="staff", role=user.role, merchant_id=user.merchant_id, user_id=user.id, name=user.name,
                  must_enroll=not user.totp_enabled and totp.required(user.role, merchant_settings))
    TOKENS.put(digest, actor, user.merchant_id)
    return actor


def revoke(session: Session, *, token: str) -> bool:
    """Revokes a token; true if it existed."""
    api_token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if api_token is None:
        return False
    api_token.revoked = True
    TOKENS.drop(api_token.token_hash)
    changed(session, "tokens", session.scalar(select(User.merchant_id).where(User.id == api_token.user_id)))
    return True


def forget_user(session: Session, user_id: int) -> None:
    """A change to what a staff member may do: their merchant's remembered tokens are dropped, here at once and in
    every other process within caches.CHECK_SECONDS (the bump commits with the change)."""
    changed(session, "tokens", session.scalar(select(User.merchant_id).where(User.id == user_id)))


def forget_tokens(hashes: list[str]) -> None:
    """Drops tokens from this process's look-up cache (callers in a transaction use forget_user, which reaches
    every process)."""
    for digest in hashes:
        TOKENS.drop(digest)
