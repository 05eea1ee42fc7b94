"""Inspection per case line (what we decided), kept apart from receiving (what arrived); and the disposition of
every returned unit, each an inventory movement the shop's stock can follow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.models import Attachment, CaseState as S
from ..cases.service import get_case
from ..cases.store import CaseRecord
from ..cases.visibility import CUSTOMER
from ..cases.workflow import fire
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_
from ..logistics.staff import staff_merchant
from ..money import MoneyError, fmt, to_minor
from ..notify import webhooks
from ..orders.models import OrderLine, Product
from . import checklists
from .models import Disposition, Inspection, Receipt
from .receiving import DESK, _check_photos, lock_case, received_so_far, expected, receipt_dicts

VERDICTS = ("accept", "accept_with_deduction", "reject")
GRADES = ("A", "B", "C", "D")
DISPOSITIONS = ("restock", "refurbish", "return_to_vendor", "scrap", "donate")


def _categories(session: Session, case: CaseRecord) -> dict[int, str | None]:
    ids = {line.order_line_id: line.id for line in case.lines}
    rows = session.execute(select(OrderLine.id, OrderLine.category).where(OrderLine.id.in_(list(ids))))
    return {ids[order_line_id]: category for order_line_id, category in rows}


def checklists_of(session: Session, case: CaseRecord, locale: str) -> dict[int, list[dict]]:
    """Each line's checklist, labelled in `locale`."""
    cats = _categories(session, case)
    return {line.id: checklists.describe(checklists.for_category(session, case.merchant_id, cats.get(line.id)), locale)
            for line in case.lines}


def inspect(session: Session, *, actor: Actor, number: str, items: list[dict]) -> tuple[CaseRecord, list[Inspection]]:
    """Records the inspection of the given lines; once every line that arrived is inspected, the case is
    inspected through the workflow with each line's accepted quantity and verdict."""
    staff_merchant(actor, DESK, "inspect returns")
    case = get_case(session, actor=actor, number=number)
    lock_case(session, case.id)
    if case.state != S.RECEIVED:
        raise Explained("number", N_("case {number} is {state}; inspection happens after receiving"),
                        number=case.number, state=case.state, code="illegal_transition", status=409)
    by_id = {line.id: line for line in case.lines}
    got = received_so_far(session, list(by_id))
    done = set(session.scalars(select(Inspection.case_line_id).where(Inspection.case_id == case.id)))
    cats = _categories(session, case)
    rows = []
    for i, item in enumerate(items):
        line = by_id.get(item["line_id"])
        f = f"lines[{i}]"
        if line is None:
            raise Explained(f"{f}.line_id", N_("not a line of case {number}; lines: {lines}"), number=case.number,
                            lines=sorted(by_id), allowed=sorted(by_id))
        if got.get(line.id, 0) == 0:
            raise Explained(f"{f}.line_id", N_("{sku} never arrived: nothing of this line was received"),
                            sku=line.sku, code="line_not_arrived", status=409)
        if line.id in done:
            raise Explained(f"{f}.line_id", N_("{sku} is already inspected"), sku=line.sku,
                            code="already_inspected", status=409)
        done.add(line.id)
        keys = checklists.for_category(session, case.merchant_id, cats.get(line.id))
        # Answers under a question's older name (the API before the questions all read "yes = fine") count.
        answers = checklists.current(item.get("checklist") or {}) if isinstance(item.get("checklist"), dict) \
            else {}
        missing = [k for k in keys if k not in answers]
        unknown = [k for k in answers if k not in keys]
        if missing or unknown:
            text = N_("missing {names}; this category's checklist is {keys}") if missing else \
                N_("unknown {names}; this category's checklist is {keys}")
            raise Explained(f"{f}.checklist", text, names=missing or unknown, keys=keys,
                            code="checklist_incomplete", allowed=keys)
        bad = [k for k, v in answers.items() if v is not None and not isinstance(v, bool)]
        if bad:
            raise Explained(f"{f}.checklist.{bad[0]}", N_("answer true, false or null (not applicable)"))
        verdict, grade = item.get("verdict"), item.get("grade")
        if verdict not in VERDICTS:
            raise Explained(f"{f}.verdict", N_("'{verdict}' is not a verdict"), verdict=verdict, allowed=list(VERDICTS))
        if grade not in GRADES:
            raise Explained(f"{f}.grade", N_("'{grade}' is not a grade"), grade=grade, allowed=list(GRADES))
        quantity = got[line.id]
        deduction = _deduction(item.get("deduction"), verdict, line, quantity, case.currency, f"{f}.deduction")
        reason = (item.get("reason") or "").strip()
        if verdict == "reject" and not reason:
            raise Explained(f"{f}.reason", N_("a rejection needs the reason the customer will read"),
                            code="validation")
        _check_photos(session, case, item.get("photos") or [])
        row = Inspection(merchant_id=case.merchant_id, case_id=case.id, case_line_id=line.id, quantity=quantity,
                         accepted_quantity=0 if verdict == "reject" else quantity, checklist=answers, grade=grade,
                         verdict=verdict, deduction=deduction, currency=case.currency, reject_reason=reason,
                         note=(item.get("note") or "").strip(), photos=item.get("photos") or [],
                         inspector=actor.ref, created_at=utcnow())
        session.add(row)
        rows.append(row)
    session.flush()
    arrived = {line_id for line_id, qty in got.items() if qty > 0}
    if arrived <= done:
        _fire_inspect(session, actor, case)
    return case, rows


