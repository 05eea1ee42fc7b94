"""Idempotency-Key: the first result of a mutating call is stored in the same transaction and replayed on retry."""

from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from .cases.models import IdempotencyRecord
from .db import utcnow
from .errors import Conflict


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def recall(session: Session, *, scope: str, key: str, digest: str):
    """The stored result for this key, or None; the same key with another request is refused."""
    record = session.connection().execute(_RECALL, {"scope": scope, "key": key}).first()
    if record is not None and record.request_hash != digest:
        raise Conflict("idempotency_mismatch", status=422, field="Idempotency-Key", key=key)
    return record


def remember(session: Session, *, scope: str, key: str, digest: str, status_code: int, response: dict) -> None:
    session.connection().execute(_REMEMBER, {"scope": scope, "key": key, "request_hash": digest,
                                             "status_code": status_code, "response": response, "created_at": utcnow()})


_TABLE = IdempotencyRecord.__table__
_RECALL = select(_TABLE.c.request_hash, _TABLE.c.status_code, _TABLE.c.response).where(
    _TABLE.c.scope == bindparam("scope"), _TABLE.c.key == bindparam("key"))
_REMEMBER = insert(_TABLE)
