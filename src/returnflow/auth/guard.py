"""The staff sign-in throttle, held in the database so every server process sees the same counts.

Failures are counted per account (the email as typed, whether or not it exists, so a lock says nothing about which
accounts exist) and per requester (client address). Reaching a limit within the window locks password sign-in for
that key; a successful sign-in resets the account's count, and an admin can unlock an account.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from ..errors import AppError
from .models import SignInFailure

WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)  # at least WINDOW, so the failures that caused a lock have aged out when it ends
ACCOUNT_LIMIT = 5
CLIENT_LIMIT = 30  # several people may sign in from one office address


class TooManySignIns(AppError):
    """429: sign-in is locked for this account or address; says how many minutes to wait."""

    status = 429

    def __init__(self, until: datetime, now: datetime) -> None:
        self.retry_after = max(int(math.ceil((until - now).total_seconds())), 1)
        super().__init__("too_many_sign_ins", minutes=max(int(math.ceil(self.retry_after / 60)), 1))


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:200]


def client_key(client: str) -> str:
    return "client:" + (client or "unknown")[:200]


def serialise(session: Session, keys: list[str]) -> None:
    """On PostgreSQL, one sign-in at a time per key (in key order: no deadlock), so parallel guesses cannot all
    read the count below the limit; SQLite already serialises writers."""
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted(keys):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def locked_until(session: Session, keys: list[str], now: datetime) -> datetime | None:
    """When the latest lock on any of `keys` ends, or None when sign-in is open."""
    return session.scalar(select(func.max(SignInFailure.locked_until)).where(
        SignInFailure.key.in_(keys), SignInFailure.locked_until > now))


def failed(session: Session, limits: dict[str, int], now: datetime) -> datetime | None:
    """Counts one failure under each key; returns when the lock ends if this failure reached a limit."""
    until = None
    for key, limit in limits.items():
        count = session.scalar(select(func.count()).select_from(SignInFailure).where(
            SignInFailure.key == key, SignInFailure.created_at > now - WINDOW)) or 0
        lock = now + LOCK if count + 1 >= limit else None
        session.add(SignInFailure(key=key, created_at=now, locked_until=lock))
        if lock is not None:
            until = lock
    session.flush()
    return until


def reset(session: Session, key: str) -> int:
    """Forgets the failures and locks under `key` (a successful sign-in, an admin's unlock); returns how many."""
    return session.execute(delete(SignInFailure).where(SignInFailure.key == key)).rowcount or 0


def is_locked(session: Session, email: str, now: datetime) -> bool:
    return locked_until(session, [account_key(email)], now) is not None
