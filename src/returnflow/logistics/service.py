"""Logistics use cases: return addresses and routing, return instructions, shipments, tracking webhooks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.models import CaseState as S, CaseType as T
from ..cases.store import CaseRecord
from ..cases.workflow import fire
from ..db import utcnow
from ..errors import Explained, Forbidden
from ..i18n import N_, gettext
from ..texts.logistics import PACKING_ADVICE
from ..money import MoneyError, fmt, from_minor, to_minor
from ..orders.models import Order, OrderLine
from . import adapters
from . import advance as advance_exchange
from .carriers import CARRIERS, check_tracking
from .models import ReturnAddress, Shipment, TrackingEvent
from ..merchants.clock import zone_of as merchant_zone

RETURN_DAYS = 7  # TB5: the buyer ships within 7 days of agreement, unless the policy decided a deadline


def staff_merchant(actor: Actor, roles: tuple[str, ...], what: str) -> int:
    if actor.kind == "customer" or actor.role not in roles:
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=list(roles))
    if actor.merchant_id is None:
        raise Explained("merchant", N_("use a token of the merchant's own staff for this"), code="merchant_required")
    return actor.merchant_id


# ---- return addresses -----------------------------------------------------------------------------------------

ADDRESS_FIELDS = ("name", "contact", "phone", "address", "address_en", "postcode", "regions", "categories",
                  "carriers", "is_default", "auto_receive_on_delivery", "active")


def save_address(session: Session, *, actor: Actor, code: str, data: dict[str, Any]) -> ReturnAddress:
    """Creates or updates the merchant's return address `code`."""
    merchant_id = staff_merchant(actor, ("supervisor", "admin"), "manage return addresses")
    for i, carrier in enumerate(data.get("carriers") or []):
        if carrier not in CARRIERS:
            raise Explained(f"carriers[{i}]", N_("unknown carrier '{carrier}'"), carrier=carrier,
                            code="unknown_carrier", allowed=sorted(CARRIERS))
    row = session.scalar(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id,
                                                     ReturnAddress.code == code))
    if row is None:
        row = ReturnAddress(merchant_id=merchant_id, code=code)
        session.add(row)
    for name in ADDRESS_FIELDS:
        if name in data and data[name] is not None:
            setattr(row, name, data[name])
    if row.is_default:
        for other in session.scalars(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id,
                                                                 ReturnAddress.code != code)):
            other.is_default = False
    session.flush()
    return row


def list_addresses(session: Session, *, merchant_id: int) -> list[ReturnAddress]:
    return list(session.scalars(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id)
                                .order_by(ReturnAddress.code)))


def route(session: Session, case: CaseRecord) -> ReturnAddress | None:
    """The warehouse a case's goods go back to: the first active address that takes the lines' categories and
    serves the order's region (most specific first, the default first among equals), else the default address."""
    categories = set(session.scalars(select(OrderLine.category).where(
        OrderLine.id.in_([line.order_line_id for line in case.lines]))).all()) - {None}
    country = session.scalar(select(Order.country).where(Order.id == case.order_id))
    best, best_score = None, -1
    for row in list_addresses(session, merchant_id=case.merchant_id):
        if not row.active:
            continue
        if row.categories and not categories <= set(row.categories):
            continue
        if row.regions and country not in row.regions:
            continue
        # The merchant's default address wins a tie between equally specific ones.
        score = (4 if row.categories else 0) + (2 if row.regions else 0) + (1 if row.is_default else 0)
        if score > best_score:
            best, best_score = row, score
    if best is not None:
        return best
    return session.scalar(select(ReturnAddress).where(ReturnAddress.merchant_id == case.merchant_id,
                                                      ReturnAddress.is_default.is_(True),
                                                      ReturnAddress.active.is_(True)))


def address_dict(row: ReturnAddress) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ("code",) + ADDRESS_FIELDS}


def return_deadline(session: Session, case: CaseRecord) -> datetime:
    """When the return parcel must be sent: the policy's deadline if it decided one, else 7 days (TB5) after
    the case was approved."""
    from ..cases.models import Case

    column = Case.__table__.c.get("policy_decision")  # arrives with the policy-on-cases migration (0004)
    decision = session.scalar(select(column).where(Case.id == case.id)) if column is not None else None
    deadline = _policy_return_deadline(decision, case)
    if deadline is not None:
        return deadline
    approved = session.scalar(select(store.EVENTS.c.created_at).where(
        store.EVENTS.c.case_id == case.id, store.EVENTS.c.action.in_(("approve", "arbitrate")))
        .order_by(store.EVENTS.c.seq.desc()).limit(1))
    return (approved or case.updated_at) + timedelta(days=RETURN_DAYS)


def _policy_return_deadline(decision, case: CaseRecord) -> datetime | None:
    """Wire-up point for the policy decision on cases (contract 3): the earliest 'return_by' deadline of its lines."""
    if not isinstance(decision, dict):
        return None
    found = []
    for line in decision.get("lines") or []:
        value = (line.get("deadlines") or {}).get("return_by") if isinstance(line, dict) else None
        if isinstance(value, str):
            try:
                found.append(datetime.fromisoformat(value))
            except ValueError:
                continue
    return min(found) if found else None


