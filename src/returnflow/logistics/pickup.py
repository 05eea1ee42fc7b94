"""Booking a courier pickup (上门取件) for a return through Kuaidi100's merchant shipping (商家寄件, bOrder).

The shopper (or an agent) asks for a day (today, tomorrow, the day after, in the merchant's zone) and a time
window at an address. The booking is made outside any transaction (the shopper waits for it); its answer — the
booking reference (taskId), the order id and the waybill number (kuaidinum) — is then recorded in one transaction
as the return parcel (`register_return`, firing `ship_return`, which also subscribes the parcel). A case that
already has its return parcel is refused before anything is booked. Where the merchant has not enabled pickups, or
has no Kuaidi100 credentials, the request is refused naming the setting.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..actor import Actor
from ..cases import service as cases
from ..cases.models import CaseState as S
from ..cases.store import CaseRecord
from ..cases.views import present
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_
from ..fields import Version
from ..flows import move
from ..orders.models import Customer
from ..web import current_actor, mutate
from . import kuaidi100, tracking_settings
from .carriers import CARRIERS
from .flows import PICKUP_CLAIM
from .models import PickupClaim, Shipment
from ..merchants.clock import zone_of as merchant_zone

router = APIRouter(tags=["logistics"])
DAYS = {"today": (0, "今天"), "tomorrow": (1, "明天"), "day_after": (2, "后天")}


class PickupBooking(BaseModel):
    """A pickup to book: the carrier, the day and window, and where the courier collects the parcel."""

    model_config = ConfigDict(extra="forbid")

    version: Version
    carrier: str = Field(min_length=1, max_length=20)
    day: Literal["today", "tomorrow", "day_after"]
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, the merchant's time zone")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, after start")
    address: str = Field(min_length=1, max_length=500)
    contact: str = Field(default="", max_length=100)
    phone: str = Field(min_length=5, max_length=40)


def offered(session: Session, merchant_id: int) -> bool:
    """The shop lets shoppers book a courier pickup (上门取件) and has Kuaidi100 set up for it."""
    values = tracking_settings.raw(session, merchant_id)
    return bool(values["pickup_enabled"] and tracking_settings.kuaidi100_ready(values) and values["kuaidi100_secret"])


def carriers(recommended: list[str], locale: str) -> list[dict[str, str]]:
    """The carriers a pickup can be booked with, the return address's recommended ones first."""
    able = kuaidi100.PICKUP_CARRIERS
    codes = [c for c in recommended if c in able] + [c for c in able if c not in recommended]
    return [{"code": c, "name": CARRIERS[c].name(locale)} for c in codes]


def label_line(pickup: dict | None, zone) -> str:
    """A booked pickup as the label prints it: day and window in the merchant's zone, booking reference."""
    if not pickup or not pickup.get("window_start"):
        return ""
    start = datetime.fromisoformat(pickup["window_start"]).astimezone(zone)
    end = datetime.fromisoformat(pickup["window_end"]).astimezone(zone) if pickup.get("window_end") else None
    window = f"{start:%Y-%m-%d %H:%M}" + (f"–{end:%H:%M}" if end else "")
    ref = pickup.get("booking_ref") or ""
    return f"上门取件 Pickup: {window}" + (f"    预约号 Booking: {ref}" if ref else "")


def _no(field: str, text: str, code: str, status: int = 409) -> Explained:
    return Explained(field, text, code=code, status=status)


def prepare(session: Session, *, actor: Actor, case: CaseRecord, data: dict[str, Any], now: datetime) -> dict:
    """Checks that the pickup may be booked and says what to send (the bOrder param and the credentials)."""
    from .addresses import route

    values = tracking_settings.raw(session, case.merchant_id)
    if not values["pickup_enabled"]:
        raise _no("pickup", N_("this shop does not offer courier pickup; drop the parcel off at the carrier"),
                  "pickup_not_offered")
    if not (tracking_settings.kuaidi100_ready(values) and values["kuaidi100_secret"]):
        raise _no("pickup", N_("courier pickup is not set up (Settings → Tracking: Kuaidi100 key and secret)"),
                  "pickup_not_configured")
    if not case.needs_return or case.state != S.AWAITING_RETURN:
        raise _no("number", N_("this case is not waiting for its goods to be sent back"), "not_awaiting_return")
    if session.scalar(select(Shipment.id).where(Shipment.case_id == case.id, Shipment.direction == "inbound")):
        raise _no("number", N_("the return parcel is already recorded"), "already_shipped")
    code = data["carrier"].strip().upper()
    company = kuaidi100.COMPANIES.get(code)
    if code not in kuaidi100.PICKUP_CARRIERS or company is None:
        raise Explained("carrier", N_("choose a carrier that collects parcels (SF, JD, YTO, ZTO, STO, Yunda, EMS)"),
                        code="unknown_carrier", allowed=list(kuaidi100.PICKUP_CARRIERS))
    if data["end"] <= data["start"]:
        raise Explained("end", N_("the window must end after it starts"))
    address = route(session, case)
    if address is None:
        raise _no("return_address", N_("the merchant has no return address set up yet"), "no_return_address")
    zone = merchant_zone(session, case.merchant_id)
    offset, day_type = DAYS[data["day"]]
    day = (now.astimezone(zone) + timedelta(days=offset)).date()
    shopper = session.get(Customer, case.customer_id) if case.customer_id is not None else None
    sender = data["contact"].strip() or (shopper.name if shopper else "") or (case.customer or {}).get("name") or ""
    param = {"kuaidicom": company, "recManName": address.contact or address.name,
             "recManMobile": address.phone, "recManPrintAddr": address.address, "sendManName": sender,
             "sendManMobile": data["phone"].strip(), "sendManPrintAddr": data["address"].strip(),
             "cargo": "退货商品", "payment": values["pickup_payment"], "serviceType": "标准快递",
             "remark": f"售后单 {case.number}", "dayType": day_type, "pickupStartTime": data["start"],
             "pickupEndTime": data["end"], "op": "0"}
    start = datetime.combine(day, datetime.strptime(data["start"], "%H:%M").time(), zone)
    end = datetime.combine(day, datetime.strptime(data["end"], "%H:%M").time(), zone)
    return {"param": param, "key": values["kuaidi100_key"], "secret": values["kuaidi100_secret"], "carrier": code,
            "pickup": {"provider": "kuaidi100", "window_start": start.isoformat(), "window_end": end.isoformat(),
                       "address": data["address"].strip(), "contact": sender, "phone": data["phone"].strip()}}


