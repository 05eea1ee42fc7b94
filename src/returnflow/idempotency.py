"""Idempotency-Key: the first result of a mutating call is stored in the same transaction and replayed on retry."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from .cases.models import IdempotencyRecord
from .errors import Conflict


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def recall(session: Session, *, scope: str, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored result for this key, or None; the same key with another request is refused."""
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                            IdempotencyRecord.key == key))
    if record is not None and record.request_hash != digest:
        raise Conflict("idempotency_mismatch", status=422, field="Idempotency-Key", key=key)
    return record


def remember(session: Session, *, scope: str, key: str, digest: str, status_code: int, response: dict) -> None:
    session.add(IdempotencyRecord(scope=scope, key=key, request_hash=digest, status_code=status_code,
                                  response=response))
