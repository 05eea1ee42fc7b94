"""The customer portal (no account): find the order, confirm with a one-time code, follow the case (the opening of
a request after seeing the policy's answer is in portal_open.py, on the same router)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..actor import Actor
from ..cases import files as served, service
from ..cases.models import Attachment, CaseEvent
from ..cases.visibility import CUSTOMER
from ..cases.workflow import allowed_actions
from ..db import utcnow
from ..errors import Explained, NotFound
from ..logistics import service as logistics
from ..merchants.models import Merchant
from ..money import fmt
from ..notify import survey
from ..cases import handoffs, plans
from ..cases.messages import messages_of
from . import follow, portal, portal_parcel as parcel, portal_reach as reach, words
from .frame import N_, PageError, check_csrf, locale_of, redirect, render, set_cookie

router = APIRouter(include_in_schema=False)
SESSION_COOKIE = "rf_portal"
MAX_FILES = 6


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _db(request: Request):
    return request.app.state.db


def _customer(request: Request, session, merchant: Merchant) -> Actor | None:
    return portal.customer_actor(session, merchant=merchant, token=request.cookies.get(SESSION_COOKIE))


def _signin_url(merchant: Merchant) -> str:
    return f"/p/{merchant.code}/"


def _context(merchant: Merchant, actor: Actor | None, **more: Any) -> dict[str, Any]:
    return {"merchant": merchant, "customer": actor, "area": "portal", **more}


# ---- finding the order ---------------------------------------------------------------------------------------

@router.get("/p/{merchant_code}")
@router.get("/p/{merchant_code}/")
async def find_form(merchant_code: str, request: Request):
    with _db(request).read() as session:
        merchant = portal.merchant_by_code(session, merchant_code)
        if _customer(request, session, merchant) is not None:
            return redirect(request, f"/p/{merchant.code}/orders")
        return render(request, "portal/find.html", _context(merchant, None, form={},
                                                              shop=reach.shop_contact(merchant)))


@router.post("/p/{merchant_code}/find")
async def find(merchant_code: str, request: Request):
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    values = {name: str(form.get(name) or "")[:200] for name in ("order", "contact", "phone", "via")}
    # The page has one field per kind of contact (each with its keyboard); the chosen one is used.
    contact = values["phone"] if values["via"] == "phone" else values["contact"] or values["phone"]
    locale = locale_of(request)
    with _db(request).transaction() as session:
        merchant = portal.merchant_by_code(session, merchant_code)
        result = portal.request_code(session, merchant=merchant, order_number=values["order"][:100],
                                     contact=contact, client=_client(request), locale=locale,
                                     channels=reach.code_channels(request))
    if isinstance(result, PageError):
        return render(request, "portal/find.html", _context(
            merchant, None, form=values, error=result.render(locale), shop=reach.shop_contact(merchant),
            no_channel=result.key in ("no_channel", "channel_unavailable")), status=result.status)
    return redirect(request, f"/p/{merchant.code}/verify?c={result.challenge}", flash="code_sent")


@router.get("/p/{merchant_code}/verify")
async def verify_form(merchant_code: str, request: Request, c: str = ""):
    with _db(request).read() as session:
        merchant = portal.merchant_by_code(session, merchant_code)
        row = portal.code_info(session, merchant=merchant, challenge=c)
        return render(request, "portal/verify.html", _context(merchant, None, challenge=c,
                                                              **portal.sent_to(session, row)))


@router.post("/p/{merchant_code}/verify")
async def verify(merchant_code: str, request: Request):
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    challenge = str(form.get("challenge") or "")
    locale = locale_of(request)
    try:
        with _db(request).transaction() as session:
            merchant = portal.merchant_by_code(session, merchant_code)
            result = portal.verify_code(session, merchant=merchant, challenge=challenge,
                                        code=str(form.get("code") or "")[:20], client=_client(request))
    except PageError as exc:
        result = exc
    if isinstance(result, PageError):
        with _db(request).read() as session:
            merchant = portal.merchant_by_code(session, merchant_code)
        return render(request, "portal/verify.html", _context(merchant, None, challenge=challenge,
                                                                error=result.render(locale)), status=result.status)
    response = redirect(request, f"/p/{merchant.code}/orders", flash="signed_in")
    set_cookie(response, request, SESSION_COOKIE, result, max_age=int(portal.SESSION_TTL.total_seconds()))
    return response


@router.post("/p/{merchant_code}/signout")
async def signout(merchant_code: str, request: Request):
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, form)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with _db(request).transaction() as session:
            portal.sign_out(session, token=token)
    response = redirect(request, f"/p/{merchant_code}/", flash="signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- the customer's orders -----------------------------------------------------------------------------------

def _require_customer(request: Request, session, merchant_code: str) -> tuple[Merchant, Actor]:
    merchant = portal.merchant_by_code(session, merchant_code)
    actor = _customer(request, session, merchant)
    if actor is None:
        raise SignInNeeded(merchant.code)
    return merchant, actor


class SignInNeeded(Exception):
    def __init__(self, merchant_code: str) -> None:
        self.merchant_code = merchant_code


# ---- following a case ----------------------------------------------------------------------------------------

def _own_case(session, actor: Actor, number: str):
    return service.get_case(session, actor=actor, number=number)  # scoped: another customer's case is not found


@router.get("/p/{merchant_code}/cases/{number}")
async def case_page(merchant_code: str, number: str, request: Request, new: str = ""):
    return _case_view(request, merchant_code, number, new=bool(new))


def _case_view(request: Request, merchant_code: str, number: str, *, new: bool = False,
               parcel_error: dict | None = None, parcel_form: dict | None = None, status: int = 200):
    """The case page; a refused parcel form is shown again with its message and what the shopper typed."""
    locale = locale_of(request)
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        # Only what the customer may see is read at all (cases/visibility.py): internal items cannot leak below.
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                         CaseEvent.visibility == CUSTOMER)
                                 .order_by(CaseEvent.seq)).all()
        reason_names = dict(_reasons_all(session, merchant, locale))
        refunds = follow.refunds_paid(session, case.id)
        steps = follow.customer_steps(list(events), refunds, locale, reason_names,
                                      handoffs.of_case(session, case.id, customer=True))
        files = session.scalars(select(Attachment).where(Attachment.case_id == case.id,
                                                         Attachment.visibility == CUSTOMER)
                                .order_by(Attachment.id)).all()
        allowed = allowed_actions(case, actor)
        asked = next((e.payload.get("message") for e in reversed(events) if e.action == "request_info"), None)
        plan = plans.open_plan(session, case.id)
        instructions = _return_instructions(session, case, locale)
        return render(request, "portal/case.html", _context(
            merchant, actor, case=case, steps=steps, files=files, allowed=allowed, new=new,
            asked=asked if case.state == "awaiting_customer" else None, max_files=MAX_FILES,
            messages=messages_of(session, case.id, customer=True), state_label=words.state_label(case.state, locale),
            type_label=words.word(words.TYPES, case.type, locale), refunds=refunds,
            plan=plan if plan is not None and "accept_plan" in allowed else None, plan_kinds=plans.KINDS,
            plan_amount=fmt(plan.amount, plan.currency) if plan is not None and plan.amount is not None else None,
            survey_open=case.state in survey.OPEN_STATES, rated=survey.response_of(session, case.id),
            files_by_id={f.id: f for f in files}, max_message_files=follow.MAX_MESSAGE_FILES,
            instructions=instructions, parcel=parcel.parcel_view(session, case, locale),
            sending=case.needs_return and case.state in SENDING_STATES, shop=reach.shop_contact(merchant),
            carriers=parcel.carrier_choices([c["code"] for c in (instructions or {}).get("carriers", [])], locale),
            parcel_error=parcel_error, parcel_form=parcel_form or {}, variant_label=label_of,
            pickup_days=parcel.PICKUP_DAYS, pickup_windows=parcel.PICKUP_WINDOWS,
            next_step=next_step_of(case.policy_decision, locale) if new else "",
            **postage_context(session, case, allowed)), status=status)


async def _case_action(request: Request, merchant_code: str, number: str, action: str, fields: tuple[str, ...],
                       flash: str):
    form = await request.form(max_files=0, max_fields=20)
    check_csrf(request, form)
    payload = {name: str(form.get(name) or "").strip()[:200] for name in fields}
    version = str(form.get("version") or "")
    with _db(request).transaction() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        service.act(session, actor=actor, number=case.number, action=action,
                    version=int(version) if version.isdigit() else case.version, payload=payload)
    return redirect(request, f"/p/{merchant.code}/cases/{number}", flash=flash)


@router.post("/p/{merchant_code}/cases/{number}/ship")
async def ship(merchant_code: str, number: str, request: Request):
    """The return parcel, stored as the case's shipment (so webhooks and the receiving desk find its number)."""
    return await _parcel_post(request, merchant_code, number, correcting=False)


