"""Orders pushed by a signed webhook: a shop platform sends the body of POST /api/v1/orders to
POST /api/v1/orders/signed/<merchant code>, signed with the merchant's secret instead of a bearer token.

Headers: `X-Returnflow-Timestamp` (Unix seconds), `X-Returnflow-Signature: sha256=<hex>` where the hex is
HMAC-SHA256(secret, "<timestamp>." + raw body), and optionally `X-Returnflow-Delivery` (the sender's id of this
push). A push older or newer than the tolerance, with a wrong signature, or seen before (same signature or same
delivery id) is refused and nothing is written.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_
from .models import OrderHookKey, OrderHookSeen

TOLERANCE = timedelta(minutes=5)


def new_secret() -> str:
    return "ohsec_" + secrets.token_urlsafe(32)


def _refuse(code: str, text: str, /, status: int = 401) -> Explained:
    return Explained(None, text, code=code, status=status)


def expected(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(session: Session, merchant_id: int, *, timestamp: str | None, signature: str | None,
           delivery: str | None, body: bytes, now: datetime) -> None:
    """Checks the push and remembers it (in the caller's transaction); raises 401 or 409 in both languages."""
    secret = session.scalar(select(OrderHookKey.secret).where(OrderHookKey.merchant_id == merchant_id))
    if secret is None:
        raise _refuse("signed_push_off", N_("This shop takes no signed order pushes: an admin creates the signing "
                                            "secret first (POST /api/v1/order-signing-secret)."))
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise _refuse("signature_timestamp", N_("The X-Returnflow-Timestamp header (Unix seconds) is missing."))
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE.total_seconds():
        raise _refuse("signature_stale", N_("The push is too old or dated in the future (more than 5 minutes from "
                                            "our clock): sign it again with the current time."))
    given = (signature or "").removeprefix("sha256=").strip().lower()
    if not given or not hmac.compare_digest(given, expected(secret, timestamp, body)):
        raise _refuse("signature_invalid", N_("The signature does not match this body and timestamp with the shop's "
                                              "secret: nothing was saved."))
    delivery = (delivery or "").strip()[:100] or None
    seen = or_(OrderHookSeen.signature == given, OrderHookSeen.delivery == delivery) if delivery else \
        OrderHookSeen.signature == given
    if session.scalar(select(OrderHookSeen.id).where(OrderHookSeen.merchant_id == merchant_id, seen)) is not None:
        raise _refuse("push_replayed", N_("This push was already received (same signature or delivery id): it is "
                                          "not applied twice."), status=409)
    # What is older than the tolerance cannot come back (its timestamp would be refused): forgotten.
    session.execute(delete(OrderHookSeen).where(OrderHookSeen.merchant_id == merchant_id,
                                                OrderHookSeen.at < now - 2 * TOLERANCE))
    session.add(OrderHookSeen(merchant_id=merchant_id, signature=given, delivery=delivery, at=now))
    session.flush()  # a concurrent twin fails here on the unique keys (409), before the order is written


def rotate(session: Session, merchant_id: int, now: datetime) -> str:
    row = session.scalar(select(OrderHookKey).where(OrderHookKey.merchant_id == merchant_id))
    if row is None:
        row = OrderHookKey(merchant_id=merchant_id, secret="", created_at=now)
        session.add(row)
    row.secret, row.created_at = new_secret(), now
    return row.secret
