"""Staff accounts, password sign-in (argon2) and API tokens (only their hash is stored)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import Explained, Unauthenticated
from .actor import STAFF_ROLES, Actor
from .models import ApiToken, User

_hasher = PasswordHasher()
# Token look-ups are cached briefly per process; a revoked token stops working within this many seconds.
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, Actor]] = {}
_cache_lock = threading.Lock()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, email: str, name: str, role: str, merchant_id: int | None,
                password: str | None = None, locale: str = "zh-CN") -> User:
    """Adds a staff member; platform users belong to no merchant, everyone else to exactly one."""
    if role not in STAFF_ROLES:
        raise Explained("role", f"must be one of {', '.join(STAFF_ROLES)}", f"必须是以下之一：{', '.join(STAFF_ROLES)}",
                        allowed=list(STAFF_ROLES))
    if (role == "platform") != (merchant_id is None):
        raise Explained("merchant", "platform users have no merchant; every other role needs one",
                        "平台用户不属于任何商家；其他角色必须指定商家")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Explained("email", f"{email} is already registered", f"{email} 已被注册")
    user = User(email=email, name=name, role=role, merchant_id=merchant_id, locale=locale,
                password_hash=_hasher.hash(password) if password else None)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, *, user: User, label: str = "", ttl_hours: int | None = None) -> str:
    """A new bearer token for `user`; the plain token is returned once and never stored."""
    token = "rf_" + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=ttl_hours) if ttl_hours else None
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, expires_at=expires))
    session.flush()
    return token


def sign_in(session: Session, *, email: str, password: str, ttl_hours: int) -> tuple[User, str]:
    """Checks the password and returns a fresh session token."""
    user = session.scalar(select(User).where(User.email == email, User.active.is_(True)))
    if user is None or not user.password_hash:
        _hasher.hash(password)  # same cost whether or not the user exists
        raise Unauthenticated("bad_credentials")
    try:
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        raise Unauthenticated("bad_credentials") from None
    return user, issue_token(session, user=user, label="sign-in", ttl_hours=ttl_hours)


def actor_for_token(session_factory, token: str) -> Actor:
    """The actor behind a bearer token, or 401."""
    digest = hash_token(token)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(digest)
    if hit and hit[0] > now:
        return hit[1]
    with session_factory() as session:
        row = session.execute(select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == digest, ApiToken.revoked.is_(False), User.active.is_(True))).first()
    if row is None:
        raise Unauthenticated("unauthenticated")
    user, api_token = row
    if api_token.expires_at is not None and api_token.expires_at < utcnow():
        raise Unauthenticated("unauthenticated")
    actor = Actor(kind="staff", role=user.role, merchant_id=user.merchant_id, user_id=user.id, name=user.name)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (now + CACHE_SECONDS, actor)
    return actor


def revoke(session: Session, *, token: str) -> bool:
    """Revokes a token; true if it existed."""
    api_token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if api_token is None:
        return False
    api_token.revoked = True
    with _cache_lock:
        _cache.pop(api_token.token_hash, None)
    return True


def forget_tokens(hashes: list[str]) -> None:
    """Drops revoked tokens from this process's look-up cache, so they stop working here at once."""
    with _cache_lock:
        for digest in hashes:
            _cache.pop(digest, None)
