"""The customer portal (no account): find the order, confirm with a one-time code, follow the case. What the
shopper does on a case is in portal_actions.py, the opening of a request after seeing the policy's answer in
portal_open.py, the public policy page in policy_words.py: each has its router, pages/__init__.py installs them in
that order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from ..cases.models import Attachment, CaseEvent
from ..cases.visibility import CUSTOMER
from ..cases.workflow import allowed_actions
from ..errors import Explained
from ..logistics import instructions as logistics
from ..money import fmt
from ..notify import survey
from ..cases import handoffs, plans
from ..cases.messages import messages_of
from . import follow, portal, portal_parcel as parcel, portal_reach as reach, words
from .frame import PageError, check_csrf, locale_of, redirect, render, set_cookie
from .portal_session import MAX_FILES, SESSION_COOKIE, _client, _context, _customer, _db, _own_case, _require_customer
from .portal_open import _reasons_all
from .portal_postage import postage_context
from .portal_answer import label_of, next_step_of

router = APIRouter(include_in_schema=False)


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


# ---- following a case ----------------------------------------------------------------------------------------




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
