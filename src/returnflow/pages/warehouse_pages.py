"""The warehouse's screens: the receiving desk (a barcode scanner types the code and Enter), the exceptions queue,
and the inspection and disposition of each case line. Every change goes through the warehouse services the API
calls (`warehouse.receiving`, `warehouse.inspection`); these pages only read forms and show results."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from ..cases import service as cases, store
from ..cases.models import CaseState as S
from ..errors import AppError
from ..warehouse import checklists, inspection, receiving
from ..warehouse.models import Receipt
from . import words
from .console import (
    attach_photos, close_all, ctx, error_of, files_of, receive_photos, screen_actor, text, whole,
)
from .frame import N_, PageError, check_csrf, locale_of, redirect, render

router = APIRouter(include_in_schema=False)

PARCEL_CONDITIONS = {
    "intact": N_("Intact"), "damaged_packaging": N_("Packaging damaged"), "opened": N_("Opened (seal broken)"),
    "wet": N_("Wet"), "crushed": N_("Crushed"),
}
LINE_CONDITIONS = {
    "as_expected": N_("As expected"), "damaged": N_("Damaged"), "used": N_("Used"),
    "missing_parts": N_("Parts missing"), "wrong_item": N_("Wrong item"),
}
GRADES = words.GRADES
VERDICTS = {"accept": N_("Accept"), "accept_with_deduction": N_("Accept with a deduction"), "reject": N_("Reject")}
DISPOSITIONS = {
    "restock": N_("Restock"), "refurbish": N_("Refurbish"), "return_to_vendor": N_("Return to the vendor"),
    "scrap": N_("Scrap"), "donate": N_("Donate"),
}
SCANNED_BY = {"case_number": N_("case number"), "tracking_number": N_("tracking number"),
              "order_number": N_("order number")}
WORDS = {"parcel_conditions": PARCEL_CONDITIONS, "line_conditions": LINE_CONDITIONS, "verdicts": VERDICTS,
         "grades": GRADES,
         "dispositions": DISPOSITIONS, "scanned_by": SCANNED_BY}


# ---- receiving desk --------------------------------------------------------------------------------------------

def _desk(request: Request, actor, code: str, error: dict | None = None, done: str = "") -> dict[str, Any]:
    result = None
    code = code.strip()[:100]
    if code:
        with request.app.state.db.read() as session:
            result = receiving.scan(session, actor=actor, code=code)
    return ctx(actor, code=code, result=result, error=error, done=done, **WORDS)


@router.get("/staff/receiving")
async def desk(request: Request, code: str = "", done: str = ""):
    actor = screen_actor(request, "warehouse")
    return render(request, "staff/warehouse/receiving.html", _desk(request, actor, code, done=done[:40]))


def _parcel_lines(form, expected: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for line in expected["lines"]:
        quantity = whole(form, f"qty_{line['line_id']}")
        if not quantity:
            continue
        condition = text(form, f"cond_{line['line_id']}", 40) or "as_expected"
        lines.append({"line_id": line["line_id"], "quantity": quantity, "condition": condition})
    if not lines:
        raise PageError("quantity", N_("Enter how many of at least one line arrived."),
                        field=f"qty_{expected['lines'][0]['line_id']}" if expected["lines"] else None)
    return lines


@router.post("/staff/receiving/parcels")
async def record_parcel(request: Request):
    """Records the parcel: with the case's lines (partial arrivals per line) when the scan found one case, or as
    an exception when it found none. Photos from the phone camera go on the case first."""
    actor = screen_actor(request, "warehouse")
    form = await request.form(max_files=10, max_fields=400)
    check_csrf(request, form)
    code = text(form, "code", 100)
    number = text(form, "case", 40)
    uploads: list = []
    try:
        files = files_of(form)
        if files and not number:
            raise PageError("photos", N_("Photos go on a case: match the parcel to a case first."), field="photos")
        uploads = await receive_photos(request, files)
        with request.app.state.db.transaction() as session:
            lines = None
            if number:
                case = cases.get_case(session, actor=actor, number=number)
                lines = _parcel_lines(form, receiving.expected(session, case))
                photos = attach_photos(request, session, actor, case, uploads,
                                       text(form, "visibility", 10) or None) if uploads else []
                code = case.number
            else:
                photos = []
            status, _receipt, case = receiving.receive_parcel(
                session, actor=actor, code=code, condition=text(form, "condition", 40) or "intact", arrived_at=None,
                note=text(form, "note"), photos=photos, lines=lines,
                carrier=text(form, "carrier", 20) or None, tracking_number=text(form, "tracking_number", 60) or None)
    except AppError as exc:
        return render(request, "staff/warehouse/receiving.html",
                      _desk(request, actor, number or code, error_of(request, exc)), status=exc.status)
    finally:
        close_all(uploads)
    flash = {"matched": "parcel_received", "unmatched": "parcel_exception"}.get(status, "parcel_case_not_receiving")
    target = f"/staff/receiving?done={case.number}" if case is not None else "/staff/receiving/exceptions"
    return redirect(request, target, flash=flash)


@router.get("/staff/receiving/exceptions")
async def exceptions(request: Request):
    actor = screen_actor(request, "warehouse")
    return render(request, "staff/warehouse/exceptions.html", _exceptions(request, actor))


def _exceptions(request: Request, actor, error: dict | None = None, failed: int | None = None) -> dict[str, Any]:
    with request.app.state.db.read() as session:
        waiting = receiving.exceptions(session, actor=actor, status="unmatched", limit=200)
        matched = receiving.exceptions(session, actor=actor, status="matched", limit=200)
        numbers = dict(session.execute(select(Receipt.id, Receipt.case_id).where(
            Receipt.id.in_([r["id"] for r in matched]))).all()) if matched else {}
        names = {c.id: c.number for c in store.load_many(session, [i for i in numbers.values() if i])} \
            if numbers else {}
    recent = [dict(r, case=names.get(numbers.get(r["id"]), "")) for r in matched[-20:]]
    return ctx(actor, waiting=waiting, recent=recent, error=error, failed=failed, **WORDS)


@router.post("/staff/receiving/exceptions/{receipt_id}/match")
async def match(receipt_id: int, request: Request):
    actor = screen_actor(request, "warehouse")
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    number = text(form, "case", 40)
    try:
        if not number:
            raise PageError("required", N_("Type or scan the case number of this parcel."), field="case")
        with request.app.state.db.transaction() as session:
            _receipt, case = receiving.match_exception(session, actor=actor, receipt_id=receipt_id, number=number,
                                                       lines=None, photos=[])
    except AppError as exc:
        return render(request, "staff/warehouse/exceptions.html",
                      _exceptions(request, actor, error_of(request, exc), failed=receipt_id), status=exc.status)
    return redirect(request, f"/staff/receiving?done={case.number}", flash="parcel_matched")


# ---- inspection and disposition --------------------------------------------------------------------------------

def _bench(request: Request, actor, number: str, error: dict | None = None, line_id: int | None = None
           ) -> dict[str, Any]:
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        dossier = inspection.dossier(session, case, locale)
        evidence = inspection.evidence(session, case)
    # The saved answers in words, as the questions read today.
    decided = {d["line_id"]: dict(d, answers=checklists.answered(d["checklist"], locale)) for d in dossier["decided"]}
    disposed: dict[int, list] = {}
    for d in dossier["dispositions"]:
        disposed.setdefault(d["line_id"], []).append(d)
    lines = []
    for line, expected in zip(case.lines, dossier["case"]["lines"]):
        lines.append({"line": line, "received": expected["received"], "inspection": decided.get(line.id),
                      "checklist": dossier["checklists"].get(line.id, []), "dispositions": disposed.get(line.id, []),
                      "left": expected["received"] - len(disposed.get(line.id, []))})
    return ctx(actor, case=case, lines=lines, arrived=dossier["arrived"], error=error, error_line=line_id,
               can_inspect=case.state == S.RECEIVED.value, state_label=words.state_label(case.state, locale),
               evidence=evidence, **WORDS)


@router.get("/staff/warehouse/cases/{number}")
async def bench(number: str, request: Request, line: str = ""):
    # `line` names the line just saved: the redirect then differs from the page's own address by more than its
    # #fragment, so the upload script's navigation loads the page again.
    actor = screen_actor(request, "warehouse")
    return render(request, "staff/warehouse/inspect.html", _bench(request, actor, number))


def _answers(form, checklist: list[dict]) -> dict[str, bool | None]:
    """The checklist as answered: the "all fine" button answers yes to every question (it is a submit button, so
    it works without JavaScript); otherwise each question needs yes, no or n/a, and one left out is named."""
    if text(form, "all_fine", 5) == "yes":
        return {item["key"]: True for item in checklist}
    answers: dict[str, bool | None] = {}
    for item in checklist:
        value = text(form, f"ck_{item['key']}", 5)
        if value not in ("yes", "no", "na"):
            raise PageError("checklist_incomplete", N_("Answer every question of the checklist: “{question}”."),
                            field=f"ck_{item['key']}", question=item["label"])
        answers[item["key"]] = {"yes": True, "no": False}.get(value)
    return answers


@router.post("/staff/warehouse/cases/{number}/inspections")
async def inspect(number: str, request: Request):
    """One line's inspection: the category's checklist, grade, verdict (deduction or reason), photos."""
    actor = screen_actor(request, "warehouse")
    form = await request.form(max_files=10, max_fields=100)
    check_csrf(request, form)
    raw_line = text(form, "line_id", 20)
    line_id = int(raw_line) if raw_line.isdigit() else None
    uploads: list = []
    try:
        uploads = await receive_photos(request, files_of(form))
        with request.app.state.db.transaction() as session:
            case = cases.get_case(session, actor=actor, number=number)
            checklist = inspection.checklists_of(session, case, locale_of(request)).get(line_id, [])
            answers = _answers(form, checklist)
            photos = attach_photos(request, session, actor, case, uploads,
                                   text(form, "visibility", 10) or None) if uploads else []
            item = {"line_id": line_id if line_id is not None else -1, "checklist": answers,
                    "grade": text(form, "grade", 2), "verdict": text(form, "verdict", 40),
                    "deduction": text(form, "deduction", 30) or None, "reason": text(form, "reason"),
                    "note": text(form, "note"), "photos": photos}
            inspection.inspect(session, actor=actor, number=number, items=[item])
    except AppError as exc:
        return render(request, "staff/warehouse/inspect.html",
                      _bench(request, actor, number, error_of(request, exc), line_id), status=exc.status)
    finally:
        close_all(uploads)
    return redirect(request, f"/staff/warehouse/cases/{number}?line={line_id}#line-{line_id}", flash="inspected")


@router.post("/staff/warehouse/cases/{number}/dispositions")
async def dispose(number: str, request: Request):
    """Where units of a line go: restock, refurbish, return to the vendor (supplier), scrap or donate."""
    actor = screen_actor(request, "warehouse")
    form = await request.form(max_files=0, max_fields=20)
    check_csrf(request, form)
    raw_line = text(form, "line_id", 20)
    line_id = int(raw_line) if raw_line.isdigit() else -1
    try:
        quantity = whole(form, "quantity")
        if quantity == 0:
            raise PageError("quantity", N_("Enter a quantity of 1 or more."), field="quantity")
        with request.app.state.db.transaction() as session:
            inspection.dispose(session, actor=actor, number=number, line_id=line_id, kind=text(form, "kind", 40),
                               quantity=quantity, units=None, supplier=text(form, "supplier", 200) or None,
                               note=text(form, "note"))
    except AppError as exc:
        return render(request, "staff/warehouse/inspect.html",
                      _bench(request, actor, number, error_of(request, exc), line_id), status=exc.status)
    return redirect(request, f"/staff/warehouse/cases/{number}?line={line_id}#line-{line_id}", flash="disposed")
