"""Customer notifications for every customer-visible step, and what closing starts: the satisfaction survey
invitation and the follow-up task (回访). Run by workflow.fire inside the transition's transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.orm import Session

from ..batch_reads import per_case, remember
from ..cases.models import CaseState as S
from ..i18n import N_, gettext, match, pick
from ..cases.store import CaseRecord, run
from ..cases.visibility import CUSTOMER
from ..deferred import deferrable
from ..flows import opened
from ..orders.models import Customer
from ..prepared import prepared
from ..sla.settings import for_case
from .flows import FOLLOW_UP
from .models import FollowUpTask

# Steps the customer sees: the template used when a case arrives in the state (others get "case_update").
TEMPLATE_FOR: dict[str, str] = {
    S.AWAITING_CUSTOMER.value: "case_info_requested",
    S.REJECTED.value: "case_rejected",
    S.CLOSED.value: "case_closed",
}
INTERNAL = {S.PENDING_APPROVAL.value}  # a step up the merchant's hierarchy is not news for the customer
FOLLOW_UPS = FollowUpTask.__table__
_NEW_FOLLOW_UP = insert(FOLLOW_UPS).returning(FOLLOW_UPS.c.id)
# With its id given ahead (`_follow_up_id`): a kept write, like the opening move beside it (returnflow/deferred.py).
_NEW_FOLLOW_UP_KEPT = deferrable(insert(FOLLOW_UPS))
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('follow_up_tasks', 'id')) FROM generate_series(1, :n)")
_TOP_ID = prepared(select(func.coalesce(func.max(FOLLOW_UPS.c.id), 0)))
FOLLOW_UP_IDS = "rf_follow_up_ids"  # batch_reads: the id each closed case's follow-up task will take
_CUSTOMER = select(Customer.email, Customer.phone, Customer.locale, Customer.channels, Customer.wechat_openid).where(
    Customer.id == bindparam("id"))


def customer_notices(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """Messages to the customer for a new event: on opening, on every change of customer-visible state, and when
    staff share a note, an escalation or a file. An internal event never reaches the customer."""
    if case.channel == "import" or event.get("visibility") != CUSTOMER:
        return []  # imported history is not live: no clocks, no messages; internal work is not news
    action, target = event["action"], event["to_state"]
    if case.customer_id is None:
        return []
    payload = event.get("payload") or {}
    # A file sent with a message is announced by the message itself.
    shared = action in SHARED_NEWS and event.get("actor_kind") != "customer" and payload.get("source") != "message"
    if not shared and action != "open" and (event["from_state"] == target or target in INTERNAL):
        return []
    reach = _reach(session, case)
    if reach is None:
        return []
    _customer, settings, locale, channels = reach
    if shared:
        return shared_notices(case, locale, channels, _shared_text(action, payload, locale))
    from ..cases.views import STATE_LABELS

    template = "case_opened" if action == "open" else TEMPLATE_FOR.get(target, "case_update")
    data = {"number": case.number, "state": target, "state_label": STATE_LABELS[target][locale]}
    if template == "case_rejected":
        data["reason"] = str(payload.get("reason") or "")
    if template == "case_info_requested":
        data["message"] = str(payload.get("message") or "")
    to = f"customer:{case.customer_id}"
    messages = [_notify(c, to, locale, template, data) for c in channels]
    if target == S.CLOSED.value:
        if settings.get("survey"):
            messages += [_notify(c, to, locale, "survey_invitation", data) for c in channels
                         if c not in ("sms", "wechat")]
        days = settings.get("follow_up_days") or 0
        if days:
            # Opened by one Core INSERT and its declared opening move (flows.opened): the derivation's hot path.
            due = event["created_at"] + timedelta(days=days)
            row = {"merchant_id": case.merchant_id, "case_id": case.id, "assignee_id": case.assignee_id,
                   "due_at": due, "status": FOLLOW_UP.transition("schedule").to, "note": "",
                   "created_at": event["created_at"]}
            task_id = _follow_up_id(session, case)
            if task_id is None:
                task_id = run(session, _NEW_FOLLOW_UP, row).scalar_one()
            else:
                run(session, _NEW_FOLLOW_UP_KEPT, {**row, "id": task_id})
            opened(session, FOLLOW_UP, "schedule", record_id=task_id, merchant_id=case.merchant_id, case_id=case.id,
                   by="system", role="system", at=event["created_at"], data={"due_at": due.isoformat()})
    return messages


def _follow_up_id(session: Session, case: CaseRecord) -> int | None:
    """In a derivation batch, an id taken ahead for the case's follow-up task: taken at once for every closed case of
    the batch (returnflow/batch_reads.py), so the task and its opening move are kept writes instead of an INSERT
    that returns its id, which would send the batch's kept writes per case. Each id is given once; None (outside a
    batch, or a case closed twice in one): the task's INSERT returns its id."""
    task_id = per_case(session, FOLLOW_UP_IDS, case, lambda _one: None, lambda cases: _ids_ahead(session, cases),
                       keep=False)
    if task_id is not None:
        remember(session, FOLLOW_UP_IDS, case, None)
    return task_id


