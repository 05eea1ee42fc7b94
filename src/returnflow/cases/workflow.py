"""The case workflow: one table declares every (state, action) pair, who may do it and its guard; `fire` runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..db import utcnow
from ..errors import AppError, Conflict, Forbidden
from ..guard import INT32_MAX
from ..orders.models import OrderLine
from ..i18n import N_, SUPPORTED, every, gettext, pick
from . import retype, visibility as visible
from .conversation import CasePlan
from .models import Case as CaseRow, CaseLine, CaseState as S, CaseType as T
from .ports import PORTS
from .side_effects import write_side_effects
from .store import (
    CaseLineRecord, CaseRecord as Case, append_event, count_events, line_state,
    save_changes,
)

OPEN_STATES = frozenset({S.PENDING_REVIEW, S.AWAITING_CUSTOMER, S.PENDING_APPROVAL, S.AWAITING_RETURN,
                         S.RETURN_IN_TRANSIT, S.RECEIVED, S.INSPECTED, S.IN_REPAIR, S.RESOLVING, S.DISPUTED})
TERMINAL_STATES = frozenset({S.CLOSED, S.CANCELLED})
ALL_STATES = frozenset(S)
# A case in these states no longer holds its quantities against the order lines.
RELEASING_STATES = frozenset({S.REJECTED, S.CANCELLED})

REVIEWERS = ("agent", "supervisor", "admin", "policy", "system")
SENIOR = ("supervisor", "admin")
STAFF_WORK = ("agent", "supervisor", "admin")
WAREHOUSE = ("warehouse", "supervisor", "admin")


class GuardFailed(AppError):
    status = 422

    """A transition's guard refused: `text` is an English msgid of the catalogs with {placeholders} from `values`
    (a value given as {language: text} is picked per reader)."""

    def __init__(self, text: str, /, *, field: str | None = None, **values: Any) -> None:
        super().__init__("guard_failed", field=field)
        self.text, self.values = text, values

    def problem(self, locale: str) -> str:
        values = {k: pick(v, locale) if isinstance(v, dict) else v for k, v in self.values.items()}
        try:
            return gettext(locale, self.text).format(**values)
        except (KeyError, IndexError, ValueError):
            return self.text.format(**values)

    def render(self, locale: str) -> dict[str, Any]:
        body = super().render(locale)
        body["message"] = self.problem(locale)
        return body

    def __str__(self) -> str:
        return self.problem("en")


Guard = Callable[[Session, Case, Actor, dict], None]
Target = Callable[[Case, dict], S]


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[S]
    to: S | Target | None  # None: the state stays (an event on the timeline only)
    roles: tuple[str, ...]
    guard: Guard | None = None
    summary: str = ""  # an English msgid of the catalogs
    requires: tuple[str, ...] = field(default_factory=tuple)
    # What the case's own fields already rule out (no database read), so no page offers an action its guard
    # would refuse for certain; the guard still decides.
    offered: Callable[[Case], bool] | None = None


# ---- targets -------------------------------------------------------------------------------------------------

def after_approval(case: Case, _payload: dict | None = None) -> S:
    """Where an approved case goes: back-shipment, repair on site, or straight to resolution."""
    if case.type == T.REPAIR and not case.needs_return:
        return S.IN_REPAIR
    if case.needs_return and case.type in (T.RETURN_REFUND, T.EXCHANGE, T.REPAIR):
        return S.AWAITING_RETURN
    return S.RESOLVING


def after_arbitration(case: Case, payload: dict) -> S:
    """The platform decides: for the customer the case proceeds as approved; for the merchant it closes."""
    return after_approval(case) if payload.get("decision") == "customer" else S.CLOSED


# The return is still on its way to us.
AWAITED = frozenset({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT})


# ---- guards --------------------------------------------------------------------------------------------------

def _text(payload: dict, name: str) -> str:
    value = payload.get(name)
    return value.strip() if isinstance(value, str) else ""


def _require(*names: str) -> Guard:
    def guard(_s: Session, _c: Case, _a: Actor, payload: dict) -> None:
        for name in names:
            if not _text(payload, name):
                raise GuardFailed(N_("payload.{name} is required for this action"), name=name, field=f"payload.{name}")
    return guard


# The plan row each plan event follows (cases.plans writes the row, then fires the event).
PLAN_STATUS_OF = {"propose_plan": "proposed", "accept_plan": "accepted", "decline_plan": "declined",
                  "withdraw_plan": "withdrawn"}


def _plan_guard(action: str) -> Guard:
    def guard(session: Session, case: Case, _a: Actor, payload: dict) -> None:
        plan = payload.get("plan")
        row = session.get(CasePlan, plan) if isinstance(plan, int) and not isinstance(plan, bool) else None
        status = PLAN_STATUS_OF[action]
        if row is None or row.case_id != case.id or row.status != status:
            raise GuardFailed(N_("payload.plan must be a plan of this case, changed through the plan pages"),
                              field="payload.plan")
        # One event per plan and step: as many events as plans in that status, never more.
        rows = select(func.count()).select_from(CasePlan).where(CasePlan.case_id == case.id)
        if action != "propose_plan":  # every plan was proposed once, whatever became of it
            rows = rows.where(CasePlan.status == status)
        if count_events(session, case.id, action) >= (session.scalar(rows) or 0):
            raise GuardFailed(N_("this plan step is already on the timeline"),
                              field="payload.plan")
    return guard


def _all(*guards: Guard) -> Guard:
    def guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
        for g in guards:
            g(session, case, actor, payload)
    return guard


# A shopper approved to send goods back must be told where: without a routable address nobody can approve
# (imports replaying history, the system actor, are exempt: their goods came back long ago).
NO_ADDRESS = N_("This request needs the goods back, and no return address fits it: add one (or a default) under "
                "Settings → Return addresses, then approve it.")


def return_address_routable(session: Session, case: Case) -> bool:
    return PORTS.return_address_routable(session, case)  # answered by logistics (cases/ports.py)


def _approve_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    if case.state == S.PENDING_APPROVAL and actor.role not in SENIOR:
        raise Forbidden("forbidden_role", role=actor.role, what="approve (pending approval)", allowed=list(SENIOR))
    if case.type in (T.INQUIRY, T.COMPLAINT):
        raise GuardFailed(N_("an inquiry or complaint is answered with 'resolve', not approved"))
    if case.needs_return and actor.kind != "system" and not return_address_routable(session, case):
        raise GuardFailed(NO_ADDRESS, field="return_address")
    decision = case.policy_decision
    if decision and not decision.get("within_policy", decision.get("eligible")) and actor.kind != "policy":
        # Approving what the policy does not allow is an override: a person says why, and the timeline shows it.
        reason = _text(payload, "override_reason")
        if not reason and actor.kind == "system":
            # A deadline rule the merchant set (e.g. silence approves, TB4) decides; its reason is the override's.
            reason = _text(payload, "reason") or f"automatic outcome ({payload.get('rule') or 'deadline'})"
        if not reason:
            raise GuardFailed(N_("the return policy does not allow this request (rules {rules}); approving it is an "
                                 "override: give payload.override_reason"),
                              rules={tag: gettext(tag, N_(", ")).join(decision.get("rule_ids") or []) for tag in SUPPORTED},
                              field="payload.override_reason")
        payload["override"] = _override(decision, reason)


def _reject_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    _require("reason")(session, case, actor, payload)
    decision = case.policy_decision
    if decision and decision.get("within_policy", decision.get("eligible")) and actor.kind != "policy":
        # Rejecting what the policy allows is an override too: recorded with the rules it sets aside.
        payload["override"] = _override(decision, _text(payload, "reason"))


def _override(decision: dict, reason: str) -> dict:
    return {"policy_verdict": decision.get("verdict"), "policy_version": (decision.get("policy") or {}).get("version"),
            "rule_ids": decision.get("rule_ids") or [], "reason": reason}


def _cancel_guard(session: Session, case: Case, actor: Actor, _p: dict) -> None:
    if case.state == S.AWAITING_RETURN and case.advance and _outbound_shipped(session, case):
        raise GuardFailed(N_("the replacement has already been shipped in advance; the return cannot be cancelled"))


def _shipment_guard(_s: Session, _c: Case, _a: Actor, payload: dict) -> None:
    _require("carrier", "tracking_number")(_s, _c, _a, payload)


def _line_quantities(case: Case, payload: dict, limit_of: Callable[[CaseLineRecord], int],
                     what: str) -> dict[int, int]:
    """Per-line quantities from payload['lines'] ([{line_id, quantity}]), defaulting to each line's limit."""
    by_id = {line.id: line for line in case.lines}
    given = payload.get("lines")
    if given is None:
        return {line.id: limit_of(line) for line in case.lines}
    if not isinstance(given, list):
        raise GuardFailed(N_("payload.lines must be a list of {{line_id, quantity}}"), field="payload.lines")
    result: dict[int, int] = {}
    for i, item in enumerate(given):
        line = by_id.get(item.get("line_id")) if isinstance(item, dict) else None
        if line is None:
            raise GuardFailed(N_("payload.lines[{i}].line_id: not a line of this case; lines: {lines}"), i=i,
                              lines=sorted(by_id),
                              field=f"payload.lines[{i}].line_id")
        qty = item.get("quantity")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0 or qty > limit_of(line):
            raise GuardFailed(N_("payload.lines[{i}].quantity: must be a whole number from 0 to {most} ({what})"), i=i,
                              most=limit_of(line),
                              what=every(what) if what else what,
                              field=f"payload.lines[{i}].quantity")
        result[line.id] = qty
    return result


