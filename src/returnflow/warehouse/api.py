"""The warehouse API: receiving desk and exceptions queue, inspection, disposition, repair work orders."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from ..cases import files
from ..cases import service as cases
from ..cases.evidence import receive
from ..cases.views import present
from ..web import DB, JSON, CurrentActor, current_actor, locale_of, mutate
from . import inspection, receiving, repair
from .schemas import (
    DispositionCreate, ExceptionMatch, InspectionCreate, ParcelReceive, RepairCreate, RepairFinish,
)

router = APIRouter(tags=["warehouse"])


def _lines(items):
    return None if items is None else [i.model_dump() for i in items]


@router.get("/receiving/scan")
async def scan(actor: CurrentActor, db: DB, request: Request, code: str = Query(min_length=1, max_length=100)):
    """What a scanned code (case number, tracking number or order number) finds, and what is still expected."""
    with db.read() as session:
        return JSON(receiving.scan(session, actor=actor, code=code, locale=locale_of(request)))


@router.post("/receiving/parcels", status_code=201,
             responses={202: {"description": "Unmatched: the parcel waits in the exceptions queue"}})
async def receive_parcel(body: ParcelReceive, request: Request):
    """Records a parcel at the desk: matched → the case is received (per line, partial arrivals add up);
    unmatched → 202 and the parcel waits in the exceptions queue; several matches → 409 with the candidates."""
    actor = await current_actor(request)

    def work(session):
        status, receipt, case = receiving.receive_parcel(
            session, actor=actor, code=body.code, condition=body.condition, arrived_at=body.arrived_at,
            note=body.note, photos=body.photos, lines=_lines(body.lines), carrier=body.carrier,
            tracking_number=body.tracking_number)
        result = {"status": status, "receipt": receiving.receipt_dict(session, receipt)}
        if case is not None:
            result["case"] = present(session, [case], actor)[0]
        return (201 if case is not None else 202), result

    return await mutate(request, actor, work)


@router.get("/receiving/exceptions")
async def list_exceptions(actor: CurrentActor, db: DB,
                          status: str = Query("unmatched", pattern="^(unmatched|matched)$"),
                          limit: int = Query(100, ge=1, le=500)):
    """Parcels that matched no case (or, with status=matched, those matched since)."""
    with db.read() as session:
        return JSON(receiving.exceptions(session, actor=actor, status=status, limit=limit))


@router.post("/receiving/exceptions/{receipt_id}/match")
async def match_exception(receipt_id: int, body: ExceptionMatch, request: Request):
    """Matches a parcel from the exceptions queue to its case; the case is received."""
    actor = await current_actor(request)

    def work(session):
        receipt, case = receiving.match_exception(session, actor=actor, receipt_id=receipt_id, number=body.case,
                                                  lines=_lines(body.lines), photos=body.photos)
        return 200, {"status": "matched", "receipt": receiving.receipt_dict(session, receipt),
                     "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)


_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/receiving/exceptions/{receipt_id}/photos", status_code=201, openapi_extra=_UPLOAD_BODY)
async def add_exception_photo(receipt_id: int, request: Request):
    """A photo of a parcel waiting in the exceptions queue (multipart field `file`; type checked from the content).
    When the parcel is matched, its photos become the case's attachments."""
    actor = await current_actor(request)
    settings = request.app.state.settings
    incoming = await receive(request, settings)
    try:
        def work(session):
            photo = receiving.add_exception_photo(session, actor=actor, receipt_id=receipt_id, upload=incoming,
                                                  files=request.app.state.store)
            return 201, {"id": photo.id, "filename": photo.filename, "content_type": photo.content_type,
                         "size": photo.size, "sha256": photo.sha256}

        return await mutate(request, actor, work, fingerprint=incoming.fingerprint())
    finally:
        incoming.close()


@router.get("/receiving/exceptions/{receipt_id}/photos/{photo_id}",
            responses={200: {"description": "The photo", "content": {"image/*": {}}}})
