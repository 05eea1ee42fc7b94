"""The portal's opening of a request: the customer's orders, items and quantities, type, reason and outcome, the
policy's answer before submitting, photos and videos, then the case number (the routes join the portal's router)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select

from ..auth.actor import Actor
from ..cases import reasons as reason_taxonomy, service
from ..cases.evidence import Receiver, Upload
from ..cases.models import CaseType, Channel
from ..cases.schemas import CaseCreate, CaseLineCreate
from ..errors import AppError, NotFound
from ..merchants.models import Merchant
from ..money import fmt
from ..orders.models import Order
from ..policy.api import DryRunIn, DryRunLine, run_dry
from . import follow, words
from .frame import N_, PageError, check_csrf, locale_of, redirect, render
from .portal_pages import MAX_FILES, _context, _db, _require_customer, router

# ---- the customer's orders -----------------------------------------------------------------------------------

@router.get("/p/{merchant_code}/orders")
async def orders(merchant_code: str, request: Request):
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        rows = session.scalars(select(Order).where(Order.merchant_id == merchant.id,
                                                   Order.customer_id == actor.customer_id)
                               .order_by(Order.ordered_at.desc(), Order.id.desc()).limit(50)).all()
        cases, _ = service.list_cases(session, actor=actor, limit=100)
        order_view = []
        for order in rows:
            claims = {line.id: line.delivered_quantity - line.claimed
                      for line in service.lines_with_claims(session, order.id)}
            order_view.append({"order": order, "lines": [
                {"line": line, "price": fmt(line.unit_price, order.currency), "left": max(claims.get(line.id, 0), 0)}
                for line in order.lines]})
        return render(request, "portal/orders.html", _context(
            merchant, actor, orders=order_view, cases=cases, state_label=words.state_label))


def _own_order(session, merchant: Merchant, actor: Actor, number: str) -> Order:
    order = session.scalar(select(Order).where(Order.merchant_id == merchant.id, Order.number == number))
    if order is None or order.customer_id != actor.customer_id:
        raise NotFound("order", number, field="order")
    return order


def _reasons(session, merchant: Merchant, case_type: str, locale: str) -> list[tuple[str, str]]:
    rows = reason_taxonomy.for_merchant(session, merchant.id)
    return [(r.code, r.label_zh if locale == "zh-CN" else r.label_en) for r in rows if case_type in r.case_types]


def _reasons_all(session, merchant: Merchant, locale: str) -> list[tuple[str, str]]:
    return [(r.code, r.label_zh if locale == "zh-CN" else r.label_en)
            for r in reason_taxonomy.for_merchant(session, merchant.id)]


def _claimable(session, order: Order) -> list[dict[str, Any]]:
    return [{"line_no": line.line_no, "sku": line.sku, "title": line.title,
             "price": fmt(line.unit_price, order.currency),
             "left": max(min(line.delivered_quantity, line.quantity) - line.claimed, 0)
             if line.delivered_quantity else 0}
            for line in service.lines_with_claims(session, order.id)]


def _choice(form) -> dict[str, Any]:
    """The request as typed into the form (strings kept, so the form can be shown again)."""
    case_type = str(form.get("type") or "return_refund")
    quantities = {}
    for key in form.keys():
        if key.startswith("qty_"):
            value = str(form.get(key) or "").strip()
            if value and value != "0":
                quantities[key[4:]] = value
    return {"type": case_type if case_type in words.PORTAL_TYPES else "return_refund",
            "reason": str(form.get("reason") or ""), "quantities": quantities,
            "opened": form.get("opened") == "1", "description": str(form.get("description") or "")[:5000],
            "desired_outcome": str(form.get("desired_outcome") or "")}


def _lines_of(choice: dict[str, Any]) -> list[tuple[int, int]]:
    lines = []
    for line_no, value in choice["quantities"].items():
        try:
            qty, no = int(value), int(line_no)
        except ValueError:
            raise PageError("quantity", N_("Quantities must be whole numbers."), field=f"qty_{line_no}") from None
        if qty < 0 or qty > 1_000_000:
            raise PageError("quantity", N_("Quantities must be whole numbers."), field=f"qty_{line_no}")
        if qty:
            lines.append((no, qty))
    if not lines:
        raise PageError("no_lines", N_("Choose at least one item and how many."), field="lines")
    return lines


def _dry_run(session, actor: Actor, order: Order, choice: dict[str, Any]) -> dict[str, Any]:
    body = DryRunIn(order=order.number, type=CaseType(choice["type"]), reason=choice["reason"] or None,
                    lines=[DryRunLine(line_no=no, quantity=qty, opened=choice["opened"])
                           for no, qty in _lines_of(choice)])
    return run_dry(session, actor, body)


@router.get("/p/{merchant_code}/orders/{number}/return")
async def return_form(merchant_code: str, number: str, request: Request, type: str = "return_refund"):
    locale = locale_of(request)
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        order = _own_order(session, merchant, actor, number)
        choice = {"type": type if type in words.PORTAL_TYPES else "return_refund", "reason": "", "quantities": {},
                  "opened": False}
        return render(request, "portal/return_step1.html", _context(
            merchant, actor, order=order, lines=_claimable(session, order), choice=choice,
            reasons=_reasons(session, merchant, choice["type"], locale), types=words.PORTAL_TYPES))


@router.get("/p/{merchant_code}/reasons")
async def reason_options(merchant_code: str, request: Request, type: str = "return_refund"):
    """The reason field for a case type (htmx swaps it in when the type changes)."""
    locale = locale_of(request)
    with _db(request).read() as session:
        merchant, _actor = _require_customer(request, session, merchant_code)
        case_type = type if type in words.PORTAL_TYPES else "return_refund"
        return render(request, "portal/_reason_field.html", {
            "reasons": _reasons(session, merchant, case_type, locale), "choice": {"reason": ""}})


@router.post("/p/{merchant_code}/orders/{number}/return/check")
async def return_check(merchant_code: str, number: str, request: Request):
    """Step 2: the policy's answer for the chosen items, before anything is submitted."""
    form = await request.form(max_files=0, max_fields=600)
    check_csrf(request, form)
    locale = locale_of(request)
    choice = _choice(form)
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        order = _own_order(session, merchant, actor, number)
        try:
            answer = _dry_run(session, actor, order, choice)
        except AppError as exc:
            return render(request, "portal/return_step1.html", _context(
                merchant, actor, order=order, lines=_claimable(session, order), choice=choice,
                reasons=_reasons(session, merchant, choice["type"], locale), types=words.PORTAL_TYPES,
                error=exc.render(locale)), status=exc.status)
        return render(request, "portal/return_step2.html", _step2(session, merchant, actor, order, choice, answer))


