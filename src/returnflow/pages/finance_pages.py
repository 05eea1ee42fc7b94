"""Finance's screens: refunds to approve (what the signed-in user's authority allows; compensation, charges and
balance spends to approve come from `money_approvals`), to pay (each leg with the payment it goes back to, from
`finance_legs`; a manual leg is recorded paid in one step with its reference), failed payments (retry), and a
case's refunds (quote and request); the vouchers of a period are in `finance_vouchers`. Every change goes through
the money services the API calls (`refunds.service`, `refunds.settle`); these pages only read forms and show
results, and a refused action is shown with its reason on the page it came from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from ..actor import Actor
from ..auth.models import User
from ..cases import service as cases
from ..cases.models import Case
from ..errors import AppError
from ..money import fmt
from ..refunds import money_flows, money_settings, quote as quoting, service, settle
from ..refunds.api import pay_settings
from ..refunds.models import Refund, RefundPayment
from ..refunds.schemas import RefundCreate
from ..sla import refund_clock
from ..sla.models import Timer
from . import finance_legs, finance_vouchers, money_approvals, words
from .console import FINANCE_ROLES, ctx, error_of, screen_actor, text
from .frame import N_, PageError, check_csrf, gettext, locale_of, redirect, render, safe_next

router = APIRouter(include_in_schema=False)
router.include_router(money_approvals.router)  # compensation, charges and balance spends to approve
router.include_router(finance_vouchers.router)  # vouchers of a period, CSV

VIEWS = {"due": N_("Refunds due"), "approve": N_("To approve"), "pay": N_("To pay"),
         "failed": N_("Failed payments"), "done": N_("Paid recently")}
REFUND_STATES = {"awaiting_approval": N_("Awaiting approval"), "approved": N_("Approved"),
                 "completed": N_("Paid"), "rejected": N_("Rejected")}
LEG_STATES = {"pending": N_("Not sent yet"), "sent": N_("Sent, waiting for the outcome"),
              "succeeded": N_("Paid"), "failed": N_("Failed")}
DESTINATIONS = {"gateway": N_("Back to the payment"), "store_credit": N_("Store credit"), "points": N_("Points"),
                "coupon": N_("Coupon")}
VOUCHER_KINDS = finance_vouchers.VOUCHER_KINDS
# A case's refund page is also where agents request refunds (they never see the finance queues).
CASE_ROLES = money_flows.REQUESTERS + ("finance",)
# Deductions the policy, the inspection or the refund arithmetic name; an agent's own deduction shows as typed.
DEDUCTION_KINDS = {"restocking_fee": N_("Restocking fee"), "free_shipping": N_("Free shipping no longer earned"),
                   "gift": N_("Gift not returned"), "inspection_damage": N_("Damage found at inspection"),
                   "damage": N_("Damage found at inspection"), "shipping": N_("Shipping"),
                   "return_shipping": N_("Return shipping"), "outbound_shipping": N_("Outbound shipping"),
                   "free_shipping_threshold": N_("Free shipping no longer earned")}
WORDS = {"deduction_kinds": DEDUCTION_KINDS, "refund_states": REFUND_STATES, "leg_states": LEG_STATES,
         "destinations": DESTINATIONS,
         "voucher_kinds": VOUCHER_KINDS}
LIMIT = 200


def _authority(session, actor: Actor) -> dict[str, Any]:
    settings = money_settings.money_settings(session, actor.merchant_id) if actor.merchant_id is not None else None

    def may_approve(refund: Refund) -> str:
        """'' when this user may approve `refund`, else why not (a msgid)."""
        if actor.role not in money_flows.APPROVERS:
            return N_("Only a supervisor or an administrator approves refunds.")
        if refund.requested_by == actor.ref:
            return N_("You requested this refund: another approver decides it.")
        limit = money_settings.limit_for(settings, actor.role, refund.currency) if settings else None
        if limit is not None and refund.amount > limit:
            return N_("Above your approval limit: an administrator decides it.")
        return ""

    return {"may_approve": may_approve, "may_pay": actor.role in money_flows.EXECUTORS,
            "may_request": actor.role in money_flows.REQUESTERS}


def _rows(session, refunds: list[Refund], locale: str) -> list[dict[str, Any]]:
    if not refunds:
        return []
    numbers = dict(session.execute(select(Case.id, Case.number).where(
        Case.id.in_({r.case_id for r in refunds}))).all())
    legs: dict[int, list[RefundPayment]] = {}
    for leg in session.scalars(select(RefundPayment).where(RefundPayment.refund_id.in_([r.id for r in refunds]))
                               .order_by(RefundPayment.id)):
        legs.setdefault(leg.refund_id, []).append(leg)
    orders = finance_legs.payers(session, refunds)
    refs = {r.requested_by for r in refunds} | {r.approved_by for r in refunds if r.approved_by}
    ids = [int(ref.split(":", 1)[1]) for ref in refs if ref.startswith("user:") and ref[5:].isdigit()]
    names = {f"user:{i}": name for i, name in session.execute(select(User.id, User.name).where(User.id.in_(ids)))} \
        if ids else {}
    out = []
    for r in refunds:
        mine = legs.get(r.id, [])
        out.append({"refund": r, "case": numbers.get(r.case_id, ""), "amount": fmt(r.amount, r.currency),
                    "requested_by": names.get(r.requested_by, r.requested_by),
                    "approved_by": names.get(r.approved_by, r.approved_by) if r.approved_by else "",
                    "legs": [finance_legs.leg_view(x, r, orders.get(r.order_id), locale) for x in mine],
                    # The Pay button sends the legs a payment provider pays back; manual legs have their own form.
                    "payable": r.state == "approved" and any(
                        x.destination == "gateway" and x.gateway != "manual" and x.state in ("pending", "failed",
                                                                                              "sent")
                        for x in mine)})
    return out


def _scoped(stmt, model, actor: Actor):
    return stmt.where(model.merchant_id == actor.merchant_id) if actor.merchant_id is not None else stmt


def _queue_ctx(request: Request, actor: Actor, view: str, error: dict | None = None) -> dict[str, Any]:
    view = view if view in VIEWS else "approve"
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        stmt = _scoped(select(Refund), Refund, actor)
        due = _due(session, actor) if view == "due" else []
        if view == "due":
            stmt = stmt.where(Refund.id.is_(None))
        elif view == "approve":
            stmt = stmt.where(Refund.state == "awaiting_approval").order_by(Refund.created_at)
        elif view == "pay":
            stmt = stmt.where(Refund.state == "approved").order_by(Refund.created_at)
        elif view == "failed":
            failed = select(RefundPayment.refund_id).where(RefundPayment.state == "failed")
            stmt = stmt.where(Refund.state == "approved", Refund.id.in_(failed)).order_by(Refund.created_at)
        else:
            stmt = stmt.where(Refund.state == "completed").order_by(Refund.updated_at.desc())
        rows = _rows(session, list(session.scalars(stmt.limit(LIMIT))), locale)
        counts = {name: _count(session, actor, name) for name in ("approve", "pay", "failed")}
        counts["approve"] += money_approvals.waiting_count(session, actor)
        counts["due"] = len(due) if view == "due" else len(_due(session, actor))
        others = money_approvals.waiting(session, actor) if view == "approve" else {}
        authority = _authority(session, actor)
    return ctx(actor, view=view, views=VIEWS, rows=rows, counts=counts, back=f"/staff/finance?view={view}", due=due,
               error=error, **others, **authority, **WORDS)


@router.get("/staff/finance")
async def queue(request: Request, view: str = "approve"):
    actor = screen_actor(request, "finance")
    return render(request, "staff/finance/queue.html", _queue_ctx(request, actor, view))


def refused_on(request: Request, actor: Actor, back: str, exc: AppError):
    """A refused finance action shown on the page it came from (the queue view or the case's refunds), with the
    reason in the user's words, nothing changed."""
    error = error_of(request, exc)
    status = exc.status if 400 <= exc.status < 500 else 409
    if back.startswith("/staff/finance/cases/"):
        number = back.split("?", 1)[0].rsplit("/", 1)[-1]
        try:
            return render(request, "staff/finance/case.html", _case_page(request, actor, number, error),
                          status=status)
        except AppError:
            pass  # the case is not this user's to read: the queue says it
    view = back.split("view=", 1)[1].split("&", 1)[0] if "view=" in back else "approve"
    return render(request, "staff/finance/queue.html", _queue_ctx(request, actor, view, error), status=status)


def _due(session, actor: Actor) -> list[dict[str, Any]]:
    """Cases whose refund deadline runs (CN8, EU4) or has passed, soonest first: what finance must pay next."""
    stmt = _scoped(select(Case.number, Case.state, Timer.due_at, Timer.rule, Timer.status)
                   .join(Timer, Timer.case_id == Case.id)
                   .where(Timer.kind == refund_clock.KIND, Timer.status.in_(("pending", "fired")),
                          Case.state.not_in(tuple(refund_clock.ENDING))), Case, actor)
    return [{"number": n, "state": s, "due_at": at, "rule": rule, "overdue": status == "fired"}
            for n, s, at, rule, status in session.execute(stmt.order_by(Timer.due_at).limit(LIMIT))]


def _count(session, actor: Actor, view: str) -> int:
    stmt = _scoped(select(func.count()).select_from(Refund), Refund, actor)
    if view == "approve":
        stmt = stmt.where(Refund.state == "awaiting_approval")
    elif view == "pay":
        stmt = stmt.where(Refund.state == "approved")
    else:
        stmt = stmt.where(Refund.state == "approved", Refund.id.in_(
            select(RefundPayment.refund_id).where(RefundPayment.state == "failed")))
    return session.scalar(stmt) or 0


def _back(form, default: str) -> str:
    return safe_next(text(form, "back", 300), default)


async def _decide(request: Request, number: str, what: str):
    actor = screen_actor(request, "finance")
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = _back(form, "/staff/finance")
    try:
        with request.app.state.db.transaction() as session:
            if what == "approve":
                service.approve(session, actor=actor, number=number, note=text(form, "note"))
            else:
                reason = text(form, "reason")
                if not reason:
                    raise PageError("required", N_("Say why the refund is rejected."), field="reason")
                service.reject(session, actor=actor, number=number, reason=reason)
    except AppError as exc:
        if getattr(exc, "key", "") == "refund_state":
            exc = _not_waiting(request, number)
        return refused_on(request, actor, back, exc)
    return redirect(request, back, flash="refund_approved" if what == "approve" else "refund_rejected")


@router.post("/staff/finance/refunds/{number}/approve")
async def approve(number: str, request: Request):
    return await _decide(request, number, "approve")


@router.post("/staff/finance/refunds/{number}/reject")
async def reject(number: str, request: Request):
    return await _decide(request, number, "reject")


@router.post("/staff/finance/refunds/{number}/execute")
async def execute(number: str, request: Request):
    """Pays an approved refund (a failed payment is retried; calling it again never pays twice)."""
    actor = screen_actor(request, "finance")
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = _back(form, "/staff/finance?view=pay")
    try:
        await run_in_threadpool(settle.execute, request.app.state.db, pay_settings(request), actor=actor,
                                number=number)
    except AppError as exc:
        if getattr(exc, "key", "") == "refund_state":
            exc = PageError("refund_state", N_("Refund {number} is not approved for payment; nothing was sent."),
                            status=409, number=number)
        return refused_on(request, actor, back, exc)
    return redirect(request, back, flash="refund_executed")


def _not_waiting(request: Request, number: str) -> PageError:
    with request.app.state.db.read() as session:
        state = session.scalar(select(Refund.state).where(Refund.number == number))
    return PageError("refund_state", N_("Refund {number} is no longer waiting for approval (it is {state}); nothing "
                                        "was changed."), status=409, number=number,
                     state=gettext(locale_of(request), REFUND_STATES.get(state, N_("not payable"))))


@router.post("/staff/finance/payments/{number}/mark-paid")
async def mark_paid(number: str, request: Request):
    """A manual leg paid outside the system, recorded in one step with its reference (bank transfer or receipt
    number) and an optional note. A second or stale submit changes nothing and says so on the same page."""
    actor = screen_actor(request, "finance")
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = _back(form, "/staff/finance?view=pay")
    reference = text(form, "reference", 200)
    raw = text(form, "version", 12)
    version = int(raw) if raw.isdigit() and len(raw) < 10 else None
    try:
        with request.app.state.db.transaction() as session:
            why = finance_legs.refusal(session, number, version, locale_of(request))
            if why is not None:
                raise why
            if not reference:
                raise PageError("required", finance_legs.MISSING_REFERENCE, field="reference")
            settle.mark_paid(session, actor=actor, number=number, reference=reference, note=text(form, "note"),
                             version=version)
    except AppError as exc:
        if getattr(exc, "key", "") in ("refund_state", "stale", "not_manual"):
            with request.app.state.db.read() as session:
                exc = finance_legs.refusal(session, number, version, locale_of(request)) or exc
        return refused_on(request, actor, back, exc)
    return redirect(request, back, flash="refund_paid")


# ---- a case's refunds ------------------------------------------------------------------------------------------

def _case_page(request: Request, actor: Actor, number: str, error: dict | None = None) -> dict[str, Any]:
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        case = cases.get_case(session, actor=actor, number=number)
        refunds = _rows(session, list(session.scalars(select(Refund).where(Refund.case_id == case.id)
                                                      .order_by(Refund.id))), locale)
        quote, refusal = None, None
        try:
            result, _facts, order = quoting.plan(session, case, quoting.agreed(session, case, RefundCreate()))
            quote = quoting.quote_dict(result, order) if result.total > 0 else None
            for p in (quote or {}).get("payments", []):
                p["method"] = finance_legs.method_words(p["method"], locale)
        except AppError as exc:
            refusal = _not_refundable(case, locale) if getattr(exc, "key", "") == "refund_not_allowed" \
                else exc.render(locale)["message"]
        order = finance_legs.payers(session, [case])  # the case's order: who paid, with what
        paid = order.get(case.order_id)
        authority = _authority(session, actor)
        refund_due = refund_clock.due_of(session, case)
    titles = {line.id: line.title or line.sku for line in case.lines}
    return ctx(actor, case=case, refunds=refunds, quote=quote, refusal=refusal, titles=titles, error=error,
               refund_due=refund_due, paid_with=finance_legs.original_payments(paid, locale),
               payer=(paid or {}).get("payer"),
               state_label=words.state_label(case.state, locale), back=f"/staff/finance/cases/{number}",
               finance=actor.role in FINANCE_ROLES, **authority, **WORDS)


def _not_refundable(case, locale: str) -> str:
    if case.type not in quoting.REFUNDABLE_TYPES:
        return gettext(locale, N_("A case of this kind ({type}) is not refunded here: only returns with a refund "
                                  "and refunds without a return are.")).format(
            type=words.word(words.TYPES, case.type, locale))
    return gettext(locale, N_("Not refundable yet: the case is {state}. A refund can be requested once the "
                              "returned goods are inspected.")).format(state=words.state_label(case.state, locale))


@router.get("/staff/finance/cases/{number}")
async def case_refunds(number: str, request: Request):
    actor = screen_actor(request, "finance", CASE_ROLES)
    return render(request, "staff/finance/case.html", _case_page(request, actor, number))


@router.post("/staff/finance/cases/{number}/refunds")
async def request_refund(number: str, request: Request):
    """Requests the refund the quote shows (every accepted unit, deductions from inspection and policy): within
    the requester's limit it is approved at once, else it waits in the approval queue."""
    actor = screen_actor(request, "finance", CASE_ROLES)
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    try:
        with request.app.state.db.transaction() as session:
            service.request_refund(session, actor=actor, number=number,
                                   body=RefundCreate(note=text(form, "note"),
                                                     refund_shipping=text(form, "refund_shipping", 3) == "yes"))
    except AppError as exc:
        return render(request, "staff/finance/case.html", _case_page(request, actor, number, error_of(request, exc)),
                      status=exc.status)
    return redirect(request, f"/staff/finance/cases/{number}", flash="refund_requested")

