"""What a shopper does on their case in the portal: send the parcel (or correct its tracking number, or book a
pickup), cancel, write, answer a proposed plan, rate, add files, claim postage, and download the return label, the
case's copy and its files."""

from __future__ import annotations


from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..cases import files as served, service
from ..cases.models import Attachment
from ..cases.visibility import CUSTOMER
from ..cases.workflow import allowed_actions
from ..db import utcnow
from ..errors import NotFound
from ..logistics import instructions as logistics
from ..notify import survey
from ..cases import plans
from . import follow, portal_parcel as parcel, customer_copy
from .frame import N_, PageError, check_csrf, locale_of, redirect
from .portal_session import MAX_FILES, _db, _own_case, _require_customer
from .portal_open import _uploads
from .portal_postage import postage_amount, postage_context
from ..refunds import postage
from ..refunds.schemas import PostageClaimIn
from .portal_pages import SENDING_STATES, _case_view

router = APIRouter(include_in_schema=False)


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
