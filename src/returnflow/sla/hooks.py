"""The SLA side of every transition (run by workflow.fire inside its transaction): the step that ended stops its
clock, the step that begins starts one (a reminder before the deadline, and at the deadline an escalation or the
automatic outcome); a case that waits on the customer pauses the review clock and resumes it with what was left."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from ..auth.models import User
from ..cases import store
from ..cases.store import CaseRecord
from ..cases.views import reason_payload
from ..deferred import deferrable

from . import calendar
from .models import Timer
from .refund_clock import refund_clock
from .settings import (
    AUTOMATIC, DEFAULT_STEPS, LABELS, MISSED, PAUSED_BY_CUSTOMER, STEP_OF_STATE, WAITING_ON_CUSTOMER, calendar_of,
    due_after, for_case, step_name,
)
from .timers import OWN_CLOCKS, cancel, schedule, schedule_many
from ..policy.service import step_rule

TIMERS = Timer.__table__
# The writes below are `deferrable`: the derivation step executes them with its other writes (returnflow/deferred.py).
_PAUSE = deferrable(update(TIMERS).where(TIMERS.c.id == bindparam("_id"))
                    .values(status="paused", remaining_seconds=bindparam("remaining")))
# A step's clocks; the clocks other areas keep across steps (timers.OWN_CLOCKS) are theirs to end.
_PAUSED = select(TIMERS).where(TIMERS.c.case_id == bindparam("_case"), TIMERS.c.status.in_(("pending", "paused")),
                               TIMERS.c.kind.not_in(OWN_CLOCKS))
_END_PAUSED = deferrable(update(TIMERS).where(TIMERS.c.case_id == bindparam("_case"), TIMERS.c.status == "paused")
                         .values(status="cancelled"))
# (No IN lists: a deferrable write runs for many rows at once.)
_END_ALL = deferrable(update(TIMERS).where(TIMERS.c.case_id == bindparam("_case"),
                                           or_(TIMERS.c.status == "pending", TIMERS.c.status == "paused"),
                                           *(TIMERS.c.kind != kind for kind in OWN_CLOCKS))
                      .values(status="cancelled"))


def sla_clocks(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """Stops, pauses, resumes and starts the case's step clocks for a new event; writes timer rows, no messages."""
    if case.channel == "import":
        return []  # imported history is not live: no clocks, no messages
    refund_clock(session, case, event)  # the law's refund deadline runs across steps (CN8, EU4)
    source, target = event["from_state"], event["to_state"]
    if source == target:
        return []  # a note, an escalation or an assignment does not change whose move it is
    at: datetime = event["created_at"]
    settings = for_case(session, case)
    step = STEP_OF_STATE.get(target)
    pausing = target in WAITING_ON_CUSTOMER and STEP_OF_STATE.get(source) in PAUSED_BY_CUSTOMER
    resuming = source in WAITING_ON_CUSTOMER and step in PAUSED_BY_CUSTOMER
    if source is None:
        pass  # the case was opened just now: it has no clocks yet
    elif not pausing and not resuming and target not in WAITING_ON_CUSTOMER:
        # The usual step: its pending clocks and any paused ones all end, in one statement.
        store.run(session, _END_ALL, {"_case": case.id})
    else:
        if pausing:
            _pause(session, case.id, at, settings)
        else:
            cancel(session, case_id=case.id)
        if resuming and _resume(session, case, step, at, settings):
            return []
        if target not in WAITING_ON_CUSTOMER:
            store.run(session, _END_PAUSED, {"_case": case.id})
    if step is not None:
        start_step(session, case, step, at, settings, state=target)
    return []


