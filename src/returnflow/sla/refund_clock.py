"""The statutory refund deadline as a timer kept across the case's steps (CN8: 7 days from receiving the goods;
EU4: 14 days from the withdrawal notice; a merchant's own refund clock likewise): started when its anchor happens,
ended when the case is resolved, rejected, cancelled or closed, and escalated when it passes.

It comes from the refund deadline in the case's stored decision, or, when no line's decision carries one (an
override of an ineligible request), from the merchant's policy: an overridden case keeps the law's deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..batch_reads import per_case, remember
from ..cases import store
from ..cases.store import CaseRecord
from ..cases.views import reason_payload
from ..i18n import N_
from .models import Timer
from .settings import MISSED
from .timers import cancel, schedule_many
from ..policy import service as policy_service
from ..prepared import prepared

KIND = "refund_deadline"
ENDING = frozenset({"resolved", "closed", "cancelled", "rejected"})
DECIDING = frozenset({"pending_review", "pending_approval", "awaiting_customer"})
FALLBACK_ANCHORS = frozenset({"request", "agreement", "return_received"})
ANCHOR_OF_STATE = {"return_in_transit": "return_dispatched", "received": "return_received"}


def refund_clock(session: Session, case: CaseRecord, event: dict) -> None:
    """Starts or ends the case's refund deadline for a transition (`event` as workflow.fire writes it)."""
    source, target, at = event["from_state"], event["to_state"], event["created_at"]
    if source == target:
        return
    if target in ENDING:
        cancel(session, case_id=case.id, kind=KIND)
        remember(session, RUNNING, case, False)
        return
    happened = {"request"} if source is None else set()  # what this transition is, as a deadline's anchor
    if source in DECIDING and target not in DECIDING:
        happened.add("agreement")
    happened.add(ANCHOR_OF_STATE.get(target, ""))
    if not happened - {""}:
        return  # the usual step: nothing to look up
    # The policy is read only where its own refund clock may start (so shipping a return costs no extra query).
    spec = deadline_spec(session, case, fallback=bool(happened & FALLBACK_ANCHORS))
    if spec is None or spec[0] not in happened or running(session, case):
        return
    anchor, period, fixed, rule = spec
    due = fixed if fixed is not None else at + period
    schedule_many(session, merchant_id=case.merchant_id, case_id=case.id, rule=rule, at=at, timers=[{
        "kind": KIND, "due_at": due, "action": "escalate",
        "payload": {"step": "refund", **reason_payload(MISSED, step=N_("refund deadline"))}}])
    remember(session, RUNNING, case, True)


def deadline_spec(session: Session, case: CaseRecord, *,
                  fallback: bool = True) -> tuple[str, timedelta, datetime | None, str] | None:
    """(anchor, period, fixed due time or None, rule) of the case's refund deadline; None: there is none."""
    found = []
    for line in (case.policy_decision or {}).get("lines") or ():
        for d in (line.get("decision") or {}).get("deadlines") or ():
            if d.get("kind") == "refund" and d.get("period_seconds") is not None:
                fixed = d.get("at")
                if isinstance(fixed, str):
                    fixed = datetime.fromisoformat(fixed)
                found.append((d["anchor"], timedelta(seconds=d["period_seconds"]), fixed, d["rule"]))
    if found:
        return min(found, key=lambda x: x[1])
    if not case.policy_decision or not fallback:
        return None  # imported or not decided by the policy: the merchant's SLA step keeps the refund

    clock = policy_service.active(session, case.merchant_id)[1].clocks.get("refund")
    if clock is None:
        return None
    anchor = clock.anchor or "return_received"
    if anchor == "return_received" and not case.needs_return:
        anchor = "agreement"
    fixed = case.created_at + clock.period if anchor == "request" else None
    return anchor, clock.period, fixed, clock.rule


RUNNING = "rf_refund_clock_running"  # batch_reads: whether the case's refund deadline is pending
_PENDING = prepared(select(Timer.id).where(Timer.case_id == bindparam("id"), Timer.kind == KIND,
                                           Timer.status == "pending"))
_PENDING_CASES = prepared(select(Timer.case_id).where(Timer.case_id.in_(bindparam("ids", expanding=True)),
                                                      Timer.kind == KIND, Timer.status == "pending"))


def running(session: Session, case: CaseRecord) -> bool:
    """Whether the case's refund deadline is pending; in a derivation batch read for all its cases at once, and
    kept true by this module's own starts and ends (only it writes this kind of timer while deriving)."""
    return per_case(session, RUNNING, case,
                    lambda one: store.run(session, _PENDING, {"id": one.id}).first() is not None,
                    lambda cases: _running(session, cases))


def _running(session: Session, cases: list[CaseRecord]) -> dict[int, bool]:
    found = set(store.run(session, _PENDING_CASES, {"ids": [case.id for case in cases]}).scalars())
    return {case.id: case.id in found for case in cases}


def due_of(session: Session, case: CaseRecord) -> dict | None:
    """The case's refund deadline for the API and pages: due time, rule, whether it has passed; None if none."""
    row = store.run(session, select(Timer.due_at, Timer.rule, Timer.status).where(
        Timer.case_id == case.id, Timer.kind == KIND).order_by(Timer.id.desc()).limit(1)).first()
    if row is None:
        return None
    return {"due_at": row.due_at, "rule": row.rule, "status": row.status, "overdue": row.status == "fired"}
