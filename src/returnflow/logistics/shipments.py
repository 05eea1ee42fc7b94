"""Parcels of a case: the customer's return (inbound) and the replacement, reship or repaired item (outbound), and
the advance exchanges whose original is overdue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.models import CaseState as S, CaseType as T
from ..cases.store import CaseRecord
from ..cases.workflow import fire
from ..db import utcnow
from ..errors import Explained
from ..flows import move
from ..i18n import N_
from ..money import MoneyError, fmt, from_minor, to_minor
from . import adapters, advance as advance_exchange
from .addresses import route
from .carriers import check_tracking
from .flows import SHIPMENT, track
from .models import Shipment, TrackingEvent


def shipment_dict(row: Shipment) -> dict[str, Any]:
    return {"id": row.id, "direction": row.direction, "purpose": row.purpose, "carrier": row.carrier,
            "tracking_number": row.tracking_number, "status": row.status, "status_at": row.status_at,
            "pickup": row.pickup or None, "subscription": row.subscription or None, "items": row.items,
            "return_due_at": row.return_due_at,
            "created_at": row.created_at}


def _new_shipment(session: Session, case: CaseRecord, *, carrier: str, number: str, direction: str, purpose: str,
                  actor: Actor, **extra) -> Shipment:
    taken = session.scalar(select(Shipment.case_id).where(Shipment.merchant_id == case.merchant_id,
                                                          Shipment.carrier == carrier,
                                                          Shipment.tracking_number == number))
    if taken is not None:
        raise Explained("tracking_number", N_("{number} is already recorded for a parcel"), number=number,
                        code="duplicate_tracking_number", status=409)
    row = Shipment(merchant_id=case.merchant_id, case_id=case.id, direction=direction, purpose=purpose,
                   carrier=carrier, tracking_number=number, created_by=actor.ref, **extra)
    move(session, SHIPMENT, row, "register", by=actor.ref, role=actor.role, at=utcnow(),
         data={"direction": direction, "purpose": purpose, "carrier": carrier, "tracking_number": number})
    adopt_waiting_events(session, row)
    return row


def register_return(session: Session, *, actor: Actor, case: CaseRecord, carrier: str, tracking_number: str,
                    version: int | None = None, pickup: dict | None = None) -> Shipment:
    """The customer (or an agent) records the return parcel; the case moves to 'return in transit'."""
    code, number = check_tracking(carrier, tracking_number)
    address = route(session, case)
    row = _new_shipment(session, case, carrier=code, number=number, direction="inbound", purpose="return",
                        actor=actor, address_id=address.id if address else None, pickup=pickup or {})
    payload = {"carrier": code, "tracking_number": number, "shipment_id": row.id}
    if pickup:
        payload["pickup"] = pickup
    fire(session, case, "ship_return", actor, payload=payload, expected_version=version)
    return row


def outbound_items(case: CaseRecord, items: list[dict]) -> list[dict]:
    """Checks the items going out against the case lines; a replacement at another price carries the difference
    (minor units, positive: the customer owes it) for the money side to settle."""
    by_id = {line.id: line for line in case.lines}
    result = []
    for i, item in enumerate(items):
        line = by_id.get(item["line_id"])
        if line is None:
            raise Explained(f"items[{i}].line_id", N_("not a line of this case; lines: {lines}"), lines=sorted(by_id),
                            allowed=sorted(by_id))
        if item["quantity"] > line.quantity:
            raise Explained(f"items[{i}].quantity", N_("at most {most} (the case line's quantity)"),
                            most=line.quantity)
        entry = {"line_id": line.id, "returned_sku": line.sku, "sku": item["sku"], "quantity": item["quantity"]}
        if item.get("unit_price") is not None:
            try:
                price = to_minor(item["unit_price"], case.currency)
            except MoneyError as exc:
                raise exc.refusal(f"items[{i}].unit_price") from None
            if price < 0:
                raise Explained(f"items[{i}].unit_price", N_("must not be negative"))
            difference = (price - (line.unit_price or 0)) * item["quantity"]
            entry.update(unit_price=fmt(price, case.currency), price_difference=fmt(difference, case.currency),
                         price_difference_minor=difference, currency=case.currency)
        result.append(entry)
    return result


def ship_outbound(session: Session, *, actor: Actor, case: CaseRecord, carrier: str, tracking_number: str,
                  items: list[dict], version: int | None = None) -> Shipment:
    """Ships the replacement (exchange), the missing part (reship) or the repaired item; an advance exchange
    gets a deadline for the customer's return."""
    code, number = check_tracking(carrier, tracking_number)
    if not items:
        # The replacement the customer chose, at its price (the difference goes to the money side).
        items = outbound_items(case, [
            {"line_id": line.id, "sku": line.variant["sku"], "quantity": line.quantity,
             "unit_price": from_minor(line.variant["price"], case.currency)} if line.variant else
            {"line_id": line.id, "sku": line.sku, "quantity": line.quantity} for line in case.lines])
    purpose = {T.EXCHANGE: "exchange", T.RESHIP: "reship", T.REPAIR: "repair"}.get(T(case.type), "exchange")
    # Shipped before the original arrived: the original now has a deadline (an original already received has none).
    advance = case.advance and case.state in (S.AWAITING_RETURN, S.RETURN_IN_TRANSIT) \
        and not any(line.received_quantity for line in case.lines)
    now = utcnow()
    due = advance_exchange.return_due(session, case.merchant_id, now) if advance else None
    row = _new_shipment(session, case, carrier=code, number=number, direction="outbound", purpose=purpose,
                        actor=actor, items=items, return_due_at=due)
    payload = {"carrier": code, "tracking_number": number, "shipment_id": row.id, "purpose": purpose,
               "items": items}
    if due:
        payload["return_due_at"] = due.isoformat()
    fire(session, case, "ship_replacement", actor, payload=payload, expected_version=version, at=now)
    if due:
        advance_exchange.on_shipped(session, case=case, shipment=row, at=now)
    return row


