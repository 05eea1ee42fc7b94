"""Which actions a case page offers, and which one is the primary (highlighted) button.

The transition table (workflow.py) says what a state and a role allow; this narrows it to what makes sense for the
case's type, outcome and money state, so no page offers a step its guard would refuse for certain ("ship the
replacement" on a refund case, "resolve" before a refund exists), and puts the policy's answer on the buttons:
approve is primary only within the policy; outside it, approving is an override that asks for its reason, and
reject (or proposing a plan) is primary instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..actor import Actor
from . import retype
from .models import CaseState as S
from .models import CaseType as T
from .ports import PORTS
from .store import CaseRecord, count_events
from .guards import AWAITED, SENIOR, replacement_paid_for
from .workflow import allowed_actions

REFUND_TYPES = (T.RETURN_REFUND.value, T.REFUND_ONLY.value)
SHIPPING_TYPES = (T.EXCHANGE.value, T.RESHIP.value, T.REPAIR.value)
TALK_TYPES = (T.INQUIRY.value, T.COMPLAINT.value)
# The next step, when several are offered, in the order one would take them.
PRIMARY_ORDER = ("approve", "ship_replacement", "start_repair", "complete_repair", "resolve", "close", "reject",
                 "propose_plan", "customer_reply", "arbitrate", "reopen")


@dataclass(frozen=True, slots=True)
class MoneyState:
    """What has moved for the case: a refund (any but a rejected one), a replacement or repaired item shipped."""

    has_refund: bool = False
    refund_paid: bool = False
    replacement_shipped: bool = False
    replacement_paid: bool = False  # an advance exchange's replacement charged (or its hold captured)


@dataclass(frozen=True, slots=True)
class Offered:
    action: str
    primary: bool = False
    override: bool = False  # approving outside the policy: the form asks for the override reason


def money_state(session: Session, case: CaseRecord) -> MoneyState:
    states = PORTS.refund_states(session, case)
    rounds = case.reopen_count if case.type == T.REPAIR.value else 0
    return MoneyState(has_refund=bool(states - {"rejected"}), refund_paid="completed" in states,
                      replacement_shipped=count_events(session, case.id, "ship_replacement") > rounds,
                      replacement_paid=bool(case.advance) and replacement_paid_for(session, case))


def within_policy(decision: dict | None) -> bool | None:
    """True/False as the policy decided the case; None when the policy did not decide it."""
    if not decision:
        return None
    return bool(decision.get("within_policy", decision.get("eligible")))


def _fits(action: str, case: CaseRecord, actor: Actor, money: MoneyState) -> bool:
    state, kind = S(case.state), case.type
    if action == "approve":
        return kind not in TALK_TYPES and (state != S.PENDING_APPROVAL or actor.role in SENIOR)
    if action in ("start_repair", "complete_repair"):
        return kind == T.REPAIR.value
    if action == "ship_replacement":
        if kind not in SHIPPING_TYPES or money.replacement_shipped:
            return False
        if kind == T.REPAIR.value:
            return state == S.RESOLVING
        return state in (S.INSPECTED, S.RESOLVING) or bool(case.advance)
    if action == "resolve":
        if kind in TALK_TYPES:
            return True
        if state in AWAITED:
            return bool(case.advance) and money.replacement_paid
        if kind in REFUND_TYPES:
            return money.has_refund  # a refund case is done once its money is (refunds/settle.py resolves it)
        return money.replacement_shipped
    if action == "cancel":
        # An advance exchange whose replacement left cannot be taken back by cancelling.
        return not (state == S.AWAITING_RETURN and case.advance and money.replacement_shipped)
    if action == "change_type":
        return not money.has_refund and not money.replacement_shipped
    return True


def actions_for(case: CaseRecord, actor: Actor, policy_decision: dict | None,
                money: MoneyState = MoneyState()) -> list[Offered]:
    """The actions the page offers `actor` on `case` now, in table order, with at most one primary."""
    names = [a for a in allowed_actions(case, actor) if _fits(a, case, actor, money)]
    if "change_type" in names and not retype.offered(case):
        names.remove("change_type")
    within = within_policy(policy_decision)
    override = "approve" in names and within is False
    candidates = [a for a in PRIMARY_ORDER if a in names and not (a == "approve" and override)]
    if override:
        # Outside the policy: saying no (or offering the customer another plan) is the expected step.
        candidates = [a for a in ("reject", "propose_plan") if a in names] + candidates
    primary = candidates[0] if candidates else None
    return [Offered(a, primary=a == primary, override=a == "approve" and override) for a in names]