async def exception_photo(receipt_id: int, photo_id: int, actor: CurrentActor, db: DB, request: Request,
                          original: bool = False):
    """A parcel photo as people see it (location data stripped, HEIC as JPEG), its SHA-256 in X-Checksum-SHA256;
    `original=true` gives the file exactly as uploaded."""
    with db.read() as session:
        photo = receiving.exception_photo(session, actor=actor, receipt_id=receipt_id, photo_id=photo_id)
    if original:
        return files.original(request.app.state.store, photo, actor)
    return files.shown(request.app.state.store, photo,
                       **{"Content-Disposition": f'inline; filename="{photo.view_sha256 or photo.sha256}"'})


@router.get("/cases/{number}/warehouse")
async def case_warehouse(number: str, actor: CurrentActor, db: DB, request: Request):
    """What arrived (parcels, per line), what we decided (inspections), where each unit went, and the checklists."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        return JSON(inspection.dossier(session, case, locale_of(request)))


@router.post("/cases/{number}/inspections", status_code=201)
async def inspect(number: str, body: InspectionCreate, request: Request):
    """Inspects lines that arrived (checklist of the category, grade, verdict, deduction, photos); when every
    arrived line is inspected the case moves to 'inspected'."""
    actor = await current_actor(request)

    def work(session):
        case, rows = inspection.inspect(session, actor=actor, number=number,
                                        items=[i.model_dump() for i in body.lines])
        return 201, {"inspections": [inspection.inspection_dict(r) for r in rows],
                     "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)


@router.post("/cases/{number}/dispositions", status_code=201)
async def dispose(number: str, body: DispositionCreate, request: Request):
    """Sends returned units to restock, refurbish, return to vendor (supplier), scrap or donate; each unit once,
    each an inventory movement event and webhook in the outbox."""
    actor = await current_actor(request)

    def work(session):
        rows = inspection.dispose(session, actor=actor, number=number, line_id=body.line_id, kind=body.kind,
                                  quantity=body.quantity, units=body.units, supplier=body.supplier, note=body.note)
        return 201, {"dispositions": [inspection.disposition_dict(r) for r in rows]}

    return await mutate(request, actor, work)


@router.get("/cases/{number}/repairs")
async def list_repairs(number: str, actor: CurrentActor, db: DB):
    """The case's repair work orders and, per line, the 三包 counters, warranty and entitlements (CN11–CN13)."""
    with db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        return JSON(repair.repairs_of(session, case))


@router.post("/cases/{number}/repairs", status_code=201)
async def open_repair(number: str, body: RepairCreate, request: Request):
    """Opens a repair work order (mail-in after inspection, or on site); fires start_repair where it applies."""
    actor = await current_actor(request)

    def work(session):
        case, row = repair.open_repair(session, actor=actor, number=number, version=body.version,
                                       line_id=body.line_id, mode=body.mode, fault=body.fault,
                                       serial_number=body.serial_number)
        return 201, {"repair": repair.repair_dict(row), "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)


@router.post("/cases/{number}/repairs/{repair_id}/finish")
async def finish_repair(number: str, repair_id: int, body: RepairFinish, request: Request):
    """Closes a work order as repaired (the case moves on) or failed (the counters may entitle an exchange)."""
    actor = await current_actor(request)

    def work(session):
        case, row = repair.finish_repair(session, actor=actor, number=number, repair_id=repair_id,
                                         version=body.version, outcome=body.outcome, cost=body.cost,
                                         parts_waiting_days=body.parts_waiting_days, note=body.note)
        line = next(x for x in case.lines if x.order_line_id == row.order_line_id)
        return 200, {"repair": repair.repair_dict(row), "counters": repair.counters(session, case, line.order_line_id),
                     "case": present(session, [case], actor)[0]}

    return await mutate(request, actor, work)
