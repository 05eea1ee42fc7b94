"""The shopper's return parcel: the carrier picked from a list, the number checked per carrier, stored as the case's
return shipment (found by tracking webhooks and the receiving desk), correctable until the carrier's first scan."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from datetime import datetime

from ..actor import Actor
from ..cases.store import CaseRecord
from ..errors import Explained
from ..logistics import pickup, shipments as logistics
from ..logistics.adapters import STATUS_LABELS
from ..logistics.carriers import CARRIERS, check_tracking
from ..logistics.models import Shipment, TrackingEvent
from .frame import N_, PageError, gettext
from ..merchants.clock import zone_of

UNKNOWN_CARRIER = N_("Choose the carrier from the list (or “Other carrier”).")
NUMBER_MISSING = N_("Enter the tracking number from the carrier's receipt.")
NUMBER_MALFORMED = N_("“{number}” does not look like a {carrier} tracking number. It should look like {example}.")
NUMBER_MALFORMED_CHECK = N_("“{number}” is not a valid {carrier} tracking number: it should look like {example}, "
                            "and its check digit must match. Check it against the receipt.")
NUMBER_TAKEN = N_("This tracking number is already registered for another parcel. Check it against the receipt.")
TOO_LATE = N_("The carrier has already scanned this parcel, so its tracking number can no longer be changed. "
              "Send the shop a message if something is wrong.")


PICKUP_NOT_OFFERED = N_("This shop does not offer courier pickup. Please drop the parcel off at the carrier.")
PICKUP_DOWN = N_("The courier booking service did not answer. Please try again in a few minutes, or drop the "
                 "parcel off at the carrier.")
PICKUP_REFUSED = N_("The carrier could not book this pickup. Please choose another time, or drop the parcel off.")
PICKUP_DONE = N_("The return parcel is already recorded for this request.")
PICKUP_WHEN = N_("Choose a day and a time window for the pickup.")
PICKUP_ADDRESS = N_("Enter the address where the courier collects the parcel.")
PICKUP_PHONE = N_("Enter a phone number the courier can call.")
PICKUP_DAYS = (("today", N_("Today")), ("tomorrow", N_("Tomorrow")), ("day_after", N_("The day after tomorrow")))
PICKUP_WINDOWS = ("09:00-11:00", "11:00-13:00", "13:00-15:00", "15:00-17:00", "17:00-19:00")


def carrier_name(code: str, locale: str) -> str:
    carrier = CARRIERS.get(code)
    if carrier is None:
        return code
    return carrier.name(locale)


def carrier_choices(recommended: list[str], locale: str) -> list[dict[str, str]]:
    """Every carrier the desk knows, the return address's recommended ones first, "other" last."""
    first = [c for c in recommended if c in CARRIERS and c != "OTHER"]
    rest = [c for c in CARRIERS if c not in first and c != "OTHER"]
    return [{"code": c, "name": carrier_name(c, locale), "example": CARRIERS[c].example}
            for c in first + rest + ["OTHER"]]


def checked(carrier: str, number: str, locale: str) -> tuple[str, str]:
    """(carrier code, number) in the carrier's format, or a refusal in the shopper's words."""
    try:
        return check_tracking(carrier, number)
    except Explained as exc:
        code = (carrier or "").strip().upper()
        if exc.key == "unknown_carrier":
            raise PageError("unknown_carrier", UNKNOWN_CARRIER, field="carrier") from None
        if code in CARRIERS and number.strip():
            found = CARRIERS[code]
            raise PageError("malformed_tracking_number", NUMBER_MALFORMED_CHECK if found.check else NUMBER_MALFORMED,
                            field="tracking_number", number=number.strip()[:60],
                            carrier=carrier_name(code, locale), example=found.example) from None
        raise PageError("required", NUMBER_MISSING, field="tracking_number") from None


def _return_parcel(session: Session, case_id: int) -> Shipment | None:
    return session.scalar(select(Shipment).where(Shipment.case_id == case_id, Shipment.direction == "inbound")
                          .order_by(Shipment.id.desc()).limit(1))


def _scanned(session: Session, shipment: Shipment) -> bool:
    return session.scalar(select(TrackingEvent.id).where(TrackingEvent.shipment_id == shipment.id).limit(1)) is not None


def correctable(session: Session, case: CaseRecord, shipment: Shipment | None) -> bool:
    """Until the carrier's first scan or the warehouse's receipt, the shopper may fix a mistyped number."""
    return (shipment is not None and case.state == "return_in_transit" and shipment.status == "registered"
            and not _scanned(session, shipment))


