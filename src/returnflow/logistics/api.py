"""The logistics API: return addresses, instructions, label PDF, parcels, tracking webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from ..cases import service as cases
from ..cases.views import present
from ..errors import Explained
from ..i18n import N_, gettext
from ..web import DB, JSON, CurrentActor, current_actor, locale_of, mutate
from ..refunds import charges
from . import addresses, advance, instructions, shipments, tracking
from .adapters import FORMATS, STATUS_LABELS, STATUSES
from .carriers import CARRIERS
from .staff import staff_merchant
from .schemas import (
    AdvanceExchangeSettings, ChargeCollected, OutboundShipmentCreate, ReturnAddressSave, ReturnShipmentCreate,
)
from .hooks_api import router as hooks_router
from .pickup import router as pickup_router

router = APIRouter(tags=["logistics"])


@router.get("/carriers")
async def list_carriers(actor: CurrentActor, request: Request) -> list[dict]:
    """Carriers the desk knows, with an example of each one's tracking number."""
    locale = locale_of(request)
    return [{"code": c.code, "name": c.name(locale), "example": c.example,
             "checked": c.check is not None} for c in CARRIERS.values()]


@router.get("/tracking/statuses")
async def tracking_statuses(request: Request) -> list[dict]:
    """The normalised tracking statuses."""
    locale = locale_of(request)
    return [{"status": s, "label": gettext(locale, STATUS_LABELS[s])} for s in STATUSES]


@router.put("/return-addresses/{code}")
async def save_return_address(code: str, body: ReturnAddressSave, request: Request):
    """Creates or replaces a return warehouse address (supervisor, admin)."""
    actor = await current_actor(request)
    if not code.replace("-", "").replace("_", "").isalnum() or len(code) > 40:
        raise Explained("code", N_("use letters, digits, - and _ (at most 40)"))

    def work(session):
        return 200, addresses.address_dict(addresses.save_address(session, actor=actor, code=code,
                                                              data=body.model_dump()))

    return await mutate(request, actor, work)


@router.get("/return-addresses")
async def list_return_addresses(actor: CurrentActor, db: DB) -> list[dict]:
    """The merchant's return addresses."""
    if actor.merchant_id is None:
        raise Explained("merchant", N_("use a token of the merchant's own staff"), code="merchant_required")
    with db.read() as session:
        return [addresses.address_dict(r) for r in addresses.list_addresses(session, merchant_id=actor.merchant_id)]


@router.get("/cases/{number}/return-instructions")
async def return_instructions(number: str, actor: CurrentActor, db: DB, request: Request):
    """Where and how to send the goods back, by when, and the case number to write on the parcel."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        return JSON(instructions.instructions(session, case, locale_of(request)))


@router.post("/cases/{number}/return-instructions/send", status_code=202)
async def send_return_instructions(number: str, request: Request):
    """Queues the return instructions to the customer (email notification via the outbox)."""
    actor = await current_actor(request)
    locale = locale_of(request)

    def work(session):
        case = cases.get_case(session, actor=actor, number=number)
        if actor.kind == "customer":
            raise Explained("actor", N_("staff send instructions; customers read them"), code="forbidden_role",
                            status=403)
        body = instructions.send_instructions(session, case, locale)
        return 202, {"queued": True, "template": "return_instructions", "to": case.customer.get("email"),
                     "deadline": body["deadline"]}

    return await mutate(request, actor, work)


@router.get("/cases/{number}/return-label.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def return_label(number: str, actor: CurrentActor, db: DB):
    """The printable return label and packing slip (PDF; Code 128 and QR of the case number; zh + en)."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        pdf = instructions.label_pdf(session, case)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="return-label-{case.number}.pdf"'})


