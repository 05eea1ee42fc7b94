"""Which merchant an action is for: the actor's own, or the one a platform actor names (by its code)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..caches import CACHES
from ..errors import Forbidden, InvalidInput, NotFound
from .models import Merchant


def resolve_merchant(session: Session, actor: Actor, code: str | None) -> Merchant:
    """The merchant an action is for: the actor's own, or the one a platform actor names."""
    if actor.merchant_id is not None:
        merchant = session.get(Merchant, actor.merchant_id)
        if code is not None and merchant is not None and code != merchant.code:
            raise Forbidden("forbidden_merchant", field="merchant")
        assert merchant is not None
        return merchant
    if not code:
        raise InvalidInput("merchant_required", field="merchant")
    merchant = session.scalar(select(Merchant).where(Merchant.code == code))
    if merchant is None:
        raise NotFound("merchant", code, field="merchant")
    return merchant


def merchant_of(session: Session, actor: Actor, code: str | None) -> tuple[int, str]:
    """(id, code) of the merchant an action is for; merchant codes never change, so they are remembered."""
    if actor.merchant_id is not None:
        known = CACHES["merchant_codes"].get(session, actor.merchant_id, lambda: session.scalar(
            select(Merchant.code).where(Merchant.id == actor.merchant_id)), actor.merchant_id)
        if code is not None and code != known:
            raise Forbidden("forbidden_merchant", field="merchant")
        return actor.merchant_id, known
    merchant = resolve_merchant(session, actor, code)
    return merchant.id, merchant.code
