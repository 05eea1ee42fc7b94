"""The receiving desk: a scan finds the case (case number, tracking number or order number), the parcel and
what was in it are recorded per line, and the case is received through the workflow. A parcel that matches
nothing becomes an exception, to be matched later; nothing scanned is lost."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, literal, select, union_all
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.evidence import store_upload, view_columns
from ..cases.models import Attachment, CaseState as S
from ..cases.store import CaseRecord
from ..cases.visibility import INTERNAL
from ..cases.workflow import fire
from ..db import utcnow
from ..errors import Explained, NotFound
from ..flows import move
from ..i18n import N_, gettext
from ..logistics.carriers import normalise_number
from ..logistics.models import Shipment
from ..logistics.staff import staff_merchant
from ..orders import units
from ..orders.models import Order
from .flows import RECEIPT
from .models import Receipt, ReceiptLine, ReceiptPhoto

DESK = ("warehouse", "supervisor", "admin")
PARCEL_CONDITIONS = ("intact", "damaged_packaging", "opened", "wet", "crushed")
LINE_CONDITIONS = ("as_expected", "damaged", "used", "missing_parts", "wrong_item")
MAX_PARCEL_PHOTOS = 20
# An order number finds only cases still waiting for goods (an order may have many finished cases).
WAITING = (S.AWAITING_RETURN.value, S.RETURN_IN_TRANSIT.value, S.RECEIVED.value)

CASES = store.CASES
SHIPMENTS = Shipment.__table__
ORDERS = Order.__table__
RECEIPT_LINES = ReceiptLine.__table__
RECEIPTS = Receipt.__table__

# One round trip: the three ways a parcel names its case, each an indexed lookup.
_LOOKUP = union_all(
    select(CASES.c.id, CASES.c.number, literal("case_number").label("by")).where(
        CASES.c.number == bindparam("upper"), CASES.c.merchant_id == bindparam("merchant_id")),
    select(CASES.c.id, CASES.c.number, literal("tracking_number").label("by"))
    .join(SHIPMENTS, SHIPMENTS.c.case_id == CASES.c.id).where(
        SHIPMENTS.c.tracking_number.in_(bindparam("waybills", expanding=True)),
        SHIPMENTS.c.merchant_id == bindparam("merchant_id"),
        SHIPMENTS.c.direction == "inbound"),
    select(CASES.c.id, CASES.c.number, literal("order_number").label("by"))
    .join(ORDERS, ORDERS.c.id == CASES.c.order_id).where(
        ORDERS.c.number == bindparam("raw"), ORDERS.c.merchant_id == bindparam("merchant_id"),
        CASES.c.state.in_(WAITING)),
)
_RECEIVED = (select(RECEIPT_LINES.c.case_line_id, func.sum(RECEIPT_LINES.c.quantity))
             .where(RECEIPT_LINES.c.case_line_id.in_(bindparam("line_ids", expanding=True)))
             .group_by(RECEIPT_LINES.c.case_line_id))


# A carrier's barcode may add a parcel-of-shipment suffix to the waybill (JD: JDVA12345678901-1-1-).
_PARCEL_SUFFIX = re.compile(r"-\d{1,3}-\d{1,3}-?$")


def waybill_forms(code: str) -> list[str]:
    """The ways a scanned or typed waybill may be stored on a shipment: upper case without spaces (as logistics
    stores it), also without the dashes people type and without a barcode's parcel suffix."""
    base = normalise_number(code)
    forms = [base, base.replace("-", ""), _PARCEL_SUFFIX.sub("", base)]
    forms.append(forms[2].replace("-", ""))
    return [f for i, f in enumerate(forms) if f and f not in forms[:i]]


def lookup(session: Session, *, merchant_id: int, code: str) -> list[dict[str, Any]]:
    """The cases a scanned code names: [{id, number, by}], one entry per case."""
    raw = (code or "").strip()
    found: dict[int, dict[str, Any]] = {}
    for row in store.run(session, _LOOKUP, {"upper": raw.replace(" ", "").upper(), "raw": raw,
                                            "waybills": waybill_forms(raw) or [""], "merchant_id": merchant_id}):
        found.setdefault(row[0], {"id": row[0], "number": row[1], "by": row[2]})
    return list(found.values())