def start_step(session: Session, case: CaseRecord, step: str, at: datetime, settings: dict, *,
               state: str | None = None) -> None:
    """Schedules the step's reminder and deadline from `at` (the policy's clock for the step, if it has one);
    `state`: the case's state when the step began (its event's; the case may have moved on since)."""
    conf = settings["steps"].get(step) or {}
    if not conf or conf.get("enabled") is False:
        return
    decided = deadline_from_policy(session, case, step, at)
    if decided is not None:
        due, working = decided[0], None
        conf = {**conf, "rule": decided[1], "auto_action": _policy_outcome(case, step, state or case.state)
                or conf.get("auto_action")}
    else:
        due, working = due_after(settings, conf, at)
        if conf.get("rule") == DEFAULT_STEPS.get(step, {}).get("rule"):
            conf = {**conf, "rule": step_rule(session, case.merchant_id, step, conf.get("rule"))}
    # The timeline's reason: a msgid with its params (every language reads it: cases.views.reason_words), and the
    # English sentence in `reason` (what the transition's guards and older readers take).
    common = {"step": step, "business": working is not None}
    action = conf.get("auto_action") or "escalate"
    payload = dict(common)
    if action == "escalate":
        payload.update(reason_payload(MISSED, step=LABELS[step]))
    elif action in ("cancel", "close", "reject", "approve", "receive"):
        payload.update(reason_payload(AUTOMATIC, step=LABELS[step]))
    timers = [dict(kind=f"{step}.due", due_at=due, action=action, payload=payload)]
    before = conf.get("remind_before_hours")
    if before:
        remind_at = due - timedelta(hours=before)
        if remind_at > at:
            timers.append(dict(kind=f"{step}.remind", due_at=remind_at, action=None,
                               payload=dict(common, due_at=due.isoformat())))
    schedule_many(session, merchant_id=case.merchant_id, case_id=case.id, timers=timers, rule=conf.get("rule"), at=at)


# The policy's clocks (stored with the case's decision by assessment/apply.py) set the deadline of these steps and what
# happens when it passes — the merchant's published promise: a request left unanswered is approved (TB1, TB2,
# TB4, JD1, M.response); a return never sent closes the request (TB5, EU6); a return not confirmed in time counts
# as received (TB6); a rejection not appealed closes (TB3). The refund clock (CN8: from receiving the goods) is
# not mapped: its anchor is not the start of any one step, so the merchant's SLA settings keep the refund step.
POLICY_CLOCK_OF_STEP = {"review": "merchant_response", "customer_shipping": "customer_shipping",
                        "receipt_confirmation": "receipt_confirmation", "appeal": "customer_appeal",
                        "repair": "repair_completion"}
POLICY_OUTCOME = {"review": "approve", "customer_shipping": "cancel", "receipt_confirmation": "receive",
                  "appeal": "close"}


def deadline_from_policy(session: Session, case: CaseRecord, step: str, at: datetime) -> tuple[datetime, str] | None:
    """(due time, rule) of the strictest deadline the case's stored policy decision sets for `step`, a step that
    began at `at`; None when the policy has no clock for it (the merchant's SLA settings decide)."""
    kind = POLICY_CLOCK_OF_STEP.get(step)
    decision = case.policy_decision
    if kind is None or not decision:
        return None
    found: list[tuple[datetime, str]] = []
    for line in decision.get("lines") or ():
        for d in (line.get("decision") or {}).get("deadlines") or ():
            if d.get("kind") != kind:
                continue
            if d.get("anchor") == "request" and d.get("at"):
                when = d["at"]  # anchored at the request itself: already a point in time
                found.append((datetime.fromisoformat(when) if isinstance(when, str) else when, d["rule"]))
            elif d.get("period_seconds") is not None:
                found.append((at + timedelta(seconds=d["period_seconds"]), d["rule"]))
    return min(found, key=lambda x: x[0]) if found else None


def _policy_outcome(case: CaseRecord, step: str, state: str) -> str | None:
    action = POLICY_OUTCOME.get(step)
    if action == "approve":
        decision = case.policy_decision or {}
        # Silence approves only what the policy itself allows, at an agent's level (never a supervisor's).
        if state != "pending_review" or not decision.get("within_policy"):
            return None
    return action