def _deduction(value, verdict: str, line, quantity: int, currency: str, field: str) -> int:
    if verdict != "accept_with_deduction":
        if value not in (None, "", "0", 0):
            raise Explained(field, N_("only a verdict of accept_with_deduction carries a deduction"))
        return 0
    if isinstance(value, float) or value is None or isinstance(value, bool):
        raise Explained(field, N_("give the amount as a decimal string such as \"12.30\""))
    try:
        minor = to_minor(Decimal(str(value)) if not isinstance(value, str) else value, currency)
    except (MoneyError, ArithmeticError, ValueError):
        raise Explained(field, N_("'{value}' is not an amount in {currency}"), value=value,
                        currency=currency) from None
    limit = (line.unit_price or 0) * quantity
    if minor <= 0 or minor > limit:
        raise Explained(field, N_("must be above 0 and at most {limit} {currency} (the line's value)"),
                        limit=fmt(limit, currency), currency=currency, code="deduction_out_of_range")
    return minor


def _fire_inspect(session: Session, actor: Actor, case: CaseRecord) -> None:
    found = {r.case_line_id: r for r in session.scalars(select(Inspection).where(Inspection.case_id == case.id))}
    lines = []
    for line in case.lines:
        row = found.get(line.id)
        if row is None:
            lines.append({"line_id": line.id, "quantity": 0, "verdict": "not_received"})
            continue
        entry: dict[str, Any] = {"line_id": line.id, "quantity": row.accepted_quantity, "verdict": row.verdict,
                                 "grade": row.grade}
        if row.deduction:
            entry["deduction"] = {"amount_minor": row.deduction, "amount": fmt(row.deduction, row.currency),
                                  "currency": row.currency, "kind": "damage"}
        if row.reject_reason:
            entry["note"] = row.reject_reason
        lines.append(entry)
    fire(session, case, "inspect", actor, payload={"lines": lines})


def evidence(session: Session, case: CaseRecord) -> list[dict[str, Any]]:
    """The evidence the customer can see on the case (their own photos and videos first, then what staff shared
    with them), for the inspector to compare the goods with."""
    rows = session.scalars(select(Attachment).where(Attachment.case_id == case.id,
                                                    Attachment.visibility == CUSTOMER)
                           .order_by(Attachment.id))
    found = [{"id": a.id, "filename": a.filename, "kind": a.kind,
              "by_customer": (a.uploaded_by or "").startswith("customer:")} for a in rows]
    return sorted(found, key=lambda a: not a["by_customer"])


def inspection_dict(row: Inspection) -> dict[str, Any]:
    return {"line_id": row.case_line_id, "quantity": row.quantity, "accepted_quantity": row.accepted_quantity,
            "checklist": row.checklist, "grade": row.grade, "verdict": row.verdict,
            "deduction": fmt(row.deduction, row.currency) if row.deduction else None, "currency": row.currency,
            "reason": row.reject_reason or None, "note": row.note, "photos": row.photos, "inspector": row.inspector,
            "created_at": row.created_at}


# ---- disposition ----------------------------------------------------------------------------------------------

