"""What the customer needs to send the goods back: where, how and by when (the return instructions), the printable
return label, and the instructions sent by email."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..batch_reads import per_case
from ..cases import store
from ..cases.store import CaseRecord
from ..cases.views import STATE_LABELS
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_, gettext
from ..texts.logistics import PACKING_ADVICE
from .addresses import Address, route
from .carriers import CARRIERS
from .models import Shipment
from .shipments import shipment_dict
from ..merchants.clock import zone_of as merchant_zone
from ..prepared import prepared

RETURN_DAYS = 7  # TB5: the buyer ships within 7 days of agreement, unless the policy decided a deadline


_DECISION = select(store.CASES.c.policy_decision).where(store.CASES.c.id == bindparam("id"))
_APPROVING = ("approve", "arbitrate")
_APPROVED = prepared(select(store.EVENTS.c.created_at)
                     .where(store.EVENTS.c.case_id == bindparam("id"), store.EVENTS.c.action.in_(_APPROVING))
                     .order_by(store.EVENTS.c.seq.desc()).limit(1))
# The same for the cases of a derivation batch (returnflow/batch_reads.py): each case's approvals, the last one last.
_APPROVED_CASES = prepared(select(store.EVENTS.c.case_id, store.EVENTS.c.created_at)
                           .where(store.EVENTS.c.case_id.in_(bindparam("ids", expanding=True)),
                                  store.EVENTS.c.action.in_(_APPROVING))
                           .order_by(store.EVENTS.c.case_id, store.EVENTS.c.seq))


def return_deadline(session: Session, case: CaseRecord) -> datetime:
    """When the return parcel must be sent: the policy's deadline if it decided one, else 7 days (TB5) after
    the case was approved."""
    decision = case.policy_decision if hasattr(case, "policy_decision") else \
        store.run(session, _DECISION, {"id": case.id}).scalar()
    deadline = _policy_return_deadline(decision, case)
    if deadline is not None:
        return deadline
    # In a derivation batch, for all its cases at once; a request reads it each time (it may approve meanwhile).
    approved = per_case(session, "rf_approved_at", case,
                        lambda one: store.run(session, _APPROVED, {"id": one.id}).scalar(),
                        lambda cases: _approved_at(session, cases), keep=False)
    return (approved or case.updated_at) + timedelta(days=RETURN_DAYS)


def _approved_at(session: Session, cases: list[CaseRecord]) -> dict[int, datetime | None]:
    """When each case was last approved (None: never)."""
    found: dict[int, datetime | None] = dict.fromkeys((case.id for case in cases), None)
    for case_id, at in store.run(session, _APPROVED_CASES, {"ids": list(found)}):
        found[case_id] = at
    return found


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


def instructions(session: Session, case: CaseRecord, locale: str = "zh-CN", *, address: Address | None = None,
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


def message_data(case: CaseRecord, body: dict[str, Any], locale: str, state: str | None = None) -> dict[str, Any]:
    """The return instructions email's data: the instructions as the portal shows them (the address structured,
    as integrations read it; notify.templates writes it as a line) and the case's number, state (`state`: the one
    the event moved it to, when derived later) and its label — the fields the template may use."""
    state = state or case.state
    return {**body, "number": case.number, "state": state,
            "state_label": STATE_LABELS.get(state, {}).get(locale, state),
            "deadline": body["deadline"].isoformat(), "shipment": None}


def send_instructions(session: Session, case: CaseRecord, locale: str) -> dict[str, Any]:
    """Queues the return instructions for the customer by email (contract 1: an outbox 'notify' row)."""
    body = instructions(session, case, locale)
    customer = case.customer or {}
    if not customer.get("email"):
        raise Explained("customer.email", N_("the customer has no email address on file"), code="no_destination",
                        status=409)
    data = message_data(case, body, customer.get("locale") or locale)
    store.enqueue(session, merchant_id=case.merchant_id, case_id=case.id, topic="notify", at=utcnow(), payload={
        "channel": "email", "to": customer["email"], "locale": customer.get("locale") or locale,
        "template": "return_instructions", "data": data})
    return body
