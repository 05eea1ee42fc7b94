"""One-time codes in the outbox: readable only by the customer they are sent to.

A code travels as a `secret` outbox message. Staff listings show a placeholder in its place, the text of any
failure is scrubbed of it, it is never replayed, and once the message is sent, dead-lettered or past the code's
expiry the code is removed from the row (the portal keeps only a hash of it, in portal_codes).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..cases.models import OutboxMessage
from ..i18n import N_, gettext

SECRET_FIELDS = ("code",)          # the fields of a secret message's `data` that only the customer may read
CODE_PRIORITY = 0                  # sign-in codes are claimed before every other message (default 100)
HIDDEN = N_("one-time code (hidden)")
MASK = "••••••"
EXPIRED = "the one-time code expired before it could be delivered; the customer asks for a new code"


def enqueue_code(session: Session, *, merchant_id: int, payload: dict, now: datetime, expires_at: datetime) -> None:
    """Queues a message that carries a one-time code: first in line, secret, useless (and removed) after expiry."""
    session.add(OutboxMessage(merchant_id=merchant_id, case_id=None, topic="notify", payload=payload, status="pending",
                              attempts=0, available_at=now, created_at=now, priority=CODE_PRIORITY, secret=True,
                              expires_at=expires_at))


def _values(payload: dict) -> list[str]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return []
    return [str(data[k]) for k in SECRET_FIELDS if data.get(k) not in (None, "")]


def redacted(payload: dict) -> dict:
    """The payload as kept after delivery: the code is gone for good."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return {**payload, "data": {**data, **{k: None for k in SECRET_FIELDS if k in data}}, "redacted": True}


def shown(payload: dict, locale: str) -> dict:
    """The payload as staff see it: the code replaced by words saying it is hidden."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    hidden = gettext(locale, HIDDEN)
    return {**payload, "data": {**data, **{k: hidden for k in SECRET_FIELDS if k in data}}}


def scrub(text: str, payload: dict) -> str:
    """`text` (an error, a provider's answer) without the code, should an outside service echo it back."""
    for value in _values(payload):
        text = text.replace(value, MASK)
    return text
