"""Authority over charges to the customer: the part of a charge a person decided (a replacement priced above the
order, advance exchange) is checked against that person's limit like a refund. Above it the charge is recorded as
`awaiting_approval` and no gateway call is queued until an approver whose own limit covers it approves; a rejected
or withdrawn charge takes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ..actor import Actor
from ..auth.models import User
from ..cases import store
from ..db import utcnow
from ..errors import Forbidden, NotFound
from ..flows import last, move
from ..money import fmt
from . import charges, locks
from .models import CustomerCharge
from .money_flows import CUSTOMER_CHARGE
from .money_flows import APPROVERS
from .money_settings import limit_for, money_settings
from .refusal import refuse
from ..i18n import N_

WAITING = "awaiting_approval"
UNAPPROVED = (WAITING, "rejected", "withdrawn")  # states in which a charge takes nothing


def role_of(session: Session, ref: str) -> str:
    """The role of the staff member behind a reference ('user:12'); 'system' for the system."""
    if ref.startswith("user:") and ref[5:].isdigit():
        return session.scalar(select(User.role).where(User.id == int(ref[5:]))) or "unknown"
    return "system"


def needs_approval(session: Session, *, merchant_id: int, currency: str, decided: int, by: str) -> bool:
    """Whether `decided` (minor units a person chose to charge beyond the order's own prices) is above the limit
    of the person `by` (the system decides nothing by itself: 0 needs no one)."""
    if decided <= 0:
        return False
    limit = limit_for(money_settings(session, merchant_id), role_of(session, by), currency)
    return limit is not None and decided > limit


def hold_for_approval(session: Session, row: CustomerCharge, *, decided: int, by: str, at: datetime) -> None:
    """Marks a just-opened charge as waiting for an approver (its gateway call is not queued)."""
    move(session, CUSTOMER_CHARGE, row, "hold_for_approval", by=by, role="system", at=at,
         data={"role": role_of(session, by), "decided": decided})


def _asked(row: CustomerCharge) -> dict:
    """Who put the charge up for approval and what they decided: the event that moved it to awaiting approval."""
    event = last(object_session(row), CUSTOMER_CHARGE.kind, row.id, to=WAITING)
    return {} if event is None else {"by": event.actor, **(event.data or {})}


def _decidable(session: Session, actor: Actor, number: str, what: str) -> CustomerCharge:
    if actor.role not in APPROVERS:
        raise Forbidden("forbidden_role", role=actor.role, what=f"{what} a charge", allowed=list(APPROVERS))
    row = locks.charge_by_number(session, number)
    if row is None or not actor.can_see(row.merchant_id) or actor.kind == "customer":
        raise NotFound("charge", number, field="number")
    if row.state != WAITING:
        raise refuse("state", N_("charge {number} is {state}; only one awaiting approval can be decided"),
                     number=number, state=row.state, code="charge_state", status=409)
    if _asked(row).get("by") == actor.ref:
        raise Forbidden("forbidden_role", role=actor.role, what=f"{what} a charge they decided",
                        allowed=["another approver"])
    return row


def approve(session: Session, *, actor: Actor, number: str, note: str = "") -> CustomerCharge:
    """Applies the charge: its first gateway operation (hold or charge) is queued, once."""
    row = _decidable(session, actor, number, "approve")
    decided = int(_asked(row).get("decided") or row.amount)
    limit = limit_for(money_settings(session, row.merchant_id), actor.role, row.currency)
    if limit is not None and decided > limit:
        raise Forbidden("forbidden_role", role=actor.role,
                        what=f"approve {fmt(decided, row.currency)} {row.currency} (limit {fmt(limit, row.currency)})",
                        allowed=["admin"])
    at = utcnow()
    op = "hold" if row.kind == "hold" else "charge"
    move(session, CUSTOMER_CHARGE, row, f"approve_{op}", by=actor.ref, role=actor.role, at=at,
         data={"role": actor.role, **({"note": note} if note else {})})
    store.enqueue(session, merchant_id=row.merchant_id, case_id=row.case_id, topic=charges.TOPIC, at=at,
                  payload={"charge_id": row.id, "op": op})
    return row


def reject(session: Session, *, actor: Actor, number: str, reason: str) -> CustomerCharge:
    """Nothing is taken from the customer; the reason is kept on the charge."""
    if not reason.strip():
        raise refuse("reason", N_("say why the charge is rejected"))
    row = _decidable(session, actor, number, "reject")
    at = utcnow()
    move(session, CUSTOMER_CHARGE, row, "reject", by=actor.ref, role=actor.role, at=at,
         data={"role": actor.role, "reason": reason.strip()})
    row.last_error = reason.strip()
    return row


def withdraw(row: CustomerCharge, *, at: datetime, why: str) -> None:
    """A charge still awaiting approval that is no longer needed (the original came back)."""
    if row.state == WAITING:
        move(object_session(row), CUSTOMER_CHARGE, row, "withdraw", by="system", role="system", at=at,
             data={"reason": why})


def waiting(session: Session, *, actor: Actor, limit: int = 200) -> list[CustomerCharge]:
    """Charges awaiting approval in the actor's merchant, oldest first."""
    stmt = select(CustomerCharge).where(CustomerCharge.state == WAITING)
    if actor.merchant_id is not None:
        stmt = stmt.where(CustomerCharge.merchant_id == actor.merchant_id)
    return list(session.scalars(stmt.order_by(CustomerCharge.created_at, CustomerCharge.id).limit(limit)))


def may_approve(settings: dict, actor: Actor, row: CustomerCharge) -> str:
    """'' when `actor` may approve `row`, else 'role' | 'own' | 'limit'."""
    if actor.role not in APPROVERS:
        return "role"
    if _asked(row).get("by") == actor.ref:
        return "own"
    limit = limit_for(settings, actor.role, row.currency)
    return "limit" if limit is not None and int(_asked(row).get("decided") or row.amount) > limit else ""
