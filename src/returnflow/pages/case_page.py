"""The staff case page and its actions: the steps that fit the case now (cases/offer.py), the policy's answer in
the third person, and every refusal shown on the page itself, in the staff member's words, with nothing changed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ..actor import Actor
from ..cases import offer, retype, service
from ..cases import reasons as reason_taxonomy
from ..cases.models import Attachment, CaseEvent
from ..cases.visibility import CUSTOMER, SHAREABLE
from ..cases.workflow import BY_ACTION
from ..errors import AppError
from ..labels import reason_label
from ..merchants.clock import language_of
from ..money import fmt
from ..orders.models import Customer, Order
from ..refunds.postage import claim_dict
from ..sla import refund_clock
from ..cases import handoffs, plans
from ..cases.messages import messages_of
from . import case_sections, follow, marketplace_pages, words
from .case_refusals import FIELDS, NO_VERSION, refusal_words
from .decision import decision_of_case, staff_words
from .frame import N_, PageError, check_csrf, locale_of, redirect, render, gettext
from .customer_history import customer_history
from .staff_pages import _ctx, _staff_users, staff_actor

router = APIRouter(include_in_schema=False)  # pages/__init__.py installs it right after the staff console's

# Actions with their own form on the case page (not a plain button).
OWN_FORMS = {"attach", "note", "assign"} | set(words.PLAN_ACTIONS)
# Done on the warehouse screens (pages/warehouse_pages.py), which keep the parcel and inspection records.
DESK_ACTIONS = {"receive", "inspect"}
# The case type a plan the customer accepted stands for (store credit changes no type).
PLAN_TYPES = {"full_refund": "return_refund", "partial_refund": "refund_only", "exchange": "exchange",
              "repair": "repair", "reship": "reship"}
PLAN_REASON = N_("The customer accepted the plan: {plan}.")


def _view(request: Request, actor: Actor, number: str, *, problem: dict | None = None) -> dict[str, Any]:
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        case = service.get_case(session, actor=actor, number=number)
        order = session.get(Order, case.order_id)
        customer = session.get(Customer, case.customer_id) if case.customer_id else None
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
        files = session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)).all()
        users = _staff_users(session, actor)
        default = language_of(session, case.merchant_id)
        reason_names = {r.code: reason_label(r, locale, default)
                        for r in reason_taxonomy.for_merchant(session, case.merchant_id)}
        decision = decision_of_case(session, case)
        messages = messages_of(session, case.id)
        money = offer.money_state(session, case)
        extra = {"approvals": case_sections.approvals(events, locale), "refunds": case_sections.money(session, case),
                 "shipments": case_sections.shipments(session, case),
                 "inspections": case_sections.inspections(session, case, locale),
                 "replies": case_sections.reply_templates(session, case, locale),
                 "plans": plans.plans_of(session, case.id), "handoffs": handoffs.of_case(session, case.id),
                 "refund_due": refund_clock.due_of(session, case), "postage": claim_dict(session, case),
                 "history": customer_history(session, case, locale),
                 "marketplace": marketplace_pages.case_section(session, case.id, locale, actor.role)}
    offered = offer.actions_for(case, actor, case.policy_decision, money)
    allowed = {o.action for o in offered}
    buttons = [{"action": o.action, "label": words.word(words.ACTIONS, o.action, locale), "primary": o.primary,
                "override": o.override, "requires": BY_ACTION[o.action].requires}
               for o in offered if o.action not in OWN_FORMS]
    template = request.query_params.get("template", "")
    chosen = next((t for t in extra["replies"] if t["code"] == template), None)
    steps = [{"at": e.created_at, "label": words.word(words.STAFF_STEPS, e.action, locale), "action": e.action,
              "who": e.actor_name or e.actor_role, "role": words.word(words.ROLES, e.actor_role, locale),
              "to": words.state_label(e.to_state, locale) if e.from_state != e.to_state else "",
              "details": (follow.plan_details(e.payload or {}, locale) if e.action in words.PLAN_ACTIONS else [])
              + _retyped(e, locale) + words.event_details(e.payload or {}, staff=True, reasons=reason_names)
              + _held(e.payload or {}, locale), "internal": e.visibility != CUSTOMER} for e in events]
    return _ctx(
        actor, case=case, order=order, customer=customer, steps=steps, files=files, users=users,
        buttons=buttons, shareable=SHAREABLE, can_note="note" in allowed, can_assign="assign" in allowed,
        decision=decision, problem=problem, **staff_words(locale),
        messages=messages, reason_names=reason_names, fields=FIELDS,
        state_label=words.state_label(case.state, locale), type_label=words.word(words.TYPES, case.type, locale),
        names={u.id: u.name for u in users}, can_plan="propose_plan" in allowed,
        can_attach="attach" in allowed, max_message_files=follow.MAX_MESSAGE_FILES,
        open_plan=next((p for p in extra["plans"] if p.status == "proposed"), None),
        retype=_retype_offer(case, extra["plans"], allowed, locale),
        plan_kinds=plans.KINDS, plan_statuses=plans.STATUSES, teams=handoffs.TEAMS,
        handoff_statuses=handoffs.STATUSES, refund_states=case_sections.REFUND_STATES,
        payment_states=case_sections.PAYMENT_STATES, verdicts=case_sections.VERDICTS, grades=words.GRADES, reply_text=chosen["text"]
        if chosen else "", chosen_template=template if chosen else "", **extra,
        price=lambda minor: fmt(minor, case.currency) if minor is not None else "")


def _retype_offer(case, case_plans, allowed: set[str], locale: str) -> dict[str, Any] | None:
    """The change-type form: the types the case may become, and the one-click change when the customer accepted
    a plan of another kind (the latest accepted plan)."""
    if "change_type" not in allowed:
        return None
    goods_moving = case.state in {s.value for s in retype.GOODS_MOVING}
    choices = [t.value for t in (retype.NEEDS_GOODS_BACK if goods_moving else retype.GOODS) if t.value != case.type]
    accepted = next((p for p in reversed(case_plans) if p.status == "accepted"), None)
    suggested = PLAN_TYPES.get(accepted.kind) if accepted is not None else None
    one_click = None
    if suggested in choices:
        one_click = {"type": suggested, "label": words.word(words.TYPES, suggested, locale),
                     "reason": gettext(locale, PLAN_REASON).format(plan=gettext(locale, plans.KINDS[accepted.kind]))}
    return {"choices": [(t, words.word(words.TYPES, t, locale)) for t in choices], "one_click": one_click}


def _retyped(event, locale: str) -> list[tuple[str, str]]:
    """A change of type (from → to, the policy's new verdict) and an override's reason, for the timeline."""
    payload = event.payload or {}
    if isinstance(payload.get("override_reason"), str) and payload["override_reason"]:
        return [(N_("Override reason"), payload["override_reason"])]
    if event.action != "change_type":
        return []
    found = [(N_("Type"), words.word(words.TYPES, payload.get("from"), locale) + " → "
              + words.word(words.TYPES, payload.get("to"), locale))]
    policy = payload.get("policy") or {}
    if policy.get(locale) or policy.get("en"):
        found.append((N_("Policy"), policy.get(locale) or policy["en"]))
    return found


def _held(payload: dict, locale: str) -> list[tuple[str, str]]:
    """Why the policy's approval at opening waits for staff (no return address fits), in the reader's language."""
    held = payload.get("held")
    return [(N_("Held for review"), held.get(locale) or held["en"])] if isinstance(held, dict) else []


def refused(request: Request, actor: Actor, number: str, exc: AppError) -> HTMLResponse:
    """The case page again, as it is now, with why the action was refused at the top (nothing was changed)."""
    problem = refusal_words(exc, locale_of(request))
    return render(request, "staff/case.html", _view(request, actor, number, problem=problem), status=exc.status)


def shown_version(form) -> int:
    """The version of the case the form showed; a form without it is refused, never given the current one."""
    version = str(form.get("version") or "")
    if not version.isdigit() or len(version) > 9:
        raise PageError("version_missing", NO_VERSION, field="version", status=409)
    return int(version)


@router.get("/staff/cases/{number}")
async def case_page(number: str, request: Request, template: str = ""):
    actor = staff_actor(request)
    return render(request, "staff/case.html", _view(request, actor, number))


def _payload(action: str, form, case) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name in ("reason", "message", "carrier", "tracking_number", "text", "answer", "decision", "override_reason",
                 "type"):
        value = str(form.get(name) or "").strip()
        if value:
            payload[name] = value[:2000]
    if action == "assign":
        raw = str(form.get("assignee_id") or "")
        payload = {"assignee_id": int(raw) if raw.isdigit() and len(raw) < 10 else None}
    return payload


FLASHES = {"note": "note_saved", "change_type": "type_changed"}


@router.post("/staff/cases/{number}/actions/{action}")
async def act(number: str, action: str, request: Request):
    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=200)
    check_csrf(request, form)
    try:
        if action in words.PLAN_ACTIONS:
            # Plans have their own forms, which keep the plan row and its event together.
            raise PageError("plan_form", N_("Use the plan form on the case page."), field="action", status=409)
        if action in DESK_ACTIONS:
            # What arrived is recorded per parcel and line at the desk, what we decided per line at inspection.
            raise PageError("desk_form", N_("Record the parcel at the receiving desk and inspect it line by line "
                                            "on the warehouse screen."), field="action", status=409)
        version = shown_version(form)
        with request.app.state.db.transaction() as session:
            case = service.get_case(session, actor=actor, number=number)
            service.act(session, actor=actor, number=number, action=action, version=version,
                        payload=_payload(action, form, case),
                        visibility=str(form.get("visibility") or "")[:10] or None)
    except AppError as exc:
        return refused(request, actor, number, exc)
    return redirect(request, f"/staff/cases/{number}", flash=FLASHES.get(action, "action_done"))