def _receive_guard(_s: Session, case: Case, _a: Actor, payload: dict) -> None:
    qty = _line_quantities(case, payload, lambda line: line.quantity, N_("the quantity claimed"))
    if sum(qty.values()) == 0:
        raise GuardFailed(N_("nothing received: at least one line needs a quantity above 0"), field="payload.lines")


def _inspect_guard(_s: Session, case: Case, _a: Actor, payload: dict) -> None:
    _line_quantities(case, payload, lambda line: line.received_quantity, N_("the quantity received"))


def _type_guard(*types: T) -> Guard:
    def guard(_s: Session, case: Case, _a: Actor, _p: dict) -> None:
        if case.type not in types:
            allowed = ", ".join(t.value for t in types)
            raise GuardFailed(N_("only for cases of type {types}; this case is {type}"), types=allowed, type=case.type)
    return guard


def _ship_replacement_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    _type_guard(T.EXCHANGE, T.RESHIP, T.REPAIR)(session, case, actor, payload)
    _shipment_guard(session, case, actor, payload)
    if _outbound_shipped(session, case):
        raise GuardFailed(N_("the replacement has already been shipped"))
    early = case.state in (S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.RECEIVED)
    if early and not case.advance:
        raise GuardFailed(N_("the replacement ships after inspection unless the case is an advance exchange"))
    if case.type == T.REPAIR and case.state != S.RESOLVING:
        raise GuardFailed(N_("a repaired item is shipped once the repair is complete"))


