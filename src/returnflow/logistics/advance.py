"""Advance exchange (先发后退): the replacement ships first and the original is due back by a deadline.

When the replacement ships, a durable timer is set for the deadline plus the merchant's grace days (and, if the
merchant takes one, a hold on the customer's payment for the replacement's value). Exactly one of two things then
happens, decided in one transaction each and serialised on the case's version:
- the original arrives (the case is received): the timer is cancelled and the hold released;
- the timer fires first: per the merchant's setting the hold is captured or the customer charged (through the money
  module's charges, its voucher written when the money moved), or the case is escalated to an agent.
Each step is an event on the case's timeline (`settle_advance_exchange`, or `escalate`) and a notice to the customer.
An original that arrives after the charge escalates the case, so a person decides whether to give the money back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import SYSTEM, Actor
from ..cases import store
from ..cases.models import CaseState as S
from ..cases.store import CaseRecord
from ..cases.workflow import allowed_actions, fire
from ..errors import Explained, Forbidden
from ..i18n import N_, match
from ..merchants.models import Merchant
from ..money import fmt
from ..refunds import charges
from ..refunds.charge_approval import UNAPPROVED, WAITING as CHARGE_WAITING, withdraw
from ..refunds.models import CustomerCharge
from ..sla import timers
from .models import Shipment

PURPOSE = "advance_exchange"
TIMER = "advance_exchange_return"  # the deadline (kept across the case's steps: see sla.timers.OWN_CLOCKS)
FOLLOW_UP = "advance_exchange_follow_up"  # a person must look (charge refused, original arrived after the charge)
DEFAULTS = {"on_overdue": "escalate", "grace_days": 2, "return_days": 15, "hold": False}
OUTCOMES = ("charge", "escalate")
WAITING = (S.AWAITING_RETURN.value, S.RETURN_IN_TRANSIT.value)
HOLD_WAIT, HOLD_WAITS = timedelta(hours=1), 24  # how long a deadline waits for a hold still being authorised


# ---- the merchant's settings ---------------------------------------------------------------------------------

def settings_of(session: Session, merchant_id: int) -> dict[str, Any]:
    """The merchant's advance exchange settings, defaults filled in."""
    raw = (session.scalar(select(Merchant.settings).where(Merchant.id == merchant_id)) or {}).get(PURPOSE) or {}
    return {**DEFAULTS, **{k: v for k, v in raw.items() if k in DEFAULTS}}


