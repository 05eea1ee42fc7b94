"""Who may use a logistics or warehouse desk step: a staff member of the merchant in one of the step's roles."""

from __future__ import annotations

from ..actor import Actor
from ..errors import Explained, Forbidden
from ..i18n import N_


def staff_merchant(actor: Actor, roles: tuple[str, ...], what: str) -> int:
    if actor.kind == "customer" or actor.role not in roles:
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=list(roles))
    if actor.merchant_id is None:
        raise Explained("merchant", N_("use a token of the merchant's own staff for this"), code="merchant_required")
    return actor.merchant_id