def dispose(session: Session, *, actor: Actor, number: str, line_id: int, kind: str, quantity: int | None,
            units: list[int] | None, supplier: str | None, note: str) -> list[Disposition]:
    """Sends returned units of a line to stock, refurbishment, the vendor, scrap or donation; each unit once."""
    staff_merchant(actor, DESK, "dispose of returned goods")
    case = get_case(session, actor=actor, number=number)
    lock_case(session, case.id)
    line = next((x for x in case.lines if x.id == line_id), None)
    if line is None:
        ids = [x.id for x in case.lines]
        raise Explained("line_id", N_("not a line of case {number}; lines: {lines}"), number=case.number, lines=ids,
                        allowed=ids)
    if kind not in DISPOSITIONS:
        raise Explained("kind", N_("'{kind}' is not a disposition"), kind=kind, allowed=list(DISPOSITIONS))
    if session.scalar(select(Inspection.id).where(Inspection.case_line_id == line.id)) is None:
        raise Explained("line_id", N_("{sku} is not inspected yet; inspect before deciding where it goes"),
                        sku=line.sku, code="not_inspected", status=409)
    received = received_so_far(session, [line.id]).get(line.id, 0)
    taken = set(session.scalars(select(Disposition.unit_no).where(Disposition.case_line_id == line.id)))
    if units:
        for i, unit in enumerate(units):
            if not 1 <= unit <= received:
                raise Explained(f"units[{i}]", N_("unit {unit} does not exist: units 1..{received} arrived"),
                                unit=unit, received=received, allowed=list(range(1, received + 1)))
            if unit in taken or units.count(unit) > 1:
                raise Explained(f"units[{i}]", N_("unit {unit} of {sku} already has a disposition"), unit=unit,
                                sku=line.sku, code="already_disposed", status=409)
        chosen = list(units)
    else:
        free = [u for u in range(1, received + 1) if u not in taken]
        want = quantity or 1
        if want > len(free):
            raise Explained("quantity", N_("only {left} unit(s) of {sku} are left to dispose of ({received} arrived, "
                                           "{disposed} already disposed)"),
                            left=len(free), sku=line.sku, received=received, disposed=len(taken),
                            code="already_disposed", status=409)
        chosen = free[:want]
    if kind == "return_to_vendor":
        supplier = (supplier or "").strip() or session.scalar(select(Product.supplier).where(
            Product.merchant_id == case.merchant_id, Product.sku == line.sku))
        if not supplier:
            raise Explained("supplier", N_("return to vendor needs the supplier"), code="validation")
    now = utcnow()
    rows = []
    for unit in chosen:
        row = Disposition(merchant_id=case.merchant_id, case_id=case.id, case_line_id=line.id, unit_no=unit,
                          sku=line.sku or "", kind=kind, supplier=supplier if kind == "return_to_vendor" else None,
                          note=note, created_by=actor.ref, created_at=now)
        session.add(row)
        rows.append(row)
        movement = {"case": case.number, "order": case.order_number, "sku": line.sku, "quantity": 1, "unit": unit,
                    "disposition": kind, "to_sellable_stock": kind == "restock", "supplier": row.supplier,
                    "at": now.isoformat()}
        # The webhook goes to each endpoint that wants it; without one, none is queued (no destination).
        store.enqueue_many(session, merchant_id=case.merchant_id, case_id=case.id, at=now, messages=[
            ("inventory_movement", movement),
            *webhooks.event_deliveries(session, case.merchant_id, "inventory.movement", movement)])
    session.flush()
    return rows


def disposition_dict(row: Disposition) -> dict[str, Any]:
    return {"line_id": row.case_line_id, "unit": row.unit_no, "sku": row.sku, "kind": row.kind,
            "supplier": row.supplier, "note": row.note, "by": row.created_by, "at": row.created_at}


def dossier(session: Session, case: CaseRecord, locale: str) -> dict[str, Any]:
    """Everything the warehouse knows about a case: what arrived, what we decided, where each unit went."""
    receipts = session.scalars(select(Receipt).where(Receipt.case_id == case.id).order_by(Receipt.id))
    inspections = session.scalars(select(Inspection).where(Inspection.case_id == case.id).order_by(Inspection.id))
    dispositions = session.scalars(select(Disposition).where(Disposition.case_id == case.id)
                                   .order_by(Disposition.case_line_id, Disposition.unit_no))
    return {"case": expected(session, case),
            "arrived": receipt_dicts(session, list(receipts)),
            "decided": [inspection_dict(r) for r in inspections],
            "dispositions": [disposition_dict(r) for r in dispositions],
            "checklists": checklists_of(session, case, locale)}


def disposed_count(session: Session, case_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Disposition).where(Disposition.case_id == case_id)) or 0