def _outbound_shipped(session: Session, case: Case) -> bool:
    # A reopened repair ships its unit back once per round (CN12: the fault came back, the unit came in again).
    rounds = case.reopen_count if case.type == T.REPAIR else 0
    return count_events(session, case.id, "ship_replacement") > rounds


def _resolve_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    if case.type in (T.INQUIRY, T.COMPLAINT):
        _require("answer")(session, case, actor, payload)
        return
    if case.state == S.PENDING_REVIEW:
        raise GuardFailed(N_("only an inquiry or complaint can be resolved straight from review"))
    if case.state in AWAITED:
        # 先发后退 whose original never came: once the customer has paid for the replacement (charged, or the hold
        # captured) nothing is owed either way, and the case can be finished without the parcel.
        if not (case.advance and replacement_paid_for(session, case)):
            raise GuardFailed(N_("a case still waiting for its return is resolved only as an advance exchange whose "
                                 "replacement the customer has paid for (charge or captured hold)"))
        return
    if case.type in (T.EXCHANGE, T.RESHIP, T.REPAIR) and not _outbound_shipped(session, case):
        raise GuardFailed(N_("ship the replacement (or repaired item) first: action ship_replacement"))
    if case.type == T.REPAIR and case.state != S.RESOLVING:
        raise GuardFailed(N_("a repair is resolved after complete_repair"))