def overdue_advance_returns(session: Session, *, merchant_id: int, now: datetime | None = None) -> list[dict]:
    """Advance exchanges whose replacement went out but whose return has not arrived by its deadline."""
    from ..cases.models import Case

    from ..refunds.charges import charge_dict
    from ..refunds.models import CustomerCharge

    rows = session.execute(select(Shipment, Case.number, Case.state, CustomerCharge)
                           .join(Case, Case.id == Shipment.case_id)
                           .outerjoin(CustomerCharge, (CustomerCharge.case_id == Case.id)
                                      & (CustomerCharge.purpose == advance_exchange.PURPOSE)).where(
        Shipment.merchant_id == merchant_id, Shipment.return_due_at.is_not(None),
        Shipment.return_due_at < (now or utcnow()),
        Case.state.in_((S.AWAITING_RETURN.value, S.RETURN_IN_TRANSIT.value)))).all()
    # With its hold or charge (the deadline's outcome, once the worker acted): what finance and agents follow up.
    return [{"case": number, "state": state, **shipment_dict(ship), "charge": charge_dict(charge) if charge else None}
            for ship, number, state, charge in rows]


def adopt_waiting_events(session: Session, shipment: Shipment) -> None:
    """Events that arrived before the parcel was registered now belong to it."""
    waiting = list(session.scalars(select(TrackingEvent).where(
        TrackingEvent.merchant_id == shipment.merchant_id, TrackingEvent.tracking_number == shipment.tracking_number,
        TrackingEvent.carrier == shipment.carrier, TrackingEvent.shipment_id.is_(None))))
    for event in waiting:
        event.shipment_id = shipment.id
    newest = adapters.latest(waiting)
    if newest is not None:
        follow(session, shipment, newest.status, newest.occurred_at, source=newest.source, code=newest.raw_code)


def follow(session: Session, shipment: Shipment, status: str, status_at: datetime, *, source: str,
           code: str = "") -> None:
    """The parcel after a carrier event: a new status is the declared move `track_<status>` (flows.SHIPMENT, by
    the carrier), with its event row; the same status only moves its as-of time."""
    if status != shipment.status:
        move(session, SHIPMENT, shipment, track(status), by=f"gateway:{source}", role="gateway", at=utcnow(),
             data={"occurred_at": status_at.isoformat(), "source": source, "code": code})
    shipment.status_at = status_at


def shipments_of(session: Session, case: CaseRecord) -> list[dict[str, Any]]:
    """The case's parcels, each with its tracking events (newest first)."""
    result = []
    for row in session.scalars(select(Shipment).where(Shipment.case_id == case.id).order_by(Shipment.id)):
        events = session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == row.id)
                                 .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc()))
        result.append({**shipment_dict(row), "events": [event_dict(e) for e in events]})
    return result


def event_dict(row: TrackingEvent) -> dict[str, Any]:
    return {"status": row.status, "occurred_at": row.occurred_at, "code": row.raw_code,
            "description": row.description, "location": row.location, "source": row.source}
