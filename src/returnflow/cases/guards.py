"""The case workflow's guards: what each transition checks before it fires (a refusal is a GuardFailed with a
msgid of the catalogs), the role and state sets the table is written with, and how much of an order line is still
returnable. The table itself and `fire` are in workflow.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..errors import AppError, Forbidden
from ..guard import INT32_MAX
from ..i18n import N_, SUPPORTED, every, gettext, said
from ..orders.models import OrderLine
from .conversation import CasePlan
from .models import Case as CaseRow
from .models import CaseLine
from .models import CaseState as S
from .models import CaseType as T
from .ports import PORTS
from .store import (
    CaseLineRecord,
    count_events,
)
from .store import (
    CaseRecord as Case,
)
from ..config import get_settings

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
        return said(locale, self.text, self.values)

    def render(self, locale: str) -> dict[str, Any]:
        body = super().render(locale)
        body["message"] = self.problem(locale)
        return body

    def __str__(self) -> str:
        return self.problem("en")


Guard = Callable[[Session, Case, Actor, dict], None]

# The return is still on its way to us.
AWAITED = frozenset({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT})


# ---- guards --------------------------------------------------------------------------------------------------

def _text(payload: dict, name: str) -> str:
    value = payload.get(name)
    return value.strip() if isinstance(value, str) else ""


def require(*names: str) -> Guard:
    def guard(_s: Session, _c: Case, _a: Actor, payload: dict) -> None:
        for name in names:
            if not _text(payload, name):
                raise GuardFailed(N_("payload.{name} is required for this action"), name=name, field=f"payload.{name}")
    return guard


# The plan row each plan event follows (cases.plans writes the row, then fires the event).
PLAN_STATUS_OF = {"propose_plan": "proposed", "accept_plan": "accepted", "decline_plan": "declined",
                  "withdraw_plan": "withdrawn"}


def plan_guard(action: str) -> Guard:
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


def all_of(*guards: Guard) -> Guard:
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


def approve_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
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


def reject_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    require("reason")(session, case, actor, payload)
    decision = case.policy_decision
    if decision and decision.get("within_policy", decision.get("eligible")) and actor.kind != "policy":
        # Rejecting what the policy allows is an override too: recorded with the rules it sets aside.
        payload["override"] = _override(decision, _text(payload, "reason"))


def _override(decision: dict, reason: str) -> dict:
    return {"policy_verdict": decision.get("verdict"), "policy_version": (decision.get("policy") or {}).get("version"),
            "rule_ids": decision.get("rule_ids") or [], "reason": reason}


def cancel_guard(session: Session, case: Case, actor: Actor, _p: dict) -> None:
    if case.state == S.AWAITING_RETURN and case.advance and _outbound_shipped(session, case):
        raise GuardFailed(N_("the replacement has already been shipped in advance; the return cannot be cancelled"))


def shipment_guard(_s: Session, _c: Case, _a: Actor, payload: dict) -> None:
    require("carrier", "tracking_number")(_s, _c, _a, payload)


def line_quantities(case: Case, payload: dict, limit_of: Callable[[CaseLineRecord], int],
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


def receive_guard(_s: Session, case: Case, _a: Actor, payload: dict) -> None:
    qty = line_quantities(case, payload, lambda line: line.quantity, N_("the quantity claimed"))
    if sum(qty.values()) == 0:
        raise GuardFailed(N_("nothing received: at least one line needs a quantity above 0"), field="payload.lines")


def inspect_guard(_s: Session, case: Case, _a: Actor, payload: dict) -> None:
    line_quantities(case, payload, lambda line: line.received_quantity, N_("the quantity received"))


def type_guard(*types: T) -> Guard:
    def guard(_s: Session, case: Case, _a: Actor, _p: dict) -> None:
        if case.type not in types:
            allowed = ", ".join(t.value for t in types)
            raise GuardFailed(N_("only for cases of type {types}; this case is {type}"), types=allowed, type=case.type)
    return guard


def ship_replacement_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    type_guard(T.EXCHANGE, T.RESHIP, T.REPAIR)(session, case, actor, payload)
    shipment_guard(session, case, actor, payload)
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


def resolve_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    if case.type in (T.INQUIRY, T.COMPLAINT):
        require("answer")(session, case, actor, payload)
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


def resolve_offered(case: Case) -> bool:
    """What `resolve_guard` refuses whatever the payload and the database say."""
    if case.type in (T.INQUIRY, T.COMPLAINT):
        return True
    if case.state in AWAITED:
        return bool(case.advance)
    return case.state != S.PENDING_REVIEW and (case.type != T.REPAIR or case.state == S.RESOLVING)


def quantities_available(session: Session, case: Case, _a: Actor, _p: dict) -> None:
    """A case that had released its quantities may take them back only if nobody else claimed them since."""
    if case.holds_quantity:
        return
    for line in case.lines:
        available = returnable_quantity(session, line.order_line_id, exclude_case_id=case.id)
        if line.quantity > available:
            raise GuardFailed(N_("order line {order_line_id} now has only {available} claimable; another case claimed "
                                 "the rest"),
                              order_line_id=line.order_line_id, available=available)


def reopen_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    require("reason")(session, case, actor, payload)
    limit = get_settings().max_reopens
    if case.reopen_count >= limit:
        raise AppError("reopen_limit", status=422, count=case.reopen_count, limit=limit)
    quantities_available(session, case, actor, payload)


def arbitrate_guard(session: Session, case: Case, actor: Actor, payload: dict) -> None:
    if payload.get("decision") not in ("customer", "merchant"):
        raise GuardFailed(N_("payload.decision must be 'customer' or 'merchant'"),
                          field="payload.decision")
    require("reason")(session, case, actor, payload)
    if payload["decision"] == "customer":
        quantities_available(session, case, actor, payload)


def assign_guard(_s: Session, case: Case, actor: Actor, payload: dict) -> None:
    assignee = payload.get("assignee_id")
    if assignee is not None and (not isinstance(assignee, int) or isinstance(assignee, bool)
                                 or not 1 <= assignee <= INT32_MAX):
        raise GuardFailed(N_("payload.assignee_id must be a user id or null"),
                          field="payload.assignee_id")
    if actor.role == "agent" and assignee not in (actor.user_id, None):
        raise Forbidden("forbidden_role", role=actor.role, what="assign a case to someone else", allowed=list(SENIOR))


def returnable_quantity(session: Session, order_line_id: int, *, exclude_case_id: int | None = None) -> int:
    """Delivered quantity minus what open or finished cases already claim."""
    delivered = session.scalar(select(OrderLine.delivered_quantity).where(OrderLine.id == order_line_id)) or 0
    claimed = select(func.coalesce(func.sum(CaseLine.quantity), 0)).join(CaseRow, CaseRow.id == CaseLine.case_id).where(
        CaseLine.order_line_id == order_line_id, CaseRow.holds_quantity.is_(True))
    if exclude_case_id is not None:
        claimed = claimed.where(CaseRow.id != exclude_case_id)
    return delivered - (session.scalar(claimed) or 0)
