"""What logistics adds to case transitions: side effects, and the workflow's question whether a return address fits
(both installed by returnflow/bootstrap.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord, run
from ..flows import opened
from ..prepared import prepared
from . import adapters
from .addresses import route, route_id
from .carriers import CARRIERS, normalise_number
from .flows import SHIPMENT
from .instructions import instructions, message_data
from .models import Shipment, TrackingEvent
from .shipments import follow

SHIPMENTS = Shipment.__table__
TRACKING = TrackingEvent.__table__
# Statements of the ship_return request: prepared (returnflow/prepared.py).
_NEW_SHIPMENT = {
    "postgresql": prepared(postgresql.insert(SHIPMENTS).on_conflict_do_nothing().returning(SHIPMENTS.c.id),
                           "postgresql"),
    "sqlite": prepared(sqlite.insert(SHIPMENTS).on_conflict_do_nothing().returning(SHIPMENTS.c.id), "sqlite")}
_TAKEN = prepared(select(SHIPMENTS.c.id).where(SHIPMENTS.c.merchant_id == bindparam("m"),
                                               SHIPMENTS.c.carrier == bindparam("carrier"),
                                               SHIPMENTS.c.tracking_number == bindparam("number")))
_WAITING = prepared(select(TRACKING.c.id, TRACKING.c.status, TRACKING.c.occurred_at, TRACKING.c.source,
                           TRACKING.c.raw_code).where(
    TRACKING.c.merchant_id == bindparam("m"), TRACKING.c.tracking_number == bindparam("number"),
    TRACKING.c.carrier == bindparam("carrier"), TRACKING.c.shipment_id.is_(None)))


def return_address_routable(session: Session, case: CaseRecord) -> bool:
    """The workflow's question (cases/ports.py): does a return address fit the case's goods?"""
    return route_id(session, case) is not None


def return_scanned(session: Session, case: CaseRecord) -> bool:
    """The money module's question (cases/ports.py): has a carrier scanned the case's return parcel (EU5: a
    withdrawal may be refunded on dispatch)?"""
    scanned = session.scalar(select(TrackingEvent.id).join(Shipment, Shipment.id == TrackingEvent.shipment_id)
                             .where(Shipment.case_id == case.id, Shipment.direction == "inbound").limit(1))
    return scanned is not None


def return_instructions_on_approval(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """When a case starts waiting for the goods, the customer is sent the return instructions (contract 1).
    No return address set up, or no email on file: no message (the instructions stay readable in the portal)."""
    if event["to_state"] != "awaiting_return" or event["from_state"] == "awaiting_return":
        return []
    email = (case.customer or {}).get("email")
    if not email:
        return []
    address = route(session, case)
    if address is None:
        return []
    locale = (case.customer or {}).get("locale") or "zh-CN"
    body = instructions(session, case, locale, address=address, before_shipping=True)
    data = message_data(case, body, locale, state=event["to_state"])
    return [{"topic": "notify", "payload": {"channel": "email", "to": email, "locale": locale,
                                            "template": "return_instructions", "data": data}}]


def shipment_of_a_recorded_return(session: Session, case: CaseRecord, event: dict) -> list:
    """A return parcel recorded as a plain case action (the staff case page, the API's actions/ship_return)
    gets its inbound shipment like one registered through the return-shipment endpoint, so the receiving desk
    and tracking webhooks find it by its waybill; carrier events that came for the number before are adopted (the
    newest sets its status). Nothing is written when the number is already a parcel's."""
    payload = event.get("payload") or {}
    if event["action"] != "ship_return" or payload.get("shipment_id") is not None:
        return []
    typed = normalise_number(str(payload.get("tracking_number") or ""))[:60]
    carrier = str(payload.get("carrier") or "").strip().upper()
    carrier = carrier if carrier in CARRIERS else "OTHER"
    # Typed with dashes ("SF-1234-…"): stored as the carrier prints it, when that is what the dashes hide.
    number = next((n for n in (typed, typed.replace("-", "")) if CARRIERS[carrier].valid(n)), typed)
    if not number or run(session, _TAKEN, {"m": case.merchant_id, "carrier": carrier,
                                           "number": number}).first() is not None:
        return []
    address_id = route_id(session, case)
    waiting = run(session, _WAITING, {"m": case.merchant_id, "number": number, "carrier": carrier}).all()
    by = event.get("actor_id") or "system"
    # Registered in the state its declared opening (flows.SHIPMENT `register`) gives it, its event written beside it.
    # Two cases recording the same waybill at once: the second insert waits for the first and writes nothing
    # (instead of failing on the unique (merchant, carrier, number)); both find the one parcel by its number.
    shipment_id = run(session, _NEW_SHIPMENT[session.get_bind().dialect.name], {
        "merchant_id": case.merchant_id, "case_id": case.id, "direction": "inbound", "purpose": "return",
        "carrier": carrier, "tracking_number": number, "created_by": event.get("actor_id") or "",
        "address_id": address_id, "status": SHIPMENT.transition("register").to}).scalar()
    if shipment_id is None:
        return []
    opened(session, SHIPMENT, "register", record_id=shipment_id, merchant_id=case.merchant_id, case_id=case.id,
           by=by, role=event.get("actor_role") or "system", at=event["created_at"],
           data={"direction": "inbound", "purpose": "return", "carrier": carrier, "tracking_number": number})
    if waiting:
        # Carrier events that came for the number before now belong to the parcel; the newest sets its status
        # (the carrier's declared move; rare, so through the ORM).
        run(session, update(TRACKING).where(TRACKING.c.id.in_([w.id for w in waiting])).values(
            shipment_id=shipment_id))
        newest = adapters.latest(waiting)
        if newest is not None:
            follow(session, session.get(Shipment, shipment_id), newest.status, newest.occurred_at,
                   source=newest.source, code=newest.raw_code)
    return []

