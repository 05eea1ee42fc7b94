"""Side effects of case transitions that logistics adds (registered with the workflow at import)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..cases.workflow import SIDE_EFFECTS


def return_instructions_on_approval(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """When a case starts waiting for the goods, the customer is sent the return instructions (contract 1).
    No return address set up, or no email on file: no message (the instructions stay readable in the portal)."""
    if event["to_state"] != "awaiting_return" or event["from_state"] == "awaiting_return":
        return []
    email = (case.customer or {}).get("email")
    if not email:
        return []
    from .service import instructions, route

    address = route(session, case)
    if address is None:
        return []
    locale = (case.customer or {}).get("locale") or "zh-CN"
    body = instructions(session, case, locale, address=address, before_shipping=True)
    data = {**body, "deadline": body["deadline"].isoformat(), "shipment": None}
    return [{"topic": "notify", "payload": {"channel": "email", "to": email, "locale": locale,
                                            "template": "return_instructions", "data": data}}]


def shipment_of_a_recorded_return(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """A return parcel recorded as a plain case action (the staff case page, the API's actions/ship_return)
    gets its inbound shipment like one registered through the return-shipment endpoint, so the receiving desk
    and tracking webhooks find it by its waybill. Nothing is written when the number is already a parcel's."""
    payload = event.get("payload") or {}
    if event["action"] != "ship_return" or payload.get("shipment_id") is not None:
        return []
    from sqlalchemy import select

    from .carriers import CARRIERS, normalise_number
    from .models import Shipment
    from .service import _adopt_waiting_events, route

    typed = normalise_number(str(payload.get("tracking_number") or ""))[:60]
    carrier = str(payload.get("carrier") or "").strip().upper()
    carrier = carrier if carrier in CARRIERS else "OTHER"
    # Typed with dashes ("SF-1234-…"): stored as the carrier prints it, when that is what the dashes hide.
    number = next((n for n in (typed, typed.replace("-", "")) if CARRIERS[carrier].valid(n)), typed)
    if not number or session.scalar(select(Shipment.id).where(
            Shipment.merchant_id == case.merchant_id, Shipment.carrier == carrier,
            Shipment.tracking_number == number)) is not None:
        return []
    address = route(session, case)
    row = Shipment(merchant_id=case.merchant_id, case_id=case.id, direction="inbound", purpose="return",
                   carrier=carrier, tracking_number=number, created_by=event.get("actor_id") or "",
                   address_id=address.id if address else None)
    session.add(row)
    session.flush()
    _adopt_waiting_events(session, row)
    return []


def _subscribe(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """The return parcel is subscribed with the merchant's tracking aggregator (logistics.subscriptions)."""
    if event["action"] != "ship_return":
        return []
    from .subscriptions import subscribe_on_ship_return

    return subscribe_on_ship_return(session, case, event)


for _producer in (return_instructions_on_approval, shipment_of_a_recorded_return, _subscribe):
    if _producer not in SIDE_EFFECTS:
        SIDE_EFFECTS.append(_producer)