def instructions(session: Session, case: CaseRecord, locale: str = "zh-CN", *, address: ReturnAddress | None = None,
                 before_shipping: bool = False) -> dict[str, Any]:
    """What the customer needs to send the goods back: where, how, by when, and what to write on the parcel.
    A caller that has routed the case already passes the `address`; `before_shipping` (at approval) skips the look
    for a parcel that cannot exist yet."""
    from . import pickup as pickups

    if not case.needs_return:
        raise Explained("number", N_("this case does not need the goods back"), code="no_return_needed", status=409)
    address = address or route(session, case)
    if address is None:
        raise Explained("return_address", N_("the merchant has no return address set up yet"),
                        code="no_return_address", status=409)
    carriers = [{"code": c, "name": CARRIERS[c].name(locale)}
                for c in (address.carriers or [])]
    shipment = None if before_shipping else session.scalar(
        select(Shipment).where(Shipment.case_id == case.id, Shipment.direction == "inbound")
        .order_by(Shipment.id.desc()).limit(1))
    return {
        "case": case.number, "write_on_parcel": case.number,
        "address": {"warehouse": address.code, "name": address.name, "contact": address.contact,
                    "phone": address.phone, "address": address.address, "address_en": address.address_en,
                    "postcode": address.postcode},
        "carriers": carriers, "deadline": return_deadline(session, case),
        "packing_advice": [gettext(locale, text) for text in PACKING_ADVICE],
        "pickup_available": pickups.offered(session, case.merchant_id),
        "pickup_carriers": pickups.carriers(address.carriers or [], locale),
        "items": [{"line_id": line.id, "sku": line.sku, "title": line.title, "quantity": line.quantity}
                  for line in case.lines],
        "shipment": shipment_dict(shipment) if shipment else None,
        "label_url": f"/api/v1/cases/{case.number}/return-label.pdf",
    }


def label_pdf(session: Session, case: CaseRecord) -> bytes:
    """The printable return label and packing slip of a case that needs its goods back (see labels.py)."""
    from . import labels, pickup as pickups

    from ..merchants.models import Merchant
    from ..orders.models import Customer

    info = instructions(session, case)
    shopper = session.get(Customer, case.customer_id) if case.customer_id is not None else None
    ship = info["shipment"] or {}
    addr = info["address"]
    zone = merchant_zone(session, case.merchant_id)
    # The shop's display name, the shopper as sender, and the send-by time as the portal shows it (shop's zone).
    return labels.render(labels.Label(
        case_number=case.number, order_number=case.order_number or "",
        merchant=session.scalar(select(Merchant.name).where(Merchant.id == case.merchant_id)) or "",
        from_name=(shopper.name if shopper else (case.customer or {}).get("name")) or "",
        from_phone=(shopper.phone if shopper else "") or "", to_name=addr["name"], to_contact=addr["contact"],
        to_phone=addr["phone"], to_address=addr["address"], to_address_en=addr["address_en"],
        to_postcode=addr["postcode"], deadline=info["deadline"].astimezone(zone),
        carrier=ship.get("carrier", ""),
        tracking_number=ship.get("tracking_number", ""), pickup=pickups.label_line(ship.get("pickup"), zone),
        items=[labels.LabelItem(i["sku"] or "", i["title"] or "", i["quantity"]) for i in info["items"]]))


def send_instructions(session: Session, case: CaseRecord, locale: str) -> dict[str, Any]:
    """Queues the return instructions for the customer by email (contract 1: an outbox 'notify' row)."""
    body = instructions(session, case, locale)
    customer = case.customer or {}
    if not customer.get("email"):
        raise Explained("customer.email", N_("the customer has no email address on file"), code="no_destination",
                        status=409)
    data = {**body, "deadline": body["deadline"].isoformat(), "shipment": None}
    store.enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=utcnow(), payload={
        "channel": "email", "to": customer["email"], "locale": customer.get("locale") or locale,
        "template": "return_instructions", "data": data})
    return body


# ---- shipments ------------------------------------------------------------------------------------------------

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
    session.add(row)
    session.flush()
    _adopt_waiting_events(session, row)
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


# ---- tracking -------------------------------------------------------------------------------------------------

def _adopt_waiting_events(session: Session, shipment: Shipment) -> None:
    """Events that arrived before the parcel was registered now belong to it."""
    waiting = list(session.scalars(select(TrackingEvent).where(
        TrackingEvent.merchant_id == shipment.merchant_id, TrackingEvent.tracking_number == shipment.tracking_number,
        TrackingEvent.carrier == shipment.carrier, TrackingEvent.shipment_id.is_(None))))
    for event in waiting:
        event.shipment_id = shipment.id
    newest = adapters.latest(waiting)
    if newest is not None:
        shipment.status, shipment.status_at = newest.status, newest.occurred_at


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
        shipment.status, shipment.status_at = adapters.advance(shipment.status if shipment.status_at else None,
                                                               shipment.status_at, update)
        if (shipment.status, shipment.status_at) != before:
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


def unmatched_events(session: Session, *, merchant_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(select(TrackingEvent).where(TrackingEvent.merchant_id == merchant_id,
                                                       TrackingEvent.shipment_id.is_(None))
                           .order_by(TrackingEvent.received_at.desc()).limit(limit))
    return [{"carrier": r.carrier, "tracking_number": r.tracking_number, **event_dict(r)} for r in rows]

