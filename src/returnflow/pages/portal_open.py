"""The portal's opening of a request: the customer's orders, items and quantities, the reason, the policy's answer
with the outcomes it allows, photos and videos, then the case number (its own router, installed after the portal pages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from ..actor import Actor
from ..cases import reasons as reason_taxonomy, service
from ..cases.evidence import Receiver, Upload
from ..cases.models import CaseType, Channel
from ..cases.schemas import CaseCreate, CaseLineCreate
from ..errors import AppError, NotFound
from ..labels import reason_label
from ..merchants.models import Merchant
from ..money import from_minor
from ..orders.models import Order
from ..cases import plans
from . import follow, portal_answer as answer_words, words
from .frame import N_, PageError, check_csrf, gettext, locale_of, redirect, render
from .portal_session import MAX_FILES, _context, _db, _require_customer

router = APIRouter(include_in_schema=False)  # installed after the portal's own (pages/__init__.py)

# ---- the customer's orders -----------------------------------------------------------------------------------

@router.get("/p/{merchant_code}/orders")
async def orders(merchant_code: str, request: Request):
    locale = locale_of(request)
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        rows = session.scalars(select(Order).where(Order.merchant_id == merchant.id,
                                                   Order.customer_id == actor.customer_id)
                               .order_by(Order.ordered_at.desc(), Order.id.desc()).limit(50)).all()
        cases, _ = service.list_cases(session, actor=actor, limit=100)
        waits = {case.number: _waits_on_you(session, case) for case in cases}
        order_view = []
        for order in rows:
            claims = {line.id: line.delivered_quantity - line.claimed
                      for line in service.lines_with_claims(session, order.id)}
            lines = [{"line": line, "price": answer_words.money(from_minor(line.unit_price, order.currency),
                                                                order.currency, locale),
                      "left": max(claims.get(line.id, 0), 0)} for line in order.lines]
            claimable = [(v["line"].line_no, 1) for v in lines if v["left"]]
            order_view.append({"order": order, "lines": lines,
                               "window": answer_words.window_closes(session, actor, order, claimable, locale),
                               "waits": [waits[c.number] for c in cases
                                         if c.order_number == order.number and waits[c.number]]})
        return render(request, "portal/orders.html", _context(
            merchant, actor, orders=order_view, cases=cases, waits=waits, state_label=words.state_label))


WAITS = {"plan": N_("Waiting for you: answer the shop's plan"),
         "info": N_("Waiting for you: the shop asked for information"),
         "parcel": N_("Waiting for you: send the parcel")}


def _waits_on_you(session, case) -> str:
    """What the shopper has to do next on a case ('' when nothing): a plan, information, a parcel."""
    if plans.open_plan(session, case.id) is not None:
        return WAITS["plan"]
    if case.state == "awaiting_customer":
        return WAITS["info"]
    if case.state == "awaiting_return" and case.needs_return:
        return WAITS["parcel"]
    return ""


def _own_order(session, merchant: Merchant, actor: Actor, number: str) -> Order:
    order = session.scalar(select(Order).where(Order.merchant_id == merchant.id, Order.number == number))
    if order is None or order.customer_id != actor.customer_id:
        raise NotFound("order", number, field="order")
    return order


def _reasons(session, merchant: Merchant, locale: str) -> list[tuple[str, str]]:
    """Every reason a goods request can give (the outcome is chosen after the policy's answer)."""
    rows = reason_taxonomy.for_merchant(session, merchant.id)
    return [(r.code, reason_label(r, locale, merchant.default_locale)) for r in rows
            if set(r.case_types) & set(words.PORTAL_TYPES)]


def _reasons_all(session, merchant: Merchant, locale: str) -> list[tuple[str, str]]:
    return [(r.code, reason_label(r, locale, merchant.default_locale))
            for r in reason_taxonomy.for_merchant(session, merchant.id)]


def _claimable(session, order: Order, locale: str = "zh-CN") -> list[dict[str, Any]]:
    images = {line.line_no: line.image_url for line in order.lines}
    return [{"line_no": line.line_no, "sku": line.sku, "title": line.title, "image": images.get(line.line_no),
             "price": answer_words.money(from_minor(line.unit_price, order.currency), order.currency, locale),
             "left": max(min(line.delivered_quantity, line.quantity) - line.claimed, 0)
             if line.delivered_quantity else 0}
            for line in service.lines_with_claims(session, order.id)]


def _choice(form) -> dict[str, Any]:
    """The request as typed into the form (strings kept, so the form can be shown again)."""
    case_type = str(form.get("type") or "")
    quantities, variants = {}, {}
    for key in form.keys():
        if key.startswith("qty_"):
            value = str(form.get(key) or "").strip()
            if value and value != "0":
                quantities[key[4:]] = value
        elif key.startswith("variant_"):
            variants[key[8:]] = str(form.get(key) or "")[:100]
    return {"type": case_type if case_type in words.PORTAL_TYPES else "",
            "reason": str(form.get("reason") or ""), "quantities": quantities, "variants": variants,
            "opened": form.get("opened") == "1", "description": str(form.get("description") or "")[:5000]}


def _lines_of(choice: dict[str, Any], claimable: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The chosen (line, quantity) pairs, each within what can still be claimed, named as the shopper sees it."""
    by_no = {str(line["line_no"]): line for line in claimable}
    lines = []
    for line_no, value in choice["quantities"].items():
        line = by_no.get(line_no)
        if line is None:
            raise PageError("no_such_item", N_("That item is not part of this order."), field="lines")
        try:
            qty = int(value)
        except ValueError:
            raise PageError("quantity", N_("Quantities must be whole numbers."), field=f"qty_{line_no}") from None
        if qty < 0:
            raise PageError("quantity", N_("Quantities must be whole numbers."), field=f"qty_{line_no}")
        if qty > line["left"]:
            raise PageError("quantity_over", N_("You can choose at most {n} of “{title}”."), field=f"qty_{line_no}",
                            n=line["left"], title=line["title"] or line["sku"])
        if qty:
            lines.append((line["line_no"], qty))
    if not lines:
        raise PageError("no_lines", N_("Choose at least one item and how many."), field="lines")
    return lines


def _step1(request, session, merchant, actor, order, choice, error=None) -> dict[str, Any]:
    return _context(merchant, actor, order=order, lines=_claimable(session, order, locale_of(request)), choice=choice,
                    reasons=_reasons(session, merchant, locale_of(request)), error=error)


@router.get("/p/{merchant_code}/orders/{number}/return")
async def return_form(merchant_code: str, number: str, request: Request):
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        order = _own_order(session, merchant, actor, number)
        choice = {"type": "", "reason": "", "quantities": {}, "variants": {}, "opened": False}
        return render(request, "portal/return_step1.html", _step1(request, session, merchant, actor, order, choice))


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
            context = _step2(session, merchant, actor, order, choice, locale)
        except AppError as exc:
            return render(request, "portal/return_step1.html", _step1(
                request, session, merchant, actor, order, choice, _shopper_error(exc, locale)), status=exc.status)
        return render(request, "portal/return_step2.html", context)


def _step2(session, merchant, actor, order, choice, locale, error=None) -> dict[str, Any]:
    lines = _lines_of(choice, _claimable(session, order))
    answer, rows = answer_words.options(session, actor, order, choice, lines, locale)
    enabled = [row for row in rows if row["enabled"]]
    if not choice["type"] or choice["type"] not in {row["type"] for row in enabled}:
        choice = {**choice, "type": enabled[0]["type"] if enabled else ""}
    titles = {line.line_no: line.title or line.sku for line in order.lines}
    images = {line.line_no: line.image_url for line in order.lines}
    return _context(merchant, actor, order=order, choice=choice, answer=answer, rows=rows, error=error,
                    fallback_type=answer["type"], titles=titles, images=images, chosen=lines,
                    said=answer_words.summary(answer, order.currency, locale),
                    why=answer_words.reasons(answer, locale),
                    picks=answer_words.variant_choices(order, lines, locale), max_files=MAX_FILES)


def _shopper_error(exc: AppError, locale: str) -> dict[str, Any]:
    """A refusal in the shopper's words: never a field path, a MIME type or a code."""
    if isinstance(exc, PageError):
        return exc.render(locale)
    text = SHOPPER_WORDS.get(exc.key)
    if text is None:
        text = N_("Something in the request could not be accepted. Please check it and try again.")
    name, limit = exc.params.get("filename") or "", exc.params.get("limit")
    size = ""
    if isinstance(limit, int):
        size = f"{max(limit // (1024 * 1024), 1)} MB" if limit >= 1024 * 1024 else f"{max(limit // 1024, 1)} KB"
    return {"code": exc.key, "field": "photos" if exc.key in FILE_CODES else exc.field,
            "message": gettext(locale, text).format(name=name, limit=size)}


FILE_CODES = {"file_type", "file_empty", "file_too_large", "image_unreadable", "image_too_many_pixels"}
SHOPPER_WORDS = {
    "file_type": N_("“{name}” is not a photo or video we can take: send JPEG, PNG, WebP, GIF or HEIC photos, or "
                    "MP4, MOV or WebM videos."),
    "file_empty": N_("“{name}” is empty. Please choose the photo again."),
    "file_too_large": N_("“{name}” is too large: at most {limit} for this kind of file."),
    "image_unreadable": N_("“{name}” could not be opened as a photo. Please take it again."),
    "image_too_many_pixels": N_("“{name}” is too large a picture. Please send a smaller photo."),
    "variant_sold_out": N_("What you chose instead has just sold out. Please choose another one."),
    "quantity_exceeds": N_("Some of these items are already in another request. Please check the quantities."),
}


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
    """Opens the case with its photos; nothing is kept if any part is refused, and what was typed stays."""
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
    uploads: list[Upload] = []
    try:
        with _db(request).read() as session:
            merchant, actor = _require_customer(request, session, merchant_code)
            order = _own_order(session, merchant, actor, number)
            context = _step2(session, merchant, actor, order, choice, locale)
            data = _request_of(order, choice, context)
        uploads = await _uploads(request, files)
        with _db(request).transaction() as session:
            case = service.open_case(session, actor=actor, data=data)
            follow.attach_all(session, request, case=case, actor=actor, uploads=uploads)
    except AppError as exc:
        with _db(request).read() as session:
            merchant, actor = _require_customer(request, session, merchant_code)
            order = _own_order(session, merchant, actor, number)
            try:
                again = _step2(session, merchant, actor, order, choice, locale, _shopper_error(exc, locale))
            except AppError as first:
                return render(request, "portal/return_step1.html", _step1(
                    request, session, merchant, actor, order, choice, _shopper_error(first, locale)),
                    status=first.status)
            return render(request, "portal/return_step2.html", again, status=exc.status)
    finally:
        for upload in uploads:
            upload.close()
    return redirect(request, f"/p/{merchant.code}/cases/{case.number}?new=1", flash="case_opened")


def _request_of(order: Order, choice: dict[str, Any], context: dict[str, Any]) -> CaseCreate:
    """The case to open: only an outcome the policy allows (or, when it allows none, a request for review)."""
    rows = context["rows"]
    enabled = {row["type"]: row for row in rows if row["enabled"]}
    case_type = choice["type"] or context["fallback_type"]
    if enabled and case_type not in enabled:
        raise PageError("outcome_refused", N_("Our policy does not offer this for these items. Please choose one of "
                                              "the options shown."), field="type")
    if not enabled:
        case_type = context["fallback_type"]
    exchange = case_type == "exchange"
    if exchange:
        answer_words.check_variants(choice, context["picks"])
    offered = {pick["line_no"] for pick in context["picks"]}
    return CaseCreate(order=order.number, type=CaseType(case_type), channel=Channel.PORTAL,
                      reason=choice["reason"] or None, description=choice["description"],
                      desired_outcome=answer_words.OUTCOME_OF[case_type],
                      lines=[CaseLineCreate(line_no=no, quantity=qty, opened=choice["opened"],
                                            variant=choice["variants"].get(str(no)) if exchange and no in offered
                                            else None)
                             for no, qty in context["chosen"]])