@router.post("/p/{merchant_code}/cases/{number}/ship/correct")
async def correct_tracking(merchant_code: str, number: str, request: Request):
    return await _parcel_post(request, merchant_code, number, correcting=True)


async def _parcel_post(request: Request, merchant_code: str, number: str, *, correcting: bool):
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    values = {name: str(form.get(name) or "").strip()[:100] for name in ("carrier", "tracking_number")}
    version = str(form.get("version") or "")
    locale = locale_of(request)
    try:
        with _db(request).transaction() as session:
            merchant, actor = _require_customer(request, session, merchant_code)
            case = _own_case(session, actor, number)
            if correcting:
                parcel.correct(session, case=case, carrier=values["carrier"], number=values["tracking_number"],
                               locale=locale)
            else:
                parcel.register(session, actor=actor, case=case, carrier=values["carrier"],
                                number=values["tracking_number"], locale=locale,
                                version=int(version) if version.isdigit() else case.version)
    except PageError as exc:
        return _case_view(request, merchant_code, number, parcel_error=exc.render(locale), parcel_form=values,
                          status=exc.status)
    return redirect(request, f"/p/{merchant.code}/cases/{number}#parcel", flash="tracking_saved")


@router.post("/p/{merchant_code}/cases/{number}/pickup")
async def book_pickup(merchant_code: str, number: str, request: Request):
    """A courier pickup (上门取件) instead of a drop-off, where the shop offers it (logistics.pickup)."""
    form = await request.form(max_files=0, max_fields=12)
    check_csrf(request, form)
    values = {name: str(form.get(name) or "").strip()[:500]
              for name in ("carrier", "day", "window", "address", "contact", "phone")}
    version = str(form.get("version") or "")
    try:
        with _db(request).read() as session:
            merchant, actor = _require_customer(request, session, merchant_code)
            case = _own_case(session, actor, number)
        parcel.book_pickup(_db(request), actor=actor, number=case.number, values=values, now=utcnow(),
                           version=int(version) if version.isdigit() else case.version)
    except PageError as exc:
        return _case_view(request, merchant_code, number, parcel_error=exc.render(locale_of(request)),
                          parcel_form={**values, "pickup": True}, status=exc.status)
    return redirect(request, f"/p/{merchant.code}/cases/{number}#parcel", flash="tracking_saved")


