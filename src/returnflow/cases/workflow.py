"""The case workflow: one table declares every (state, action) pair, who may do it and its guard; `fire` runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import utcnow
from ..errors import AppError, Conflict, Forbidden
from ..i18n import N_
from . import retype
from . import visibility as visible
from .guards import (
    ALL_STATES,
    AWAITED,
    OPEN_STATES,
    RELEASING_STATES,
    REVIEWERS,
    SENIOR,
    STAFF_WORK,
    TERMINAL_STATES,
    WAREHOUSE,
    Guard,
    all_of,
    approve_guard,
    arbitrate_guard,
    assign_guard,
    cancel_guard,
    inspect_guard,
    line_quantities,
    plan_guard,
    quantities_available,
    receive_guard,
    reject_guard,
    reopen_guard,
    require,
    resolve_guard,
    resolve_offered,
    ship_replacement_guard,
    shipment_guard,
    type_guard,
)
from .models import CaseState as S
from .models import CaseType as T
from .side_effects import write_side_effects
from .store import (
    CaseRecord as Case,
)
from .store import (
    append_event,
    line_state,
    save_changes,
)

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


# ---- effects (state bookkeeping beyond the state itself) ------------------------------------------------------

def _effect(case: Case, action: str, payload: dict, to: S, at: datetime) -> None:
    if action == "receive":
        qty = line_quantities(case, payload, lambda line: line.quantity, "")
        for line in case.lines:
            line.received_quantity = qty.get(line.id, 0)
    elif action == "inspect":
        qty = line_quantities(case, payload, lambda line: line.received_quantity, "")
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
    Transition("approve", REVIEW_STATES, after_approval, REVIEWERS, approve_guard,
               N_("Approve the request")),
    Transition("reject", REVIEW_STATES, S.REJECTED, REVIEWERS, reject_guard,
               N_("Reject the request, with the reason"), ("reason",)),
    # The customer's outcome changes (return -> exchange, refund -> repair, ...): the policy decides again (retype.py).
    Transition("change_type", retype.SOURCES, retype.after_change_type, STAFF_WORK, retype.guard,
               N_("Change the case's type and outcome, with the reason"), ("type", "reason"),
               offered=retype.offered),
    Transition("request_info", frozenset({S.PENDING_REVIEW, S.PENDING_APPROVAL}), S.AWAITING_CUSTOMER, REVIEWERS,
               require("message"), N_("Ask the customer for more information"), ("message",)),
    Transition("customer_reply", frozenset({S.AWAITING_CUSTOMER}), S.PENDING_REVIEW,
               ("customer", "agent", "supervisor", "admin"), require("message"),
               N_("The customer answers"), ("message",)),
    Transition("require_approval", frozenset({S.PENDING_REVIEW}), S.PENDING_APPROVAL,
               ("agent", "supervisor", "admin", "policy"), None,
               N_("Send up for approval at a higher authority level")),
    Transition("cancel", frozenset({S.PENDING_REVIEW, S.AWAITING_CUSTOMER, S.PENDING_APPROVAL, S.AWAITING_RETURN}),
               S.CANCELLED, ("customer", "agent", "supervisor", "admin", "system"), cancel_guard,
               N_("Cancel the request")),
    Transition("ship_return", frozenset({S.AWAITING_RETURN}), S.RETURN_IN_TRANSIT,
               ("customer", "agent", "supervisor", "admin", "system"), shipment_guard,
               N_("Record the return parcel (carrier, tracking number)"), ("carrier", "tracking_number")),
    # RECEIVED -> RECEIVED: a later parcel of a partial return updates the received quantities (logistics).
    Transition("receive", frozenset({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.RECEIVED}), S.RECEIVED,
               WAREHOUSE + ("system",),
               receive_guard, N_("Receive the returned goods")),
    Transition("inspect", frozenset({S.RECEIVED}), S.INSPECTED, WAREHOUSE, inspect_guard,
               N_("Record the inspection result")),
    Transition("start_repair", frozenset({S.INSPECTED}), S.IN_REPAIR, ("agent", "warehouse", "supervisor", "admin"),
               type_guard(T.REPAIR), N_("Start the repair")),
    Transition("complete_repair", frozenset({S.IN_REPAIR}), S.RESOLVING, ("agent", "warehouse", "supervisor", "admin"),
               type_guard(T.REPAIR), N_("The repair is done")),
    Transition("ship_replacement",
               frozenset({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.RECEIVED, S.INSPECTED, S.RESOLVING}), None,
               ("agent", "warehouse", "supervisor", "admin", "system"), ship_replacement_guard,
               N_("Ship the replacement, reshipped or repaired item"), ("carrier", "tracking_number")),
    Transition("resolve", frozenset({S.PENDING_REVIEW, S.INSPECTED, S.RESOLVING}) | AWAITED, S.RESOLVED,
               ("agent", "finance", "supervisor", "admin", "system"), resolve_guard,
               N_("Carry out the resolution"), offered=resolve_offered),
    Transition("close", frozenset({S.RESOLVED, S.REJECTED}), S.CLOSED, ("agent", "supervisor", "admin", "system"),
               None, N_("Close and archive")),
    Transition("reopen", frozenset({S.CLOSED}), S.PENDING_REVIEW, SENIOR, reopen_guard,
               N_("Reopen a closed case"), ("reason",)),
    Transition("dispute", frozenset({S.REJECTED, S.RESOLVED}), S.DISPUTED,
               ("customer", "agent", "supervisor", "admin"), all_of(require("reason"), quantities_available),
               N_("The customer asks the platform to intervene"), ("reason",)),
    Transition("arbitrate", frozenset({S.DISPUTED}), after_arbitration, ("platform",), arbitrate_guard,
               N_("The platform decides the dispute"), ("decision", "reason")),
    # The automatic outcome of an advance exchange's return deadline and the gateway's answers (logistics.advance):
    # a timeline event only, written by the system.
    Transition("settle_advance_exchange", NOT_TERMINAL, None, ("system",), None,
               N_("Advance exchange: hold or charge for the replacement")),
    Transition("escalate", OPEN_STATES, None, ("customer", "agent", "supervisor", "admin", "system"),
               require("reason"), N_("Escalate to a supervisor"), ("reason",)),
    Transition("assign", NOT_TERMINAL, None, STAFF_WORK + ("system",), assign_guard,
               N_("Assign to an agent")),
    Transition("attach", NOT_TERMINAL, None, ("customer",) + STAFF_WORK + ("warehouse", "platform"), None,
               N_("Add evidence (photo or video)")),
    Transition("note", ALL_STATES, None, ("agent", "warehouse", "finance", "supervisor", "admin", "platform"),
               require("text"), N_("Add an internal note"), ("text",)),
    # A plan the customer confirms before it is carried out (PROCESS.md §2); the plan itself is a row of
    # cases.plans, which checks which plan is open; these events put each step on the timeline.
    Transition("propose_plan", PLAN_STATES, None, STAFF_WORK,
               all_of(plan_guard("propose_plan"), require("kind")),
               N_("Propose a plan for the customer to accept"), ("plan", "kind")),
    Transition("accept_plan", PLAN_STATES, None, ("customer",), plan_guard("accept_plan"),
               N_("The customer accepts the proposed plan"), ("plan",)),
    Transition("decline_plan", PLAN_STATES, None, ("customer",), plan_guard("decline_plan"),
               N_("The customer declines the proposed plan (back to the agent)"),
               ("plan",)),
    Transition("withdraw_plan", PLAN_STATES, None, STAFF_WORK, plan_guard("withdraw_plan"),
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


@dataclass(slots=True)
class Step:
    """A transition checked and applied to the case record, not written yet: what `fire` writes for it (or a batch
    of them, cases/batch.py)."""

    source: str  # the state it left
    payload: dict
    at: datetime
    audience: str  # the event's visibility
    lines_before: list[tuple]  # the lines' state before it (store.line_state)
    retyped: dict | None  # what retype.save writes (change_type only)


def step(session: Session, case: Case, action: str, actor: Actor, *, payload: dict | None = None,
         expected_version: int | None = None, at: datetime | None = None, visibility: str | None = None) -> Step:
    """Checks table, role, version and guard, and applies the transition to the record (state, effects); writes
    nothing. `visibility`: a staff member's choice of who sees the event (cases/visibility.py); None: the step's
    default."""
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
    return Step(source, payload, at, audience, lines_before, retyped)


def fire(session: Session, case: Case, action: str, actor: Actor, *, payload: dict | None = None,
         expected_version: int | None = None, at: datetime | None = None, visibility: str | None = None) -> dict:
    """Runs one transition: checks table, role, version and guard; updates the case; appends the event and outbox row.

    `visibility`: a staff member's choice of who sees the event (cases/visibility.py); None: the step's default."""
    done = step(session, case, action, actor, payload=payload, expected_version=expected_version, at=at,
                visibility=visibility)
    # UPDATE ... WHERE version = <loaded>: a concurrent writer that committed first makes this match no row.
    if not save_changes(session, case, done.lines_before):
        raise Conflict("stale_version", field="version", sent=expected_version or case.version, current="newer")
    if done.retyped is not None:
        retype.save(session, case, done.retyped)
    event = append_event(session, case, action=action, actor=actor, source=done.source, payload=done.payload,
                         at=done.at, visibility=done.audience)
    write_side_effects(session, case, event)
    return event