def save_settings(session: Session, *, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Replaces the given settings (validated by the API schema) and returns all of them."""
    if actor.kind == "customer" or actor.role not in ("supervisor", "admin") or actor.merchant_id is None:
        raise Forbidden("forbidden_role", role=actor.role, what="change the advance exchange settings",
                        allowed=["supervisor", "admin"])
    merchant = session.get(Merchant, actor.merchant_id)
    current = dict(merchant.settings or {})
    current[PURPOSE] = {**settings_of(session, actor.merchant_id), **{k: v for k, v in data.items() if v is not None}}
    merchant.settings = current
    session.flush()
    return current[PURPOSE]


# ---- shipping the replacement --------------------------------------------------------------------------------

def replacement_value(case: CaseRecord, items: list[dict]) -> int:
    """What the replacement is worth (minor units): each line's unit price times the units sent, plus the price
    difference of another variant."""
    price = {line.id: line.unit_price or 0 for line in case.lines}
    return sum(price.get(i["line_id"], 0) * i["quantity"] + int(i.get("price_difference_minor") or 0) for i in items)


def return_due(session: Session, merchant_id: int, shipped_at: datetime) -> datetime:
    return shipped_at + timedelta(days=int(settings_of(session, merchant_id)["return_days"]))


def on_shipped(session: Session, *, case: CaseRecord, shipment: Shipment, at: datetime) -> None:
    """Starts the return's clock: the deadline timer (after the grace days) and, if the merchant takes one, the
    hold for the replacement's value."""
    conf = settings_of(session, case.merchant_id)
    fires_at = shipment.return_due_at + timedelta(days=int(conf["grace_days"]))
    timers.schedule(session, merchant_id=case.merchant_id, case_id=case.id, kind=TIMER, due_at=fires_at,
                    payload={"shipment_id": shipment.id, "due_at": shipment.return_due_at.isoformat(),
                             "grace_days": int(conf["grace_days"])}, rule=PURPOSE, at=at)
    amount = replacement_value(case, shipment.items or [])
    if conf["hold"] and amount > 0:
        charges.open_charge(session, merchant_id=case.merchant_id, case_id=case.id, order_id=case.order_id,
                            purpose=PURPOSE, kind="hold", amount=amount, currency=case.currency, at=at,
                            shipment_id=shipment.id, **priced(shipment))


def priced(shipment: Shipment) -> dict:
    """What the shipper chose to charge beyond the order's prices (a dearer variant), and who: their authority
    covers it, or the charge waits for an approver (refunds.charge_approval)."""
    extra = sum(max(0, int(i.get("price_difference_minor") or 0)) for i in shipment.items or [])
    return {"decided": extra, "decided_by": shipment.created_by or "system"}


def _shipment(session: Session, case_id: int) -> Shipment | None:
    return session.scalar(select(Shipment).where(Shipment.case_id == case_id, Shipment.direction == "outbound",
                                                 Shipment.return_due_at.is_not(None)).order_by(Shipment.id).limit(1))


def _arrived(case: CaseRecord) -> bool:
    return case.state not in WAITING or any(line.received_quantity for line in case.lines)


# ---- the deadline (run by the worker when the timer falls due) -----------------------------------------------

def on_due(session: Session, case: CaseRecord, row, now: datetime, _cache: dict) -> list[dict]:
    """The return is overdue: capture the hold, charge the customer, or escalate, as the merchant set it."""
    shipment = _shipment(session, case.id)
    if not case.advance or shipment is None:
        return []
    charge = charges.of_case(session, case.id, PURPOSE)
    if _arrived(case):
        # Received without the producer below seeing it (e.g. imported): the hold still goes back.
        if charge is not None and charge.state == "held":
            charges.request(session, charge, "release", at=now)
        return []
    conf = settings_of(session, case.merchant_id)
    due = shipment.return_due_at
    base = {"rule": PURPOSE, "timer": TIMER, "timer_id": row.id, "return_due_at": due.isoformat(),
            "grace_days": (row.payload or {}).get("grace_days", conf["grace_days"])}
    holding = charge is not None and charge.state == "holding"
    waits = int((row.payload or {}).get("waits") or 0)
    if conf["on_overdue"] == "charge" and holding and waits < HOLD_WAITS:
        # The hold's answer is not in yet (the provider is slow or down): the deadline waits for it a while.
        timers.schedule(session, merchant_id=case.merchant_id, case_id=case.id, kind=TIMER, due_at=now + HOLD_WAIT,
                        payload={**(row.payload or {}), "waits": waits + 1}, rule=PURPOSE, at=now)
        return []
    amount = replacement_value(case, shipment.items or [])
    priceless = charge is None and amount <= 0  # nothing to charge (a free replacement): a person decides
    unapproved = charge is not None and charge.state in UNAPPROVED  # above its pricer's authority, not approved
    if conf["on_overdue"] == "escalate" or holding or priceless or unapproved:
        why = " (the hold is still being authorised)" if holding else " (no price to charge)" if priceless else \
            f" (charge {charge.number} is {charge.state})" if unapproved else ""
        fire(session, case, "escalate", SYSTEM, at=now, payload={
            **base, "reason": f"advance exchange: the original was not returned by {due:%Y-%m-%d}{why} "
                              f"(先发后退：原商品未在 {due:%Y-%m-%d} 前寄回)"})
        _notify(session, case, "advance_exchange_overdue", {"due_at": f"{due:%Y-%m-%d}"}, now)
        return []
    if charge is None:
        charge = charges.open_charge(session, merchant_id=case.merchant_id, case_id=case.id, order_id=case.order_id,
                                     purpose=PURPOSE, kind="charge", amount=amount, currency=case.currency, at=now,
                                     shipment_id=shipment.id, **priced(shipment))
        outcome = "charge_awaiting_approval" if charge is not None and charge.state == CHARGE_WAITING else "charge_requested"
    elif charge.state == "held":
        outcome = "capture_requested" if charges.request(session, charge, "capture", at=now) else None
    elif charge.state == "hold_failed":
        outcome = "charge_requested" if charges.request(session, charge, "charge", at=now) else None
    else:
        outcome = None  # decided before (a charge on its way or done): nothing twice
    if charge is None or outcome is None:
        return []
    fire(session, case, "settle_advance_exchange", SYSTEM, at=now, payload={
        **base, "outcome": outcome, "charge": charge.number, "amount": fmt(charge.amount, charge.currency),
        "currency": charge.currency})
    return []


# ---- the original arrives ------------------------------------------------------------------------------------

def replacement_paid_for(session: Session, case: CaseRecord) -> bool:
    """The workflow's question (cases/ports.py): has the customer paid for the replacement (charged, or the hold
    captured)?"""
    charge = charges.of_case(session, case.id, PURPOSE)
    return charge is not None and charge.state in ("charged", "captured")


def on_arrival(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """The first receipt of an advance exchange's original stops its clock and releases the hold; an original
    arriving after the charge puts the case in front of an agent."""
    if event["action"] != "receive" or event["from_state"] == S.RECEIVED.value or not case.advance:
        return []
    at = event["created_at"]
    timers.cancel(session, case_id=case.id, kind=TIMER)
    charge = charges.of_case(session, case.id, PURPOSE)
    if charge is None:
        return []
    if charge.state in ("held", "holding"):
        charges.request(session, charge, "release", at=at)
    elif charge.state == CHARGE_WAITING:
        withdraw(charge, at=at, why="the original arrived")
    elif charge.state in ("charging", "capturing", "charged", "captured", "awaiting_finance"):
        follow_up(session, case, at, f"advance exchange: the original arrived after charge {charge.number} of "
                                     f"{fmt(charge.amount, charge.currency)} {charge.currency}; decide whether to "
                                     f"refund it (先发后退：原商品在扣款 {charge.number} 之后到货，请决定是否退还)")
    return []


def follow_up(session: Session, case: CaseRecord, at: datetime, reason: str) -> None:
    """An escalation the worker fires at once (its own transaction keeps this one short and conflict-free)."""
    timers.schedule(session, merchant_id=case.merchant_id, case_id=case.id, kind=FOLLOW_UP, due_at=at,
                    action="escalate", payload={"reason": reason}, rule=PURPOSE, at=at)


# ---- the gateway's answer ------------------------------------------------------------------------------------

RESULTS = {("hold", True): "hold_placed", ("hold", False): "hold_failed", ("charge", True): "charged",
           ("charge", False): "charge_failed", ("capture", True): "hold_captured", ("capture", False): "capture_failed",
           ("release", True): "hold_released", ("release", False): "release_failed"}


def on_outcome(session: Session, charge: CustomerCharge, op: str, ok: bool, at: datetime) -> None:
    """The timeline event for what the gateway did; the customer is told when money moved or came free."""
    found = store.load_many(session, [charge.case_id])
    if not found:
        return
    case = found[0]
    result = RESULTS[(op, ok)]
    payload = {"rule": PURPOSE, "outcome": result, "charge": charge.number,
               "amount": fmt(charge.amount, charge.currency), "currency": charge.currency}
    if charge.voucher and op in charges.MOVES_MONEY:
        payload["voucher"] = charge.voucher
    if not ok and charge.last_error:
        payload["error"] = charge.last_error[:300]
    if "settle_advance_exchange" in allowed_actions(case, SYSTEM):
        # A case closed meanwhile (e.g. a release answered after the case was finished) keeps its timeline shut;
        # the charge's own history has the answer.
        fire(session, case, "settle_advance_exchange", SYSTEM, payload=payload, at=at)
    data = {"amount": payload["amount"], "currency": charge.currency}
    if result in ("charged", "hold_captured"):
        _notify(session, case, "advance_exchange_charged", data, at)
    elif result == "hold_released":
        _notify(session, case, "advance_exchange_hold_released", data, at)
    elif result in ("charge_failed", "capture_failed"):
        follow_up(session, case, at, f"advance exchange: charge {charge.number} was refused ({charge.last_error}); "
                                     f"contact the customer (先发后退：扣款 {charge.number} 失败，请联系顾客)")


def _notify(session: Session, case: CaseRecord, template: str, data: dict, at: datetime) -> None:
    if case.customer_id is None:
        return
    # Any language of the desk (zh-Hant too); one it lacks falls back as the notification templates do.
    locale = match((case.customer or {}).get("locale")) or "zh-CN"
    for channel in ("in_app", "email"):
        store.enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=at, payload={
            "channel": channel, "to": f"customer:{case.customer_id}", "locale": locale, "template": template,
            "data": {"number": case.number, **data}})


# ---- what staff and the customer see -------------------------------------------------------------------------

def view(session: Session, case: CaseRecord) -> dict[str, Any]:
    """The return's deadline, what happens when it passes, and the hold or charge with its history."""
    if not case.advance:
        raise Explained("number", N_("this case is not an advance exchange"), code="not_advance_exchange",
                        status=409)
    shipment = _shipment(session, case.id)
    conf = settings_of(session, case.merchant_id)
    pending = [t for t in timers.pending(session, case.id) if t.kind == TIMER]
    charge = charges.of_case(session, case.id, PURPOSE)
    return {"case": case.number, "replacement_shipped": shipment is not None,
            "return_due_at": shipment.return_due_at if shipment else None,
            "acts_at": pending[0].due_at if pending else None, "on_overdue": conf["on_overdue"],
            "grace_days": conf["grace_days"], "arrived": _arrived(case),
            "charge": charges.charge_dict(charge) if charge else None}