def replacement_paid_for(session: Session, case: Case) -> bool:
    return PORTS.replacement_paid_for(session, case)  # answered by logistics.advance (cases/ports.py)


def _resolve_offered(case: Case) -> bool:
    """What `_resolve_guard` refuses whatever the payload and the database say."""
    if case.type in (T.INQUIRY, T.COMPLAINT):
        return True
    if case.state in AWAITED:
        return bool(case.advance)
    return case.state != S.PENDING_REVIEW and (case.type != T.REPAIR or case.state == S.RESOLVING)


def _quantities_available(session: Session, case: Case, _a: Actor, _p: dict) -> None:
    """A case that had released its quantities may take them back only if nobody else claimed them since."""
    if case.holds_quantity:
        return
    for line in case.lines:
        available = returnable_quantity(session, line.order_line_id, exclude_case_id=case.id)
        if line.quantity > available:
            raise GuardFailed(N_("order line {order_line_id} now has only {available} claimable; another case claimed "
                                 "the rest"),
                              order_line_id=line.order_line_id, available=available)


def _reopen_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    from ..config import get_settings

    _require("reason")(session, case, actor, payload)
    limit = get_settings().max_reopens
    if case.reopen_count >= limit:
        raise AppError("reopen_limit", status=422, count=case.reopen_count, limit=limit)
    _quantities_available(session, case, actor, payload)


def _arbitrate_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    if payload.get("decision") not in ("customer", "merchant"):
        raise GuardFailed(N_("payload.decision must be 'customer' or 'merchant'"),
                          field="payload.decision")
    _require("reason")(session, case, actor, payload)
    if payload["decision"] == "customer":
        _quantities_available(session, case, actor, payload)


def _assign_guard(_s: Session, case: Case, actor: Actor, payload: dict) -> None:
    assignee = payload.get("assignee_id")
    if assignee is not None and (not isinstance(assignee, int) or isinstance(assignee, bool)
                                 or not 1 <= assignee <= INT32_MAX):
        raise GuardFailed(N_("payload.assignee_id must be a user id or null"),
                          field="payload.assignee_id")
    if actor.role == "agent" and assignee not in (actor.user_id, None):
        raise Forbidden("forbidden_role", role=actor.role, what="assign a case to someone else", allowed=list(SENIOR))


# ---- effects (state bookkeeping beyond the state itself) ------------------------------------------------------

