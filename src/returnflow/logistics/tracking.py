"""Tracking: carrier events stored once each, each parcel's status moved to its newest event, events for numbers no
parcel has yet kept for later, and what a status sets off (the customer told of trouble, a return delivered to a
warehouse that receives on delivery)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.models import CaseState as S
from ..cases.workflow import fire
from ..db import utcnow
from ..errors import Explained
from . import adapters
from .carriers import check_tracking
from .models import ReturnAddress, Shipment, TrackingEvent
from .shipments import event_dict, follow
from .staff import staff_merchant


def ingest(session: Session, *, actor: Actor, fmt: str, body, locale: str = "en") -> dict[str, Any]:
    """Stores the events of one webhook call, once each; moves each parcel's status to its newest event; a
    return delivered to a warehouse that receives on delivery moves its case to 'received'. An event for a number
    that fits no registered parcel is kept for later matching; if the number does not even fit its carrier's
    format, the answer says so (`warnings`), so the sender can fix its mapping — the event is not lost either way."""
    merchant_id = staff_merchant(actor, ("agent", "warehouse", "supervisor", "admin", "system"),
                                 "post tracking events")
    return ingest_parsed(session, merchant_id=merchant_id, parsed=adapters.parse(fmt, body), locale=locale)


def ingest_parsed(session: Session, *, merchant_id: int, parsed: adapters.Parsed, locale: str = "en") -> dict[str, Any]:
    """`ingest` for events already read (and their sender already authenticated) for the merchant."""
    summary: dict[str, Any] = {"accepted": 0, "duplicates": 0, "unmatched": 0, "not_found": parsed.not_found,
                               "shipments": [], "cases_moved": [], "warnings": []}
    warned: set[tuple[str, str]] = set()
    touched: dict[int, Shipment] = {}
    for update in parsed.updates:
        key = update.key
        if session.scalar(select(TrackingEvent.id).where(TrackingEvent.merchant_id == merchant_id,
                                                         TrackingEvent.dedupe_key == key)) is not None:
            summary["duplicates"] += 1
            continue
        # The parcel's row is locked (PostgreSQL): two webhook calls about one parcel update its status in turn.
        shipment = session.scalar(select(Shipment).where(Shipment.merchant_id == merchant_id,
                                                         Shipment.carrier == update.carrier,
                                                         Shipment.tracking_number == update.tracking_number)
                                  .with_for_update().execution_options(populate_existing=True))
        # The same event delivered twice at the same moment: both calls see no row above, and the unique
        # (merchant, dedupe_key) constraint lets only one insert it; the other's savepoint rolls back and it counts
        # the event as the duplicate it is (no 500, nothing stored twice).
        savepoint = session.begin_nested()
        try:
            session.add(TrackingEvent(merchant_id=merchant_id, shipment_id=shipment.id if shipment else None,
                                      carrier=update.carrier, tracking_number=update.tracking_number,
                                      status=update.status, raw_code=update.raw_code[:60],
                                      description=update.description, location=update.location[:300],
                                      occurred_at=update.occurred_at, source=update.source, dedupe_key=key,
                                      received_at=utcnow()))
            session.flush()
            savepoint.commit()
        except IntegrityError:
            savepoint.rollback()
            summary["duplicates"] += 1
            continue
        summary["accepted"] += 1
        if shipment is None:
            summary["unmatched"] += 1
            if (update.carrier, update.tracking_number) not in warned:
                warned.add((update.carrier, update.tracking_number))
                try:
                    check_tracking(update.carrier, update.tracking_number)
                except Explained as problem:
                    summary["warnings"].append({**problem.render(locale), "carrier": update.carrier,
                                                "tracking_number": update.tracking_number, "kept_as": "unmatched"})
            continue
        # Out-of-order delivery: an older event is kept on the timeline but never sets the status back.
        before = (shipment.status, shipment.status_at)
        after = adapters.advance(shipment.status if shipment.status_at else None, shipment.status_at, update)
        # (An unknown event on a parcel never tracked yet leaves it registered.)
        if after[0] is not None and after != before:
            follow(session, shipment, *after, source=update.source, code=update.raw_code[:60])
            touched[shipment.id] = shipment
    session.flush()
    for shipment in touched.values():
        summary["shipments"].append({"carrier": shipment.carrier, "tracking_number": shipment.tracking_number,
                                     "status": shipment.status})
        moved = _on_status(session, shipment)
        if moved:
            summary["cases_moved"].append(moved)
    return summary


def _on_status(session: Session, shipment: Shipment) -> str | None:
    case = store.load_many(session, [shipment.case_id])[0]
    if shipment.status in ("returned_to_sender", "lost", "damaged", "failed_attempt") and case.customer:
        store.enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=utcnow(), payload={
            "channel": "email", "to": case.customer.get("email") or f"customer:{case.customer['id']}",
            "locale": case.customer.get("locale") or "zh-CN", "template": f"parcel_{shipment.status}",
            "data": {"case": case.number, "carrier": shipment.carrier,
                     "tracking_number": shipment.tracking_number, "direction": shipment.direction}})
    if shipment.direction != "inbound" or shipment.status != "delivered" or shipment.address_id is None:
        return None
    address = session.get(ReturnAddress, shipment.address_id)
    if not (address and address.auto_receive_on_delivery) or case.state != S.RETURN_IN_TRANSIT:
        return None
    actor = Actor(kind="system", role="system", merchant_id=case.merchant_id, name="carrier")
    fire(session, case, "receive", actor, payload={
        "source": "carrier_delivered", "shipment_id": shipment.id, "warehouse": address.code,
        "note": "delivered to the warehouse by the carrier; quantities are confirmed at the receiving desk"})
    return case.number


def unmatched_events(session: Session, *, merchant_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(select(TrackingEvent).where(TrackingEvent.merchant_id == merchant_id,
                                                       TrackingEvent.shipment_id.is_(None))
                           .order_by(TrackingEvent.received_at.desc()).limit(limit))
    return [{"carrier": r.carrier, "tracking_number": r.tracking_number, **event_dict(r)} for r in rows]