def received_so_far(session: Session, line_ids: list[int]) -> dict[int, int]:
    """Units of each case line recorded at the desk across all its parcels."""
    if not line_ids:
        return {}
    return {line_id: int(qty) for line_id, qty in store.run(session, _RECEIVED, {"line_ids": line_ids})}


def _check_code(code: str) -> str:
    code = (code or "").strip()
    if not code or len(code) > 100:
        raise Explained("code", N_("scan or type the case number, tracking number or order number (1-100 characters)"))
    return code


def _check_condition(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise Explained(field, N_("'{value}' is not a known condition"), value=value, allowed=list(allowed))
    return value


def scan(session: Session, *, actor: Actor, code: str, locale: str = "zh-CN") -> dict[str, Any]:
    """What a scan finds: the case with its lines and what is still expected, or candidates, or nothing (each with
    what the clerk does next)."""
    merchant_id = staff_merchant(actor, DESK + ("agent",), "use the receiving desk")
    matches = lookup(session, merchant_id=merchant_id, code=_check_code(code))
    if len(matches) != 1:
        numbers = [m["number"] for m in matches]
        if numbers:
            text = gettext(locale, N_("{scanned} matches {count} cases ({cases}); scan the case number on the parcel "
                                      "or open the parcel to see which case it is"))
        else:
            text = gettext(locale, N_("{scanned} matches no case waiting for goods; record the parcel and it waits "
                                      "in the exceptions queue until it is matched"))
        # The list separator is the reader's (", " in English, "、" in Chinese).
        cases = gettext(locale, N_(", ")).join(numbers)
        return {"code": code, "matched": False, "candidates": numbers,
                "message": text.format(scanned=code, count=len(numbers), cases=cases)}
    case = store.load_many(session, [matches[0]["id"]])[0]
    return {"code": code, "matched": True, "by": matches[0]["by"], "case": expected(session, case)}


def received_now(session: Session, case: CaseRecord) -> dict[int, int]:
    """Units of each case line received for the case's current round: the parcels' history, capped by the line's
    own count (a reopened repair expects its unit again, CN12)."""
    got = received_so_far(session, [line.id for line in case.lines])
    return {line.id: min(got.get(line.id, 0), line.received_quantity) for line in case.lines}


def expected(session: Session, case: CaseRecord) -> dict[str, Any]:
    got = received_now(session, case)
    return {"number": case.number, "state": case.state, "order": case.order_number, "version": case.version,
            "lines": [{"line_id": line.id, "sku": line.sku, "title": line.title, "claimed": line.quantity,
                       "received": got.get(line.id, 0), "expected": line.quantity - got.get(line.id, 0)}
                      for line in case.lines]}


def receive_parcel(session: Session, *, actor: Actor, code: str, condition: str, arrived_at: datetime | None,
                   note: str, photos: list[int], lines: list[dict] | None, carrier: str | None = None,
                   tracking_number: str | None = None) -> tuple[str, Receipt, CaseRecord | None]:
    """Records a parcel: matched to one case it is received (per line); matching nothing it is an exception;
    matching several cases it is refused with the candidates, so the clerk scans the case number instead."""
    merchant_id = staff_merchant(actor, DESK, "receive parcels")
    code = _check_code(code)
    _check_condition(condition, PARCEL_CONDITIONS, "condition")
    matches = lookup(session, merchant_id=merchant_id, code=code)
    if len(matches) > 1:
        numbers = [m["number"] for m in matches]
        raise Explained("code", N_("{scanned} matches {count} cases; scan the case number on the parcel instead"),
                        scanned=code, count=len(numbers), code="ambiguous_scan", status=409, allowed=numbers)
    receipt = Receipt(merchant_id=merchant_id, scanned_code=code, carrier=carrier, tracking_number=tracking_number,
                      arrived_at=arrived_at or utcnow(), condition=condition, note=note, photos=[],
                      received_by=actor.ref, created_at=utcnow())
    if not matches:
        if photos:
            raise Explained("photos", N_("these are attachment ids of a case, and the parcel matches none: upload "
                                         "the photos to the exceptions queue entry instead "
                                         "(POST /receiving/exceptions/{{id}}/photos)"), allowed=[])
        if lines:
            raise Explained("lines", N_("a parcel that matches no case has no case lines yet"))
        _move(session, receipt, "hold", actor)
        return "unmatched", receipt, None
    case = store.load_many(session, [matches[0]["id"]])[0]
    if case.state not in WAITING:
        # The parcel is here whatever the case says (cancelled, already inspected, not approved yet): it waits in
        # the exceptions queue with the reason, rather than being turned away.
        receipt.note = f"{note}\n[{case.number} is {case.state}: not waiting for goods]".strip()
        _move(session, receipt, "hold", actor, case=case.number, case_state=str(case.state))
        return "case_not_receiving", receipt, None
    _record(session, actor, case, receipt, lines, condition, photos)
    return "matched", receipt, case


def match_exception(session: Session, *, actor: Actor, receipt_id: int, number: str, lines: list[dict] | None,
                    photos: list[int]) -> tuple[Receipt, CaseRecord]:
    """Matches a parcel from the exceptions queue to its case and receives it."""
    receipt = _exception(session, actor, receipt_id, "match parcels")
    if receipt.status != "unmatched":
        raise Explained("receipt_id", N_("this parcel was already matched to a case"), code="already_matched",
                        status=409)
    case = store.load(session, actor=actor, number=number)
    if case is None:
        raise NotFound("case", number, field="case")
    _record(session, actor, case, receipt, lines, receipt.condition, photos)
    return receipt, case


def _record(session: Session, actor: Actor, case: CaseRecord, receipt: Receipt, lines: list[dict] | None,
            condition: str, photos: list[int]) -> None:
    """Writes the parcel's lines and fires 'receive' with each line's total received so far."""
    so_far = received_now(session, case)
    by_id = {line.id: line for line in case.lines}
    by_sku = {line.sku: line for line in case.lines}
    default_condition = "damaged" if condition == "crushed" else "as_expected"
    if lines is None:
        items = [(line, line.quantity - so_far.get(line.id, 0), default_condition) for line in case.lines
                 if line.quantity > so_far.get(line.id, 0)]
        if not items:
            raise Explained("lines", N_("everything this case claims has already been received"),
                            code="nothing_expected", status=409)
    else:
        items, seen = [], set()
        for i, item in enumerate(lines):
            line = by_id.get(item.get("line_id")) if item.get("line_id") is not None else by_sku.get(item.get("sku"))
            if line is None:
                raise Explained(f"lines[{i}]", N_("not a line of case {number}; lines: {lines}"), number=case.number,
                                lines=sorted(by_id), allowed=sorted(by_id))
            if line.id in seen:
                raise Explained(f"lines[{i}]", N_("this line is listed twice"))
            seen.add(line.id)
            items.append((line, item["quantity"], _check_condition(item.get("condition") or default_condition,
                                                                    LINE_CONDITIONS, f"lines[{i}].condition")))
        for i, item in enumerate(lines):
            serials = item.get("serial_numbers") or []
            if len(serials) > item["quantity"]:
                raise Explained(f"lines[{i}].serial_numbers", N_("more serial numbers than units in the parcel"))
            for serial in serials:
                units.record(session, items[i][0].order_line_id, serial, f"lines[{i}].serial_numbers")
        for i, (line, qty, _) in enumerate(items):
            left = line.quantity - so_far.get(line.id, 0)
            if qty > left:
                raise Explained(f"lines[{i}].quantity",
                                N_("only {left} more of {sku} expected ({claimed} claimed, {received} received)"),
                                left=left, sku=line.sku, claimed=line.quantity, received=so_far.get(line.id, 0),
                                code="quantity_exceeds")
    _check_photos(session, case, photos)
    # Received straight from the scan ("received") or matched later from the exceptions queue ("matched"): only
    # the latter were ever exceptions, and only they are listed with the queue.
    direct = receipt.id is None
    receipt.case_id, receipt.matched_at = case.id, utcnow()
    _move(session, receipt, "receive" if direct else "match", actor, case=case.number)
    receipt.photos = list(photos) + _move_parcel_photos(session, actor, case, receipt)
    for line, qty, line_condition in items:
        session.add(ReceiptLine(receipt_id=receipt.id, case_line_id=line.id, quantity=qty, condition=line_condition))
        so_far[line.id] = so_far.get(line.id, 0) + qty
    session.flush()
    fire(session, case, "receive", actor, payload={
        "receipt_id": receipt.id, "scanned_code": receipt.scanned_code, "condition": receipt.condition,
        "arrived_at": receipt.arrived_at.isoformat(),
        "lines": [{"line_id": line.id, "quantity": so_far.get(line.id, 0)} for line in case.lines],
        "this_parcel": [{"line_id": line.id, "quantity": qty, "condition": c} for line, qty, c in items]})


def _move(session: Session, receipt: Receipt, action: str, actor: Actor, **data) -> None:
    """One declared move of the parcel (warehouse/flows.RECEIPT): its status and its event row."""
    move(session, RECEIPT, receipt, action, by=actor.ref, role=actor.role, at=receipt.matched_at or receipt.created_at,
         data=data)


def _move_parcel_photos(session: Session, actor: Actor, case: CaseRecord, receipt: Receipt) -> list[int]:
    """The photos taken of the parcel while it waited in the exceptions queue become the case's evidence (the
    stored files stay where they are); returns their attachment ids."""
    moved = []
    for photo in session.scalars(select(ReceiptPhoto).where(ReceiptPhoto.receipt_id == receipt.id,
                                                            ReceiptPhoto.attachment_id.is_(None))
                                 .order_by(ReceiptPhoto.id)):
        attachment = Attachment(case_id=case.id, merchant_id=case.merchant_id, filename=photo.filename,
                                content_type=photo.content_type, kind=photo.kind, size=photo.size,
                                sha256=photo.sha256, storage_key=photo.storage_key, uploaded_by=photo.uploaded_by,
                                view_key=photo.view_key, view_type=photo.view_type, view_size=photo.view_size,
                                view_sha256=photo.view_sha256, visibility=INTERNAL)
        session.add(attachment)
        session.flush()
        photo.attachment_id = attachment.id
        fire(session, case, "attach", actor, payload={
            "attachment_id": attachment.id, "filename": attachment.filename, "kind": attachment.kind,
            "sha256": attachment.sha256, "size": attachment.size, "receipt_id": receipt.id,
            "source": "receiving_exception"}, visibility=INTERNAL)
        moved.append(attachment.id)
    return moved


def add_exception_photo(session: Session, *, actor: Actor, receipt_id: int, upload, files) -> ReceiptPhoto:
    """Records a photo of a parcel waiting in the exceptions queue, then stores the file (last, like evidence)."""
    receipt = _exception(session, actor, receipt_id, "photograph parcels")
    if receipt.status != "unmatched":
        raise Explained("receipt_id", N_("this parcel was already matched: attach the photo to its case"),
                        code="already_matched", status=409)
    if session.scalar(select(func.count()).select_from(ReceiptPhoto)
                      .where(ReceiptPhoto.receipt_id == receipt.id)) >= MAX_PARCEL_PHOTOS:
        raise Explained("file", N_("at most {most} photos per parcel"), most=MAX_PARCEL_PHOTOS,
                        code="too_many_photos", status=409)
    key = f"{receipt.merchant_id}/receipts/{receipt.id}/{upload.sha256}.{upload.ext}"
    photo = ReceiptPhoto(receipt_id=receipt.id, merchant_id=receipt.merchant_id, filename=upload.filename[:300],
                         content_type=upload.content_type, kind=upload.kind, size=upload.size, sha256=upload.sha256,
                         storage_key=key, uploaded_by=actor.ref, created_at=utcnow(),
                         **view_columns(upload, f"{receipt.merchant_id}/receipts/{receipt.id}"))
    session.add(photo)
    session.flush()
    store_upload(files, upload, key, photo.view_key)
    return photo


def exception_photo(session: Session, *, actor: Actor, receipt_id: int, photo_id: int) -> ReceiptPhoto:
    receipt = _exception(session, actor, receipt_id, "see parcel photos", roles=DESK + ("agent",), lock=False)
    photo = session.get(ReceiptPhoto, photo_id)
    if photo is None or photo.receipt_id != receipt.id:
        raise NotFound("photo", photo_id, field="photo_id")
    return photo


def lock_case(session: Session, case_id: int) -> None:
    """Two desk actions on one case (the same unit disposed of twice, the same line inspected twice) take turns:
    the second then sees what the first wrote and is refused with a clear error, not a constraint violation.
    (PostgreSQL; SQLite's single writer already takes them in turn.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(store.CASES.c.id).where(store.CASES.c.id == case_id).with_for_update())


def _exception(session: Session, actor: Actor, receipt_id: int, what: str, roles: tuple[str, ...] = DESK,
               lock: bool = True) -> Receipt:
    merchant_id = staff_merchant(actor, roles, what)
    # Locked: a parcel matched twice at once (to one case or two) is matched once; the second is told it was.
    stmt = select(Receipt).where(Receipt.id == receipt_id).execution_options(populate_existing=True)
    receipt = session.scalar(stmt.with_for_update() if lock else stmt)
    if receipt is None or receipt.merchant_id != merchant_id:
        raise Explained("receipt_id", N_("parcel {parcel} is not in the exceptions queue"), parcel=receipt_id,
                        code="not_found", status=404)
    return receipt


def _check_photos(session: Session, case: CaseRecord, photos: list[int]) -> None:
    if not photos:
        return
    known = set(session.scalars(select(Attachment.id).where(Attachment.case_id == case.id,
                                                            Attachment.id.in_(photos))))
    for i, photo in enumerate(photos):
        if photo not in known:
            raise Explained(f"photos[{i}]", N_("{photo} is not an attachment of case {number}; upload it first"),
                            photo=photo, number=case.number, code="unknown_attachment")


def receipt_dict(session: Session, receipt: Receipt) -> dict[str, Any]:
    return receipt_dicts(session, [receipt])[0]


def receipt_dicts(session: Session, receipts: list[Receipt]) -> list[dict[str, Any]]:
    """Receipts as the API shows them; their lines and parcel photos are read in one query each for all of them
    (the exceptions queue lists up to 200, which took two queries a receipt)."""
    ids = [r.id for r in receipts]
    lines: dict[int, list[ReceiptLine]] = {i: [] for i in ids}
    photos: dict[int, list[ReceiptPhoto]] = {i: [] for i in ids}
    if ids:
        for line in session.scalars(select(ReceiptLine).where(ReceiptLine.receipt_id.in_(ids))
                                    .order_by(ReceiptLine.id)):
            lines[line.receipt_id].append(line)
        for photo in session.scalars(select(ReceiptPhoto).where(ReceiptPhoto.receipt_id.in_(ids))
                                     .order_by(ReceiptPhoto.id)):
            photos[photo.receipt_id].append(photo)
    return [{"id": r.id, "status": r.status, "scanned_code": r.scanned_code,
             "carrier": r.carrier, "tracking_number": r.tracking_number,
             "arrived_at": r.arrived_at, "condition": r.condition, "note": r.note,
             "photos": r.photos, "received_by": r.received_by, "matched_at": r.matched_at,
             "parcel_photos": [{"id": p.id, "filename": p.filename, "content_type": p.content_type, "size": p.size,
                                "sha256": p.sha256, "attachment_id": p.attachment_id, "created_at": p.created_at}
                               for p in photos[r.id]],
             "lines": [{"line_id": x.case_line_id, "quantity": x.quantity, "condition": x.condition}
                       for x in lines[r.id]]}
            for r in receipts]


def exceptions(session: Session, *, actor: Actor, status: str = "unmatched", limit: int = 100) -> list[dict]:
    """The exceptions queue: parcels that matched no case (oldest first); with status "matched", those of them
    matched to their case since (a parcel received directly from its scan, status "received", never was one)."""
    merchant_id = staff_merchant(actor, DESK + ("agent",), "see the exceptions queue")
    rows = session.scalars(select(Receipt).where(Receipt.merchant_id == merchant_id, Receipt.status == status)
                           .order_by(Receipt.arrived_at, Receipt.id).limit(limit))
    return receipt_dicts(session, list(rows))