def book(plan: dict) -> dict:
    """Sends the booking; a clear refusal when Kuaidi100 does not answer or does not book."""
    try:
        answer = kuaidi100.book_pickup(kuaidi100.Kuaidi100Settings(), key=plan["key"], secret=plan["secret"],
                                       param=plan["param"])
    except kuaidi100.ProviderDown:
        raise Explained("pickup", N_("the courier booking service did not answer; try again in a few minutes, or "
                                     "drop the parcel off"), code="pickup_unavailable", status=503) from None
    waybill = str(answer.data.get("kuaidinum") or "").strip()
    if not answer.ok or not waybill:
        raise Explained("pickup", N_("the carrier did not book the pickup ({answer}); try another window or drop "
                                     "the parcel off"), answer=answer.message or answer.code,
                        code="pickup_refused", status=409)
    return {**plan["pickup"], "booking_ref": str(answer.data.get("taskId") or "")[:100],
            "order_id": str(answer.data.get("orderId") or "")[:100], "waybill": waybill}


def claim(db, case_id: int, actor: Actor) -> None:
    """Claims the case's booking before the carrier is asked (committed, so a second request at the same time sees
    it): a case in `booking` or `booked` is refused; `failed` may be claimed again (flows.PICKUP_CLAIM)."""
    from sqlalchemy.exc import IntegrityError

    busy = _no("pickup", N_("a courier pickup for this case is being booked or was booked already; wait for its "
                            "answer, or drop the parcel off"), "pickup_in_progress")
    try:
        with db.transaction() as session:
            # Locked (PostgreSQL): of two requests retrying a failed booking, the second sees it booking.
            row = session.scalar(select(PickupClaim).where(PickupClaim.case_id == case_id).with_for_update()
                                 .execution_options(populate_existing=True))
            now = utcnow()
            if row is None:
                # Two first requests at once: the second insert fails on the case's key (IntegrityError below).
                move(session, PICKUP_CLAIM, PickupClaim(case_id=case_id, claimed_at=now), "claim", by=actor.ref,
                     role=actor.role, at=now)
            elif row.status == "failed":
                row.claimed_at = now
                move(session, PICKUP_CLAIM, row, "reclaim", by=actor.ref, role=actor.role, at=now)
            else:
                raise busy
    except IntegrityError:
        raise busy from None


def settle_claim(session: Session, case_id: int, action: str, actor: Actor) -> None:
    """The booking's outcome: `book` (the parcel is recorded) or `fail` (free for another try)."""
    row = session.get(PickupClaim, case_id)
    if row is not None and row.status == "booking":
        move(session, PICKUP_CLAIM, row, action, by=actor.ref, role=actor.role, at=utcnow())


def book_for_case(db, *, actor: Actor, number: str, data: dict[str, Any], now: datetime) -> dict:
    """Checks (read), claims the booking, books (no transaction open), and returns what `record` writes; a refusal
    or silence from the carrier frees the claim for another try."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        plan = prepare(session, actor=actor, case=case, data=data, now=now)
    claim(db, case.id, actor)
    try:
        booked = book(plan)
    except Explained:
        with db.transaction() as session:
            settle_claim(session, case.id, "fail", actor)
        raise
    return {"carrier": plan["carrier"], "pickup": booked, "case_id": case.id}


def record(session: Session, *, actor: Actor, number: str, booked: dict,
           version: int | None) -> tuple[Shipment, CaseRecord]:
    from .shipments import register_return

    case = cases.get_case(session, actor=actor, number=number)
    row = register_return(session, actor=actor, case=case, carrier=booked["carrier"],
                          tracking_number=booked["pickup"]["waybill"], version=version, pickup=booked["pickup"])
    settle_claim(session, case.id, "book", actor)
    return row, case


@router.post("/cases/{number}/pickup", status_code=201)
async def book_pickup(number: str, body: PickupBooking, request: Request):
    """Books a courier pickup (上门取件) for the return and records the parcel with its waybill number."""
    from ..db import utcnow
    from .shipments import shipment_dict

    actor = await current_actor(request)
    db = request.app.state.db
    args = {"actor": actor, "number": number, "data": body.model_dump(), "now": utcnow()}
    booked = book_for_case(db, **args) if db.dialect == "sqlite" else await run_in_threadpool(
        lambda: book_for_case(db, **args))

    def work(session):
        row, case = record(session, actor=actor, number=number, booked=booked, version=body.version)
        return 201, {"shipment": shipment_dict(row), "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)