@router.post("/p/{merchant_code}/cases/{number}/cancel")
async def cancel(merchant_code: str, number: str, request: Request):
    return await _case_action(request, merchant_code, number, "cancel", (), "cancelled")


@router.post("/p/{merchant_code}/cases/{number}/messages")
async def post_message(merchant_code: str, number: str, request: Request):
    """A message to the shop, with up to three photos or PDF documents (checked by content and size)."""
    text, files = await follow.message_form(request)
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        if files and "attach" not in allowed_actions(case, actor):
            raise PageError("closed", N_("Files can no longer be added to this request."), field="files",
                            status=409)
    uploads = await follow.message_files(request, files)
    try:
        with _db(request).transaction() as session:
            case = _own_case(session, actor, number)
            follow.post_with_files(session, request, case=case, actor=actor, text=text, uploads=uploads,
                                   at=utcnow())
            if "customer_reply" in allowed_actions(case, actor):
                # The shop asked for information: the answer sends the case back to review.
                service.act(session, actor=actor, number=case.number, action="customer_reply",
                            version=case.version, payload={"message": text[:2000]})
    finally:
        for upload in uploads:
            upload.close()
    return redirect(request, f"/p/{merchant.code}/cases/{number}#messages", flash="message_sent")


async def _plan_answer(request: Request, merchant_code: str, number: str, plan_id: str, accept: bool):
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    with _db(request).transaction() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        plans.answer(session, case=case, actor=actor, plan_id=plan_id, accept=accept,
                     note=str(form.get("note") or "").strip()[:2000], at=utcnow())
    return redirect(request, f"/p/{merchant.code}/cases/{number}",
                    flash="plan_accepted" if accept else "plan_declined")