def _effect(case: Case, action: str, payload: dict, to: S, at: datetime) -> None:
    if action == "receive":
        qty = _line_quantities(case, payload, lambda line: line.quantity, "")
        for line in case.lines:
            line.received_quantity = qty.get(line.id, 0)
    elif action == "inspect":
        qty = _line_quantities(case, payload, lambda line: line.received_quantity, "")
        verdicts = {item.get("line_id"): item for item in payload.get("lines") or [] if isinstance(item, dict)}
        for line in case.lines:
            line.accepted_quantity = qty.get(line.id, 0)
            item = verdicts.get(line.id, {})
            line.inspection = {k: item[k] for k in ("verdict", "grade", "note", "deduction") if k in item}
    elif action == "ship_replacement" and not payload.get("items"):
        # What goes out: the variant the customer chose for each exchanged line, else the same item again.
        payload["items"] = [{"line_id": line.id, "returned_sku": line.sku, "quantity": line.quantity,
                             "sku": (line.variant or {}).get("sku") or line.sku} for line in case.lines]
    elif action == "escalate":
        case.escalation_level += 1
    elif action == "assign":
        case.assignee_id = payload.get("assignee_id")
    elif action == "reopen":
        case.reopen_count += 1
        if case.type == T.REPAIR and case.needs_return:
            # CN12: the repaired unit went back to the customer; a reopened repair waits for it again.
            for line in case.lines:
                line.received_quantity = line.accepted_quantity = 0
    if to in RELEASING_STATES or (case.type == T.REPAIR and to in (S.RESOLVED, S.CLOSED)):
        # A finished repair gave the unit back: it stays claimable (CN12 counts the repairs instead).
        case.holds_quantity = False
    elif to in OPEN_STATES:
        case.holds_quantity = True
    if to == S.REJECTED:
        case.outcome = "rejected"
    elif to == S.CANCELLED:
        case.outcome = "cancelled"
    elif to == S.RESOLVED:
        case.outcome = "resolved"
    elif to in OPEN_STATES:
        case.outcome = None
    if to in TERMINAL_STATES:
        case.closed_at = at
    elif case.closed_at is not None:
        case.closed_at = None


# ---- the table -----------------------------------------------------------------------------------------------

REVIEW_STATES = frozenset({S.PENDING_REVIEW, S.PENDING_APPROVAL, S.AWAITING_CUSTOMER})
NOT_TERMINAL = ALL_STATES - TERMINAL_STATES
PLAN_STATES = frozenset({S.PENDING_REVIEW, S.AWAITING_CUSTOMER, S.PENDING_APPROVAL, S.INSPECTED, S.IN_REPAIR,
                         S.RESOLVING, S.DISPUTED})