@router.post("/cases/{number}/return-shipment", status_code=201)
async def record_return_shipment(number: str, body: ReturnShipmentCreate, request: Request):
    """Records the return parcel (carrier + tracking number, optional booked pickup); the case goes in transit."""
    actor = await current_actor(request)

    def work(session):
        case = cases.get_case(session, actor=actor, number=number)
        row = shipments.register_return(session, actor=actor, case=case, carrier=body.carrier,
                                      tracking_number=body.tracking_number, version=body.version,
                                      pickup=body.pickup.model_dump(mode="json") if body.pickup else None)
        return 201, {"shipment": shipments.shipment_dict(row), "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)


@router.post("/cases/{number}/outbound-shipments", status_code=201)
async def ship_to_customer(number: str, body: OutboundShipmentCreate, request: Request):
    """Ships the replacement, reshipped item or repaired item with its tracking (fires ship_replacement)."""
    actor = await current_actor(request)

    def work(session):
        case = cases.get_case(session, actor=actor, number=number)
        row = shipments.ship_outbound(session, actor=actor, case=case, carrier=body.carrier,
                                    tracking_number=body.tracking_number, version=body.version,
                                    items=shipments.outbound_items(case, [i.model_dump() for i in body.items]))
        return 201, {"shipment": shipments.shipment_dict(row), "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)


@router.get("/cases/{number}/shipments")
async def case_shipments(number: str, actor: CurrentActor, db: DB):
    """The case's parcels in both directions with their tracking events."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        return JSON(shipments.shipments_of(session, case))


@router.post("/tracking/webhooks/{fmt}")
async def tracking_webhook(fmt: str, request: Request, body: Any = Body(...)):
    """Carrier tracking events: `generic` (documented in docs/logistics.md), `aftership` or `correios`.
    Duplicates are recognised; events for parcels not yet registered are kept and matched later."""
    actor = await current_actor(request)
    if fmt not in FORMATS:
        raise Explained("format", N_("unknown format '{format}'"), format=fmt, allowed=list(FORMATS))

    locale = locale_of(request)

    def work(session):
        return 200, tracking.ingest(session, actor=actor, fmt=fmt, body=body, locale=locale)

    return await mutate(request, actor, work)


@router.get("/tracking/unmatched")
async def unmatched_tracking(actor: CurrentActor, db: DB) -> list[dict]:
    """Tracking events whose parcel is not registered with any case (yet)."""
    merchant_id = staff_merchant(actor, ("agent", "warehouse", "supervisor", "admin"), "see tracking events")
    with db.read() as session:
        return JSON(tracking.unmatched_events(session, merchant_id=merchant_id))


@router.get("/logistics/overdue-advance-returns")
async def overdue_advance_returns(actor: CurrentActor, db: DB, as_of: AwareDatetime | None = None) -> list[dict]:
    """Advance exchanges whose customer has not sent the original back by its deadline (as of now, or `as_of`)."""
    merchant_id = staff_merchant(actor, ("agent", "warehouse", "finance", "supervisor", "admin"),
                                         "see overdue returns")
    with db.read() as session:
        return JSON(shipments.overdue_advance_returns(session, merchant_id=merchant_id, now=as_of))


@router.get("/logistics/settings/advance-exchange")
async def advance_exchange_settings(actor: CurrentActor, db: DB) -> dict:
    """What happens when an advance exchange's original is not back in time (charge or escalate, grace days)."""
    merchant_id = staff_merchant(actor, ("agent", "finance", "supervisor", "admin"), "see the settings")
    with db.read() as session:
        return advance.settings_of(session, merchant_id)


@router.put("/logistics/settings/advance-exchange")
async def save_advance_exchange_settings(body: AdvanceExchangeSettings, request: Request):
    """Changes the advance exchange settings (supervisor, admin); fields left out keep their value."""
    actor = await current_actor(request)

    def work(session):
        return 200, advance.save_settings(session, actor=actor, data=body.model_dump())

    return await mutate(request, actor, work)


@router.get("/cases/{number}/advance-exchange")
async def case_advance_exchange(number: str, actor: CurrentActor, db: DB):
    """An advance exchange's return deadline, what happens when it passes, and its hold or charge."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        return JSON(advance.view(session, case))


@router.post("/money/charges/{number}/collected")
async def charge_collected(number: str, body: ChargeCollected, request: Request):
    """Finance records that a charge through the manual gateway was collected (finance, admin)."""
    actor = await current_actor(request)

    def work(session):
        return 200, charges.charge_dict(charges.mark_collected(session, actor=actor, number=number,
                                                               reference=body.reference))

    return await mutate(request, actor, work)


def _include() -> None:
    router.include_router(hooks_router)
    router.include_router(pickup_router)


_include()