@router.post("/p/{merchant_code}/cases/{number}/plans/{plan_id}/accept")
async def accept_plan(merchant_code: str, number: str, plan_id: str, request: Request):
    return await _plan_answer(request, merchant_code, number, plan_id, True)


@router.post("/p/{merchant_code}/cases/{number}/plans/{plan_id}/decline")
async def decline_plan(merchant_code: str, number: str, plan_id: str, request: Request):
    return await _plan_answer(request, merchant_code, number, plan_id, False)


@router.post("/p/{merchant_code}/cases/{number}/survey")
async def rate(merchant_code: str, number: str, request: Request):
    """The customer's rating at the end (1–5 and a comment), once; the notify survey records it."""
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    raw = str(form.get("score") or "")
    if raw not in ("1", "2", "3", "4", "5"):
        raise PageError("score", N_("Rating: choose from 1 (poor) to 5 (excellent)."), field="score")
    with _db(request).transaction() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        if survey.response_of(session, case.id) is not None:
            raise PageError("survey_answered", N_("You have already rated this request. Nothing was changed."),
                            field="score", status=409)
        if case.state not in survey.OPEN_STATES:
            raise PageError("survey_not_open", N_("You can rate the service once your request is done."),
                            field="score", status=409)
        survey.answer(session, case=case, score=int(raw), comment=str(form.get("comment") or "").strip()[:2000])
    return redirect(request, f"/p/{merchant.code}/cases/{number}#rating", flash="rated")


