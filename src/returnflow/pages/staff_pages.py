"""The staff console: sign in, work queues, the case page with the actions allowed now, the process diagram."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from ..actor import Actor
from ..auth.models import User
from ..auth.service import CodeNeeded, actor_for_token, attempt_sign_in, revoke
from ..cases import files as served
from ..cases import handoffs, plans
from ..cases import service
from ..cases.models import Attachment
from ..cases.models import CaseState as S
from ..cases.workflow import allowed_actions
from ..db import utcnow
from ..errors import AppError, NotFound
from . import follow, queues, words
from .diagram import process_table
from .frame import (
    N_,
    PageError,
    check_csrf,
    locale_of,
    redirect,
    render,
    safe_next,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
STAFF_COOKIE = "rf_staff"
# Actions with their own form on the case page (not a plain button).
OWN_FORMS = {"attach", "note", "assign"} | set(words.PLAN_ACTIONS)
# Done on the warehouse screens (pages/warehouse_pages.py), which keep the parcel and inspection records.
DESK_ACTIONS = {"receive", "inspect"}
WAREHOUSE_STATES = (S.AWAITING_RETURN.value, S.RETURN_IN_TRANSIT.value, S.RECEIVED.value)
PAGE_SIZE = 50


class StaffSignInNeeded(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class TwoFactorFirst(Exception):
    """The merchant requires a second factor this staff member has not set up: every page leads there first."""


def staff_actor(request: Request) -> Actor:
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        raise StaffSignInNeeded(request.url.path)
    try:
        actor = actor_for_token(request.app.state.db.reader, token)
    except AppError:
        raise StaffSignInNeeded(request.url.path) from None
    if actor.must_enroll and request.url.path != "/staff/two-factor":
        raise TwoFactorFirst()
    request.state.staff = actor
    return actor


def _ctx(actor: Actor | None, **more: Any) -> dict[str, Any]:
    return {"staff": actor, "area": "staff", "roles": words.ROLES, **more}


@router.get("/staff/login")
async def login_form(request: Request, next: str = "/staff/"):
    return render(request, "staff/login.html", _ctx(None, next=safe_next(next, "/staff/"), form={}))


@router.post("/staff/login")
async def login(request: Request):
    """Password first; an account with a second factor then gets a code step carrying a short-lived pending key."""
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    email = str(form.get("email") or "").strip()[:200]
    target = safe_next(str(form.get("next") or ""), "/staff/")
    pending = str(form.get("pending") or "")[:100] or None
    settings = request.app.state.settings
    try:
        done = attempt_sign_in(request.app.state.db, email=email, password=str(form.get("password") or "")[:200],
                               pending=pending, code=str(form.get("code") or "")[:20] or None,
                               client=request.client.host if request.client else "unknown",
                               ttl_hours=min(settings.token_ttl_hours, 12), two_steps=True)
    except AppError as exc:
        step = pending if exc.key in ("totp_wrong", "totp_required") else None  # else back to the password
        return render(request, "staff/login.html", _ctx(None, next=target, form={"email": email}, pending=step,
                                                          error=exc.render(locale_of(request))), status=exc.status)
    if isinstance(done, CodeNeeded):
        return render(request, "staff/login.html", _ctx(None, next=target, form={"email": email},
                                                          pending=done.pending))
    if target == "/staff/":  # no page asked for: the role's own desk
        from .queue_pages import landing

        target = landing(actor_for_token(request.app.state.db.reader, done.token))
    response = redirect(request, target, flash="signed_in")
    set_cookie(response, request, STAFF_COOKIE, done.token, max_age=12 * 3600)
    return response


@router.post("/staff/logout")
async def logout(request: Request):
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, form)
    token = request.cookies.get(STAFF_COOKIE)
    if token:
        with request.app.state.db.transaction() as session:
            revoke(session, token=token)
    response = redirect(request, "/staff/login", flash="signed_out")
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response


def _staff_users(session, actor: Actor) -> list[User]:
    stmt = select(User).where(User.active.is_(True), User.role.in_(("agent", "supervisor", "admin")))
    if actor.merchant_id is not None:
        stmt = stmt.where(User.merchant_id == actor.merchant_id)
    return list(session.scalars(stmt.order_by(User.name)))




@router.post("/staff/cases/{number}/messages")
async def reply(number: str, request: Request):
    """A reply to the customer, with up to three photos or PDF documents (e.g. a packing guide or a label)."""
    actor = staff_actor(request)
    text, files = await follow.message_form(request)
    if files:
        with request.app.state.db.read() as session:
            case = service.get_case(session, actor=actor, number=number)
            if "attach" not in allowed_actions(case, actor):
                raise PageError("closed", N_("Files can no longer be added to this case."), field="files",
                                status=409)
    uploads = await follow.message_files(request, files)
    try:
        with request.app.state.db.transaction() as session:
            case = service.get_case(session, actor=actor, number=number)
            follow.post_with_files(session, request, case=case, actor=actor, text=text, uploads=uploads,
                                   at=utcnow())
            # The first reply to an unassigned case makes it the replier's (an `assign` event, as claiming).
            queues.claim_if_free(session, actor, service.get_case(session, actor=actor, number=number))
    finally:
        for upload in uploads:
            upload.close()
    return redirect(request, f"/staff/cases/{number}#messages", flash="message_sent")


@router.get("/staff/cases/{number}/files/{attachment_id}")
async def evidence_file(number: str, attachment_id: int, request: Request):
    actor = staff_actor(request)
    with request.app.state.db.read() as session:
        case = service.get_case(session, actor=actor, number=number)
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.case_id != case.id:
            raise NotFound("attachment", attachment_id, field="attachment_id")
    return served.shown(request.app.state.store, attachment, **{"Cache-Control": "private, max-age=3600"})


@router.get("/staff/cases/{number}/files/{attachment_id}/original")
async def evidence_original(number: str, attachment_id: int, request: Request):
    """The file exactly as uploaded (the evidence, with its SHA-256), as a download: staff only."""
    actor = staff_actor(request)
    with request.app.state.db.read() as session:
        case = service.get_case(session, actor=actor, number=number)
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.case_id != case.id:
            raise NotFound("attachment", attachment_id, field="attachment_id")
    return served.original(request.app.state.store, attachment, actor)


@router.get("/staff/workflow")
async def workflow_page(request: Request):
    actor = staff_actor(request)
    locale = locale_of(request)
    return render(request, "staff/workflow.html", _ctx(actor, table=process_table(locale)))


# ---- plans the customer confirms, hand-offs to other teams ------------------------------------------------------

@router.post("/staff/cases/{number}/plans")
async def propose_plan(number: str, request: Request):
    from .case_page import refused, shown_version

    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    try:
        version = shown_version(form)
        with request.app.state.db.transaction() as session:
            case = service.get_case(session, actor=actor, number=number)
            plans.propose(session, case=case, actor=actor, kind=str(form.get("kind") or ""),
                          amount=str(form.get("amount") or "")[:30], note=str(form.get("note") or "").strip(),
                          at=utcnow(), version=version)
    except AppError as exc:
        return refused(request, actor, number, exc)
    return redirect(request, f"/staff/cases/{number}#plans", flash="plan_proposed")


@router.post("/staff/cases/{number}/plans/{plan_id}/withdraw")
async def withdraw_plan(number: str, plan_id: str, request: Request):
    from .case_page import refused, shown_version

    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, form)
    try:
        version = shown_version(form)
        with request.app.state.db.transaction() as session:
            case = service.get_case(session, actor=actor, number=number)
            plans.withdraw(session, case=case, actor=actor, plan_id=plan_id, at=utcnow(), version=version)
    except AppError as exc:
        return refused(request, actor, number, exc)
    return redirect(request, f"/staff/cases/{number}#plans", flash="plan_withdrawn")


@router.post("/staff/cases/{number}/handoffs")
async def hand_off(number: str, request: Request):
    actor = staff_actor(request)
    handoffs.may_hand_off(actor)
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    try:
        with request.app.state.db.transaction() as session:
            case = service.get_case(session, actor=actor, number=number)
            handoffs.create(session, case=case, actor=actor, team=str(form.get("team") or ""),
                            note=str(form.get("note") or ""), at=utcnow(),
                            visibility=str(form.get("visibility") or "")[:10] or None)
    except AppError as exc:
        from .case_page import refused

        return refused(request, actor, number, exc)
    return redirect(request, f"/staff/cases/{number}#handoffs", flash="handoff_saved")


@router.post("/staff/cases/{number}/handoffs/{handoff_id}/done")
async def hand_off_done(number: str, handoff_id: int, request: Request):
    actor = staff_actor(request)
    handoffs.may_hand_off(actor)
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = safe_next(str(form.get("back") or ""), f"/staff/cases/{number}#handoffs")
    with request.app.state.db.transaction() as session:
        case = service.get_case(session, actor=actor, number=number)
        handoffs.finish(session, case=case, actor=actor, handoff_id=handoff_id,
                        note=str(form.get("note") or ""), at=utcnow())
    return redirect(request, back, flash="handoff_done")


@router.get("/staff/handoffs")
async def handoff_queue(request: Request, team: str = "qc", status: str = "open", page: int = 1):
    """A queue per team: the cases handed off to quality control, the product team or supplier appraisal."""
    actor = staff_actor(request)
    team = team if team in handoffs.TEAMS else "qc"
    status = status if status in handoffs.STATUSES else "open"
    page = max(page, 1)
    with request.app.state.db.read() as session:
        rows, total = handoffs.queue(session, actor=actor, team=team, status=status, limit=PAGE_SIZE,
                                     offset=(page - 1) * PAGE_SIZE)
        counts = handoffs.open_counts(session, actor)
    locale = locale_of(request)
    return render(request, "staff/handoffs.html", _ctx(
        actor, rows=[{"handoff": h, "number": n, "state": words.state_label(st, locale)} for h, n, st in rows],
        total=total, team=team, status=status, teams=handoffs.TEAMS, statuses=handoffs.STATUSES, counts=counts,
        page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)))