def register(session: Session, *, actor: Actor, case: CaseRecord, carrier: str, number: str, version: int | None,
             locale: str) -> Shipment:
    code, value = checked(carrier, number, locale)
    try:
        return logistics.register_return(session, actor=actor, case=case, carrier=code, tracking_number=value,
                                         version=version)
    except Explained as exc:
        if exc.key == "duplicate_tracking_number":
            raise PageError("duplicate_tracking_number", NUMBER_TAKEN, field="tracking_number", status=409) from None
        raise


def correct(session: Session, *, case: CaseRecord, carrier: str, number: str, locale: str) -> Shipment:
    """Replaces the carrier and number of the return parcel not yet scanned; events already received for the new
    number are adopted."""
    shipment = _return_parcel(session, case.id)
    if not correctable(session, case, shipment):
        raise PageError("tracking_locked", TOO_LATE, field="tracking_number", status=409)
    code, value = checked(carrier, number, locale)
    if (code, value) == (shipment.carrier, shipment.tracking_number):
        return shipment
    taken = session.scalar(select(Shipment.id).where(Shipment.merchant_id == case.merchant_id,
                                                     Shipment.carrier == code, Shipment.tracking_number == value))
    if taken is not None:
        raise PageError("duplicate_tracking_number", NUMBER_TAKEN, field="tracking_number", status=409)
    shipment.carrier, shipment.tracking_number = code, value
    session.flush()
    logistics.adopt_waiting_events(session, shipment)
    return shipment


def parcel_view(session: Session, case: CaseRecord, locale: str) -> dict[str, Any] | None:
    """What the case page shows of the return parcel: carrier, number, the latest tracking status and when."""
    shipment = _return_parcel(session, case.id)
    if shipment is None:
        return None
    latest = session.scalar(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id)
                            .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc()).limit(1))
    label = STATUS_LABELS.get(shipment.status)
    booked = shipment.pickup or {}
    pickup = None
    if booked.get("window_start") and booked.get("window_end"):

        zone = zone_of(session, case.merchant_id)
        start = datetime.fromisoformat(booked["window_start"]).astimezone(zone)
        end = datetime.fromisoformat(booked["window_end"]).astimezone(zone)
        pickup = {"window": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}", "ref": booked.get("booking_ref") or "",
                  "address": booked.get("address") or ""}
    return {"pickup": pickup, "carrier": shipment.carrier, "carrier_name": carrier_name(shipment.carrier, locale),
            "number": shipment.tracking_number,
            "status": gettext(locale, label) if label else None,
            "status_at": latest.occurred_at if latest else None,
            "where": latest.location if latest else "", "correctable": correctable(session, case, shipment)}


def book_pickup(db, *, actor: Actor, number: str, values: dict[str, str], version: int | None, now) -> Shipment:
    """Books a courier pickup for the shopper's return (logistics.pickup) and records the parcel with its waybill;
    every refusal in the shopper's words, nothing recorded."""
    if values.get("day") not in dict(PICKUP_DAYS) or values.get("window") not in PICKUP_WINDOWS:
        raise PageError("pickup_window", PICKUP_WHEN, field="window")
    if not values.get("address"):
        raise PageError("required", PICKUP_ADDRESS, field="address")
    if len(values.get("phone") or "") < 5:
        raise PageError("required", PICKUP_PHONE, field="phone")
    start, end = values["window"].split("-")
    data = {"carrier": values.get("carrier") or "", "day": values["day"], "start": start, "end": end,
            "address": values["address"], "contact": values.get("contact") or "", "phone": values["phone"]}
    refusals = {"pickup_not_offered": PICKUP_NOT_OFFERED, "pickup_not_configured": PICKUP_NOT_OFFERED,
                "pickup_unavailable": PICKUP_DOWN, "pickup_refused": PICKUP_REFUSED, "already_shipped": PICKUP_DONE,
                "not_awaiting_return": PICKUP_DONE, "unknown_carrier": UNKNOWN_CARRIER}
    try:
        booked = pickup.book_for_case(db, actor=actor, number=number, data=data, now=now)
        with db.transaction() as session:
            row, _ = pickup.record(session, actor=actor, number=number, booked=booked, version=version)
            return row
    except Explained as exc:
        text = refusals.get(exc.key)
        if text is None:
            raise
        field = "carrier" if exc.key == "unknown_carrier" else None
        raise PageError(exc.key, text, field=field, status=exc.status) from None