def _ids_ahead(session: Session, cases: list[CaseRecord]) -> dict[int, int | None]:
    """Follow-up task ids for the closed ones of `cases`: PostgreSQL's sequence hands them out; SQLite's are the next
    after the highest (the derivation holds SQLite's one write lock, and only it opens follow-up tasks). On SQLite a
    second closing of one case in the batch inserts after the highest too, and may take an id given to a case derived
    after it: the batch then fails on the key and is derived case by case (tests/integration/test_deferred_writes.py
    closes one case twice in a batch of its own)."""
    closed = [case.id for case in cases if case.state == S.CLOSED.value]
    ids: dict[int, int | None] = dict.fromkeys((case.id for case in cases), None)
    if not closed:
        return ids
    if session.get_bind().dialect.name == "postgresql":
        taken = list(run(session, _NEXT_IDS, {"n": len(closed)}).scalars())
    else:
        top = run(session, _TOP_ID).scalar_one()
        taken = list(range(top + 1, top + 1 + len(closed)))
    ids.update(zip(closed, taken))
    return ids


def _reach(session: Session, case: CaseRecord):
    """(contact, SLA settings, locale, channels incl. in-app) of the case's customer, or None."""
    context = getattr(case, "context", None)
    # The customer's contact came with the case (cases.store.Context), else it is read here.
    customer = context.contact if context is not None else run(session, _CUSTOMER, {"id": case.customer_id}).first()
    if customer is None:
        return None
    settings = for_case(session, case)
    # The customer's language (or its family), else the desk's historical default for a customer without one.
    locale = match(customer.locale) or "zh-CN"
    return customer, settings, locale, ["in_app"] + customer_channels(customer, settings)


# What staff may share, and how the notice words it (the shared words themselves follow).
SHARED_NEWS = {
    "note": N_("The shop wrote: {text}"),
    "escalate": N_("Your request went to a supervisor: {text}"),
    "attach": N_("The shop added a file: {text}"),
}


def _shared_text(action: str, payload: dict, locale: str) -> str:
    words = payload.get("text") or payload.get("reason") or payload.get("filename") or ""
    return gettext(locale, SHARED_NEWS[action]).format(text=str(words)[:1000])


def shared_notices(case: CaseRecord, locale: str, channels: list[str], text: str) -> list[dict]:
    """One "case_shared" message per channel: what a staff member chose to show the customer."""
    data = {"number": case.number, "message": text}
    return [_notify(c, f"customer:{case.customer_id}", locale, "case_shared", data) for c in channels]


def handoff_notices(session: Session, case: CaseRecord, team: dict[str, str], note: str) -> list[dict]:
    """The notices of a hand-off shared with the customer (hand-offs are rows, not events); `team` is the team's
    name in every language ({language: name})."""
    if case.channel == "import" or case.customer_id is None:
        return []
    reach = _reach(session, case)
    if reach is None:
        return []
    _customer, _settings, locale, channels = reach
    text = gettext(locale, N_("The shop asked a specialist team ({team}) to look at it: {note}")).format(
        team=pick(team, locale), note=note)
    return shared_notices(case, locale, channels, text[:1000])


def customer_channels(customer, settings: dict) -> list[str]:
    """The channels beside in-app: the customer's own choice where they made one (limited to what we can reach:
    an email address, a phone number, and the providers the merchant switched on), else the merchant's defaults
    (email when known, SMS and push when switched on)."""
    from .config import get_delivery_settings

    reachable = {"email": bool(customer.email), "sms": bool(customer.phone) and bool(settings.get("notify_sms")),
                 "push": bool(settings.get("notify_push")),
                 # WeChat: the shop pushed the customer's openid and this deployment has a WeChat app set up.
                 "wechat": bool(getattr(customer, "wechat_openid", None))
                 and bool(get_delivery_settings().wechat_appid and get_delivery_settings().wechat_api_url)}
    chosen = customer.channels if isinstance(customer.channels, list) else None
    wanted = chosen if chosen is not None else ["email", "sms", "push", "wechat"]
    return [c for c in ("email", "sms", "push", "wechat") if c in wanted and reachable[c]]


def _notify(channel: str, to: str, locale: str, template: str, data: dict) -> dict:
    return {"topic": "notify", "payload": {"channel": channel, "to": to, "locale": locale, "template": template,
                                           "data": data}}


def staff_notices(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """An in-app notice to the staff member a case is assigned to (unless they assigned it to themselves)."""
    if event["action"] != "assign" or case.channel == "import":
        return []
    assignee = (event.get("payload") or {}).get("assignee_id")
    if not isinstance(assignee, int) or event.get("actor_id") == f"user:{assignee}":
        return []
    from ..cases.views import STATE_LABELS

    return [_notify("in_app", f"user:{assignee}", "zh-CN", "case_assigned",
                    {"number": case.number, "state_label": STATE_LABELS[event["to_state"]]["zh-CN"]})]