@router.post("/p/{merchant_code}/cases/{number}/files")
async def add_files(merchant_code: str, number: str, request: Request):
    """More photos or videos for an open case (checked like the first ones)."""
    settings = request.app.state.settings
    limit = max(settings.max_image_bytes * MAX_FILES, settings.max_video_bytes) + 1024 * 1024
    if int(request.headers.get("content-length") or 0) > limit:
        raise PageError("too_large", N_("The files are too large together: at most {limit} MB per request."),
                        field="photos", status=413, limit=limit // (1024 * 1024))
    form = await request.form(max_files=MAX_FILES, max_fields=10)
    check_csrf(request, form)
    files = [f for f in form.getlist("photos") if getattr(f, "filename", None)]
    if not files:
        raise PageError("required", N_("Choose at least one photo or video."), field="photos")
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        _own_case(session, actor, number)
    uploads = await _uploads(request, files)
    try:
        with _db(request).transaction() as session:
            case = _own_case(session, actor, number)
            follow.attach_all(session, request, case=case, actor=actor, uploads=uploads)
    finally:
        for upload in uploads:
            upload.close()
    return redirect(request, f"/p/{merchant.code}/cases/{number}#files", flash="files_added")


@router.post("/p/{merchant_code}/cases/{number}/postage")
async def claim_postage(merchant_code: str, number: str, request: Request):
    """CN7: the return postage the customer paid on a quality return, with a photo of the receipt."""
    form = await request.form(max_files=1, max_fields=10)
    check_csrf(request, form)
    amount = postage_amount(str(form.get("amount") or ""))
    receipt = form.get("receipt")
    if not getattr(receipt, "filename", None):
        raise PageError("required", N_("Postage: add a photo of the receipt."), field="receipt")
    with _db(request).read() as session:
        merchant, actor = _require_customer(request, session, merchant_code)
        if not postage_context(session, _own_case(session, actor, number), ("attach",))["postage_open"]:
            raise PageError("postage_closed", N_("Return postage cannot be claimed on this request."),
                            field="amount", status=409)
    uploads = await _uploads(request, [receipt])
    try:
        with _db(request).transaction() as session:
            case = _own_case(session, actor, number)
            receipt_id = follow.attach_all(session, request, case=case, actor=actor, uploads=uploads)[0]
            postage.claim(session, actor=actor, number=case.number,
                          body=PostageClaimIn(amount=amount, currency=case.currency, receipt_id=receipt_id))
    finally:
        for upload in uploads:
            upload.close()
    return redirect(request, f"/p/{merchant.code}/cases/{number}#postage", flash="postage_claimed")


# While the goods are on their way back, the customer sees where and how to send them, and prints the label.
SENDING_STATES = ("awaiting_return", "return_in_transit")


def _return_instructions(session, case, locale: str) -> dict[str, Any] | None:
    if not case.needs_return or case.state not in SENDING_STATES:
        return None
    try:
        return logistics.instructions(session, case, locale)
    except Explained as exc:
        if exc.key == "no_return_address":
            return None  # the merchant has not set one up yet: the agent gives the address in a message
        raise


@router.get("/p/{merchant_code}/cases/{number}/return-label.pdf")
async def return_label(merchant_code: str, number: str, request: Request):
    """The return label and packing slip of the customer's own case (the same PDF staff print)."""
    with _db(request).read() as session:
        _merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        if case.state not in SENDING_STATES:
            raise PageError("no_label", N_("The return label is available while the items are to be sent back."),
                            field="number", status=409)
        pdf = logistics.label_pdf(session, case)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="return-label-{case.number}.pdf"',
                             "Cache-Control": "private, no-store"})


@router.get("/p/{merchant_code}/cases/{number}/copy.zip")
async def case_copy(merchant_code: str, number: str, request: Request):
    """The customer's copy of their closed request: only what they may see (pages/customer_copy.py)."""
    from . import customer_copy

    with _db(request).read() as session:
        _merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        if case.state != "closed":
            raise PageError("not_closed", N_("A copy of the request can be downloaded once it is closed."),
                            field="number", status=409)
        data = customer_copy.build(session, request.app.state.store, actor=actor, number=case.number)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{case.number}.zip"',
                             "Cache-Control": "private, no-store"})


@router.get("/p/{merchant_code}/cases/{number}/files/{attachment_id}")
async def evidence_file(merchant_code: str, number: str, attachment_id: int, request: Request):
    with _db(request).read() as session:
        _merchant, actor = _require_customer(request, session, merchant_code)
        case = _own_case(session, actor, number)
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.case_id != case.id or attachment.visibility != CUSTOMER:
            raise NotFound("attachment", attachment_id, field="attachment_id")  # an internal file does not exist here
    # Customers see the copy without location data; the original is for staff only (cases/files.py).
    return served.shown(request.app.state.store, attachment, **{"Cache-Control": "private, max-age=3600"})


# The opening of a request registers its routes on `router`; the case page borrows its reason names and uploads.
from .portal_open import _reasons_all, _uploads  # noqa: E402
from .portal_postage import postage_amount, postage_context  # noqa: E402
from ..refunds import postage  # noqa: E402
from ..refunds.schemas import PostageClaimIn  # noqa: E402
from .portal_answer import label_of, next_step_of  # noqa: E402
from . import policy_words  # noqa: E402,F401  (the public policy page, on the same router)