TRANSITIONS: tuple[Transition, ...] = (
    Transition("approve", REVIEW_STATES, after_approval, REVIEWERS, _approve_guard,
               N_("Approve the request")),
    Transition("reject", REVIEW_STATES, S.REJECTED, REVIEWERS, _reject_guard,
               N_("Reject the request, with the reason"), ("reason",)),
    # The customer's outcome changes (return -> exchange, refund -> repair, ...): the policy decides again (retype.py).
    Transition("change_type", retype.SOURCES, retype.after_change_type, STAFF_WORK, retype.guard,
               N_("Change the case's type and outcome, with the reason"), ("type", "reason"),
               offered=retype.offered),
    Transition("request_info", frozenset({S.PENDING_REVIEW, S.PENDING_APPROVAL}), S.AWAITING_CUSTOMER, REVIEWERS,
               _require("message"), N_("Ask the customer for more information"), ("message",)),
    Transition("customer_reply", frozenset({S.AWAITING_CUSTOMER}), S.PENDING_REVIEW,
               ("customer", "agent", "supervisor", "admin"), _require("message"),
               N_("The customer answers"), ("message",)),
    Transition("require_approval", frozenset({S.PENDING_REVIEW}), S.PENDING_APPROVAL,
               ("agent", "supervisor", "admin", "policy"), None,
               N_("Send up for approval at a higher authority level")),
    Transition("cancel", frozenset({S.PENDING_REVIEW, S.AWAITING_CUSTOMER, S.PENDING_APPROVAL, S.AWAITING_RETURN}),
               S.CANCELLED, ("customer", "agent", "supervisor", "admin", "system"), _cancel_guard,
               N_("Cancel the request")),
    Transition("ship_return", frozenset({S.AWAITING_RETURN}), S.RETURN_IN_TRANSIT,
               ("customer", "agent", "supervisor", "admin", "system"), _shipment_guard,
               N_("Record the return parcel (carrier, tracking number)"), ("carrier", "tracking_number")),
    # RECEIVED -> RECEIVED: a later parcel of a partial return updates the received quantities (logistics).
    Transition("receive", frozenset({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.RECEIVED}), S.RECEIVED,
               WAREHOUSE + ("system",),
               _receive_guard, N_("Receive the returned goods")),
    Transition("inspect", frozenset({S.RECEIVED}), S.INSPECTED, WAREHOUSE, _inspect_guard,
               N_("Record the inspection result")),
    Transition("start_repair", frozenset({S.INSPECTED}), S.IN_REPAIR, ("agent", "warehouse", "supervisor", "admin"),
               _type_guard(T.REPAIR), N_("Start the repair")),
    Transition("complete_repair", frozenset({S.IN_REPAIR}), S.RESOLVING, ("agent", "warehouse", "supervisor", "admin"),
               _type_guard(T.REPAIR), N_("The repair is done")),
    Transition("ship_replacement",
               frozenset({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.RECEIVED, S.INSPECTED, S.RESOLVING}), None,
               ("agent", "warehouse", "supervisor", "admin", "system"), _ship_replacement_guard,
               N_("Ship the replacement, reshipped or repaired item"), ("carrier", "tracking_number")),
    Transition("resolve", frozenset({S.PENDING_REVIEW, S.INSPECTED, S.RESOLVING}) | AWAITED, S.RESOLVED,
               ("agent", "finance", "supervisor", "admin", "system"), _resolve_guard,
               N_("Carry out the resolution"), offered=_resolve_offered),
    Transition("close", frozenset({S.RESOLVED, S.REJECTED}), S.CLOSED, ("agent", "supervisor", "admin", "system"),
               None, N_("Close and archive")),
    Transition("reopen", frozenset({S.CLOSED}), S.PENDING_REVIEW, SENIOR, _reopen_guard,
               N_("Reopen a closed case"), ("reason",)),
    Transition("dispute", frozenset({S.REJECTED, S.RESOLVED}), S.DISPUTED,
               ("customer", "agent", "supervisor", "admin"), _all(_require("reason"), _quantities_available),
               N_("The customer asks the platform to intervene"), ("reason",)),
    Transition("arbitrate", frozenset({S.DISPUTED}), after_arbitration, ("platform",), _arbitrate_guard,
               N_("The platform decides the dispute"), ("decision", "reason")),
    # The automatic outcome of an advance exchange's return deadline and the gateway's answers (logistics.advance):
    # a timeline event only, written by the system.
    Transition("settle_advance_exchange", NOT_TERMINAL, None, ("system",), None,
               N_("Advance exchange: hold or charge for the replacement")),
    Transition("escalate", OPEN_STATES, None, ("customer", "agent", "supervisor", "admin", "system"),
               _require("reason"), N_("Escalate to a supervisor"), ("reason",)),
    Transition("assign", NOT_TERMINAL, None, STAFF_WORK + ("system",), _assign_guard,
               N_("Assign to an agent")),
    Transition("attach", NOT_TERMINAL, None, ("customer",) + STAFF_WORK + ("warehouse", "platform"), None,
               N_("Add evidence (photo or video)")),
    Transition("note", ALL_STATES, None, ("agent", "warehouse", "finance", "supervisor", "admin", "platform"),
               _require("text"), N_("Add an internal note"), ("text",)),
    # A plan the customer confirms before it is carried out (PROCESS.md §2); the plan itself is a row of
    # cases.plans, which checks which plan is open; these events put each step on the timeline.
    Transition("propose_plan", PLAN_STATES, None, STAFF_WORK,
               _all(_plan_guard("propose_plan"), _require("kind")),
               N_("Propose a plan for the customer to accept"), ("plan", "kind")),
    Transition("accept_plan", PLAN_STATES, None, ("customer",), _plan_guard("accept_plan"),
               N_("The customer accepts the proposed plan"), ("plan",)),
    Transition("decline_plan", PLAN_STATES, None, ("customer",), _plan_guard("decline_plan"),
               N_("The customer declines the proposed plan (back to the agent)"),
               ("plan",)),
    Transition("withdraw_plan", PLAN_STATES, None, STAFF_WORK, _plan_guard("withdraw_plan"),
               N_("Withdraw a proposed plan"), ("plan",)),
)