def _step2(session, merchant, actor, order, choice, answer, error=None) -> dict[str, Any]:
    titles = {line.line_no: line.title for line in order.lines}
    return _context(merchant, actor, order=order, choice=choice, answer=answer, titles=titles, error=error,
                    outcomes=words.OUTCOMES, max_files=MAX_FILES)


async def _uploads(request: Request, files) -> list[Upload]:
    """Each chosen photo or video checked by its content and size (the same rules as the API)."""
    settings = request.app.state.settings
    uploads: list[Upload] = []
    try:
        for item in files:
            receiver = Receiver(item.filename or "upload", settings)
            try:
                while chunk := await item.read(64 * 1024):
                    receiver.write(chunk)
            except BaseException:
                receiver.abort()
                raise
            uploads.append(receiver.finish())
    except BaseException:
        for upload in uploads:
            upload.close()
        raise
    return uploads


@router.post("/p/{merchant_code}/orders/{number}/return")
async def return_submit(merchant_code: str, number: str, request: Request):
    """Opens the case with its photos; nothing is kept if any part is refused."""
    settings = request.app.state.settings
    locale = locale_of(request)
    limit = max(settings.max_image_bytes * MAX_FILES, settings.max_video_bytes) + 1024 * 1024
    if int(request.headers.get("content-length") or 0) > limit:
        raise PageError("too_large", N_("The files are too large together: at most {limit} MB per request."),
                        field="photos", status=413, limit=limit // (1024 * 1024))
    form = await request.form(max_files=MAX_FILES, max_fields=600)
    check_csrf(request, form)
    choice = _choice(form)
    files = [f for f in form.getlist("photos") if getattr(f, "filename", None)]
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        order = _own_order(session, merchant, actor, number)
    try:
        uploads = await _uploads(request, files)
    except AppError as exc:
        with _db(request).read() as session:
            order = _own_order(session, merchant, actor, number)
            answer = _dry_run(session, actor, order, choice)
            return render(request, "portal/return_step2.html",
                          _step2(session, merchant, actor, order, choice, answer, exc.render(locale)),
                          status=exc.status)
    try:
        outcome = choice["desired_outcome"] if choice["desired_outcome"] in words.OUTCOMES else ""
        data = CaseCreate(order=order.number, type=CaseType(choice["type"]), channel=Channel.PORTAL,
                          reason=choice["reason"] or None, description=choice["description"],
                          desired_outcome=outcome,
                          lines=[CaseLineCreate(line_no=no, quantity=qty) for no, qty in _lines_of(choice)])
        with _db(request).transaction() as session:
            case = service.open_case(session, actor=actor, data=data)
            follow.attach_all(session, request, case=case, actor=actor, uploads=uploads)
    finally:
        for upload in uploads:
            upload.close()
    return redirect(request, f"/p/{merchant.code}/cases/{case.number}?new=1", flash="case_opened")


