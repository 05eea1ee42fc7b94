"""Idempotency-Key: the first result of a mutating call is stored in the same transaction and replayed on retry."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import String, UniqueConstraint, bindparam, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, UTCDateTime, utcnow
from .errors import Conflict


class IdempotencyRecord(Base):
    """The first result of a mutating call made with an Idempotency-Key; a retry gets it back."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