BY_ACTION: dict[str, Transition] = {t.action: t for t in TRANSITIONS}
ACTIONS = tuple(BY_ACTION)


_FROM_STATE: dict[str, tuple[Transition, ...]] = {
    state.value: tuple(t for t in TRANSITIONS if state in t.sources) for state in S}


def allowed_actions(case: Case, actor: Actor | None = None) -> list[str]:
    """The actions the table allows from the case's state (and for this actor's role, if given)."""
    return [t.action for t in _FROM_STATE.get(case.state, ())
            if (actor is None or actor.role in t.roles) and (t.offered is None or t.offered(case))]


def returnable_quantity(session: Session, order_line_id: int, *, exclude_case_id: int | None = None) -> int:
    """Delivered quantity minus what open or finished cases already claim."""
    delivered = session.scalar(select(OrderLine.delivered_quantity).where(OrderLine.id == order_line_id)) or 0
    claimed = select(func.coalesce(func.sum(CaseLine.quantity), 0)).join(CaseRow, CaseRow.id == CaseLine.case_id).where(
        CaseLine.order_line_id == order_line_id, CaseRow.holds_quantity.is_(True))
    if exclude_case_id is not None:
        claimed = claimed.where(CaseRow.id != exclude_case_id)
    return delivered - (session.scalar(claimed) or 0)


def fire(session: Session, case: Case, action: str, actor: Actor, *, payload: dict | None = None,
         expected_version: int | None = None, at: datetime | None = None, visibility: str | None = None) -> dict:
    """Runs one transition: checks table, role, version and guard; updates the case; appends the event and outbox row.

    `visibility`: a staff member's choice of who sees the event (cases/visibility.py); None: the step's default."""
    payload = dict(payload or {})
    audience = visible.of_event(action, actor, visible.choice(visibility))
    transition = BY_ACTION.get(action)
    if transition is None:
        raise AppError("unknown_action", status=422, field="action", action=action, allowed=list(ACTIONS))
    if expected_version is not None and expected_version != case.version:
        raise Conflict("stale_version", field="version", sent=expected_version, current=case.version)
    if case.state not in transition.sources:
        raise Conflict("illegal_transition", state=case.state, action=action,
                       allowed=allowed_actions(case, actor) or ["-"])
    if actor.role not in transition.roles:
        raise Forbidden("forbidden_role", role=actor.role, what=action, allowed=list(transition.roles))
    if transition.guard is not None:
        transition.guard(session, case, actor, payload)

    at = at or utcnow()
    lines_before = line_state(case)
    source = case.state
    target = transition.to(case, payload) if callable(transition.to) else (transition.to or S(source))
    retyped = retype.apply(case, payload, source) if action == "change_type" else None
    _effect(case, action, payload, target, at)
    case.state = target.value
    case.updated_at = at
    # UPDATE ... WHERE version = <loaded>: a concurrent writer that committed first makes this match no row.
    if not save_changes(session, case, lines_before):
        raise Conflict("stale_version", field="version", sent=expected_version or case.version, current="newer")
    if retyped is not None:
        retype.save(session, case, retyped)
    event = append_event(session, case, action=action, actor=actor, source=source, payload=payload, at=at,
                         visibility=audience)
    write_side_effects(session, case, event)
    return event
