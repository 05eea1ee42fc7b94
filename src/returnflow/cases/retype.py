"""Changing a case's type and outcome (return → exchange, refund → repair, return → refund only, ...): a declared
transition (`change_type` in cases/workflow.py) that records from → to with a reason and runs the policy again for
the new type, so the case's policy decision (and with it approve-within-policy and overrides) follows the outcome
now asked for. Allowed only while nothing has moved irreversibly: no refund, no outbound parcel (docs/workflow.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..actor import Actor
from .guards import GuardFailed
from .models import Case as CaseRow
from .models import CaseState as S
from .models import CaseType as T
from .ports import PORTS, Requested
from .store import CaseRecord, count_events, run
from ..i18n import N_
from ..db import utcnow
from ..policy import service as policy_service

# What a case can become; inquiries and complaints carry no goods outcome.
GOODS = (T.RETURN_REFUND, T.REFUND_ONLY, T.EXCHANGE, T.REPAIR, T.RESHIP)
NEEDS_GOODS_BACK = (T.RETURN_REFUND, T.EXCHANGE, T.REPAIR)
REVIEW = frozenset({S.PENDING_REVIEW, S.AWAITING_CUSTOMER, S.PENDING_APPROVAL})
# The customer has not sent anything yet: any goods type may follow.
NOTHING_SENT = REVIEW | {S.AWAITING_RETURN}
# The goods are on their way or here: only types that take goods back.
GOODS_MOVING = frozenset({S.RETURN_IN_TRANSIT, S.RECEIVED, S.INSPECTED})
SOURCES = NOTHING_SENT | GOODS_MOVING
DECISION_KEY = "_decision"  # the new policy record, carried from the guard to the save; never stored in the event


def after_change_type(case: CaseRecord, _payload: dict | None = None) -> S:
    """An approved case still waiting for the goods goes back to review (it was approved for another outcome);
    under review it stays; goods on their way or here stay where they are, and the next steps follow the new type."""
    return S.PENDING_REVIEW if case.state == S.AWAITING_RETURN else S(case.state)


def offered(case: CaseRecord) -> bool:
    return case.type in {t.value for t in GOODS} and bool(case.lines)


def guard(session: Session, case: CaseRecord, actor: Actor, payload: dict) -> None:
    new = payload.get("type")
    reason = payload.get("reason")
    if case.type not in {t.value for t in GOODS} or not case.lines:
        raise GuardFailed(N_("only a request about goods (return, refund, exchange, repair, reship) changes its type"))
    if new not in {t.value for t in GOODS}:
        raise GuardFailed(N_("payload.type must be one of {types}"), types=", ".join(t.value for t in GOODS),
                          field="payload.type")
    if new == case.type:
        raise GuardFailed(N_("the case already has this type; choose another one"),
                          field="payload.type")
    if not isinstance(reason, str) or not reason.strip():
        raise GuardFailed(N_("payload.reason is required for this action"),
                          field="payload.reason")
    if case.state in GOODS_MOVING and new not in {t.value for t in NEEDS_GOODS_BACK}:
        raise GuardFailed(N_("the goods are already on their way back or here: the new type must take goods back "
                             "(return and refund, exchange or repair)"),
                          field="payload.type")
    if _money_moved(session, case):
        raise GuardFailed(N_("a refund already exists for this case: its type can no longer change"))
    if count_events(session, case.id, "ship_replacement"):
        raise GuardFailed(N_("a replacement was already shipped: the case's type can no longer change"))
    payload["from"] = case.type
    payload["to"] = new
    payload["reason"] = reason.strip()[:2000]
    record, note, keep = _reassess(session, case, new)
    payload["policy"] = note
    payload[DECISION_KEY] = {"record": record, "keep": keep}


def _money_moved(session: Session, case: CaseRecord) -> bool:
    return bool(PORTS.refund_states(session, case) - {"rejected"})  # answered by the money module (cases/ports.py)


def _reassess(session: Session, case: CaseRecord, new: str) -> tuple[dict | None, dict | None, bool]:
    """The policy's decision for the case's lines under the new type, as open_case makes it (assessment/apply.py)."""
    from . import service  # the case service imports the workflow, which imports this module

    if case.channel == "import":
        return None, None, False
    order = run(session, service._order_statement(), {"merchant_id": case.merchant_id,
                                                      "number": case.order_number}).first()
    if order is None:
        return None, None, False
    order_lines = service.lines_with_claims(session, order.id)
    by_id = {row.id: row for row in order_lines}
    requested = [Requested(by_id[line.order_line_id], line.quantity, line.reason_code)
                 for line in case.lines if line.order_line_id in by_id]
    if not requested:
        return None, None, False
    policy_row, policy = policy_service.active(session, case.merchant_id)
    assessment = PORTS.assess(session, merchant_id=case.merchant_id, policy_row=policy_row, policy=policy,
                        preset=None if policy_row else policy.id, order=order, order_lines=order_lines,
                        requested=requested, case_type=new, case_reason=case.reason_code, now=utcnow())
    note = {"verdict": assessment.verdict, "policy_version": assessment.policy_version,
            "rule_ids": assessment.record["rule_ids"], "within_policy": assessment.record["within_policy"],
            **assessment.record["summary"]}
    return assessment.record, note, assessment.keep_items


def apply(case: CaseRecord, payload: dict, source: str) -> dict[str, Any]:
    """The record's new type, outcome flags and decision (before the save); returns what `save` writes."""
    carried = payload.pop(DECISION_KEY, None) or {}
    new = payload["to"]
    case.type = new
    if new != T.EXCHANGE.value:
        case.advance = False
    if S(source) in NOTHING_SENT:
        case.needs_return = new in {t.value for t in NEEDS_GOODS_BACK} and not carried.get("keep")
    record = carried.get("record")
    if record is not None:
        case.policy_decision = record
        case.policy_version = (record.get("policy") or {}).get("version")
    return {"type": case.type, "advance": case.advance, "policy_decision": case.policy_decision,
            "policy_version": case.policy_version}


def save(session: Session, case: CaseRecord, values: dict[str, Any]) -> None:
    session.execute(update(CaseRow).where(CaseRow.id == case.id).values(**values))