def _pause(session: Session, case_id: int, at: datetime, settings: dict) -> None:
    cal = calendar_of(settings)
    for row in store.run(session, _PAUSED, {"_case": case_id}).all():
        if row.status != "pending":
            continue
        if (row.payload or {}).get("business"):
            left = calendar.working_time_between(cal, at, row.due_at)
        else:
            left = max(row.due_at - at, timedelta(0))
        store.run(session, _PAUSE, {"_id": row.id, "remaining": int(left.total_seconds())})


def _resume(session: Session, case: CaseRecord, step: str, at: datetime, settings: dict) -> bool:
    rows = [r for r in store.run(session, _PAUSED, {"_case": case.id}).all()
            if r.status == "paused" and r.kind.startswith(step + ".")]
    if not rows:
        return False
    cal = calendar_of(settings)
    store.run(session, _END_PAUSED, {"_case": case.id})
    for row in rows:
        left = timedelta(seconds=row.remaining_seconds or 0)
        due = calendar.add_working_time(cal, at, left) if (row.payload or {}).get("business") else at + left
        payload = dict(row.payload or {})
        payload["resumed"] = True
        schedule(session, merchant_id=row.merchant_id, case_id=row.case_id, kind=row.kind, due_at=due,
                 action=row.action, payload=payload, rule=row.rule, at=at)
    return True


# ---- notices when timers fall due ----------------------------------------------------------------------------

_STAFF = (select(User.id, User.locale).where(User.merchant_id == bindparam("merchant_id"), User.active.is_(True),
                                             User.role.in_(bindparam("roles", expanding=True)))
          .order_by(User.id).limit(20))


def staff(session: Session, merchant_id: int, roles: tuple[str, ...]) -> list[tuple[int, str]]:
    """Active staff of the merchant holding one of `roles` (at most 20)."""
    return [(r.id, r.locale or "zh-CN") for r in store.run(session, _STAFF, {"merchant_id": merchant_id,
                                                                              "roles": list(roles)})]


def _notices(case: CaseRecord, recipients: list[tuple[int, str]], template: str, data: dict,
             timer_id: int) -> list[dict]:
    """One notice per recipient, the step named in the recipient's language (`step`; `step_zh` is the same name,
    kept for templates written before the step was named in every language)."""
    step = data["step"]
    return [{"merchant_id": case.merchant_id, "case_id": case.id, "topic": "notify", "payload": {
        "channel": "in_app", "to": f"user:{user_id}", "locale": locale, "template": template,
        "data": {**data, "step": step_name(step, locale), "step_zh": step_name(step, locale)},
        "timer_id": timer_id}} for user_id, locale in recipients]


def _data(case: CaseRecord, row) -> dict:
    step = (row.payload or {}).get("step", row.kind.split(".")[0])
    return {"number": case.number, "step": step, "rule": row.rule or "",
            "due_at": (row.payload or {}).get("due_at") or row.due_at.isoformat()}


ALL_STAFF = ("agent", "warehouse", "finance", "supervisor", "admin")


def _cached_staff(session: Session, cache: dict, merchant_id: int, roles: tuple[str, ...]) -> list[tuple[int, str]]:
    key = ("staff", merchant_id, roles)
    if key not in cache:
        cache[key] = staff(session, merchant_id, roles)
    return cache[key]


def on_remind(session: Session, case: CaseRecord, row, now: datetime, cache: dict) -> list[dict]:
    """Reminds the owner (the assignee, else the merchant's agents) that the step's deadline is near."""
    owners = [s for s in _cached_staff(session, cache, case.merchant_id, ALL_STAFF) if s[0] == case.assignee_id]
    if not owners:
        owners = _cached_staff(session, cache, case.merchant_id, ("agent",))
    return _notices(case, owners, "staff_reminder", _data(case, row), row.id)


def on_due(session: Session, case: CaseRecord, row, now: datetime, cache: dict) -> list[dict]:
    """A missed deadline that escalates tells the merchant's supervisors."""
    if row.action != "escalate":
        return []
    return _notices(case, _cached_staff(session, cache, case.merchant_id, ("supervisor",)), "staff_escalation",
                    _data(case, row), row.id)

