"""The agents' work queues at /staff/ (tabs with counts, deadline marks, search, claiming, bulk assignment) and
where each role lands: warehouse on the receiving desk, finance on the refunds to pay, supervisors on approvals
and escalations, agents on the cases waiting on them, admins on the new cases."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import and_, func, or_, select, true

from ..actor import Actor
from ..cases import service
from ..cases.models import Case as CaseRow, CaseState as S
from ..cases.workflow import allowed_actions
from ..db import utcnow
from ..money import fmt
from ..cases import handoffs
from . import money_approvals, queues, words
from .console import can
from .frame import FLASH, N_, PageError, check_csrf, locale_of, redirect, render, safe_next
from .staff_pages import PAGE_SIZE, WAREHOUSE_STATES, _ctx, _staff_users, staff_actor

router = APIRouter(include_in_schema=False)
VIEWS = {"new": N_("New"), "mine": N_("Waiting on me"), "approvals": N_("Approvals and escalations"),
         "due_soon": N_("Due soon"), "overdue": N_("Overdue"), "escalated": N_("Escalated"),
         "plan_declined": N_("Plan declined"), "open": N_("All open"), "all": N_("All cases")}
# Where a role lands after signing in, or at /staff/ without a chosen queue.
DESKS = {"warehouse": "/staff/receiving", "finance": "/staff/finance?view=pay"}
DEFAULT_VIEW = {"agent": "mine", "supervisor": "approvals"}  # others: "new"
DUE_MARKS = {"overdue": N_("Overdue"), "due_soon": N_("Due soon")}
FLASH.update({"claimed": N_("The case is yours now: it waits on you.")})


def landing(actor: Actor) -> str:
    """The desk `actor`'s role starts from."""
    if actor.role in DESKS:
        return DESKS[actor.role]
    view = DEFAULT_VIEW.get(actor.role)
    return f"/staff/?view={view}" if view else "/staff/"


def _conditions(session, actor: Actor, now) -> dict:
    """Each queue's condition on a case (what its tab lists, before the search and filters)."""
    open_ = CaseRow.state.in_(queues.open_states())
    escalated = and_(open_, CaseRow.escalation_level > 0)
    mine = (CaseRow.state.in_(WAREHOUSE_STATES) if actor.role == "warehouse"
            else and_(open_, CaseRow.assignee_id == actor.user_id))
    return {"new": CaseRow.state == S.PENDING_REVIEW.value, "mine": mine,
            "approvals": or_(CaseRow.state == S.PENDING_APPROVAL.value, escalated),
            "due_soon": and_(*queues.due_soon(session, actor, now)), "overdue": and_(*queues.overdue(now)),
            "escalated": escalated, "plan_declined": and_(open_, queues.plan_declined()), "open": open_,
            "all": true()}


def tab_counts(session, actor: Actor, conditions: dict) -> dict[str, int]:
    """How many cases each tab lists: one query, a filtered count per tab."""
    stmt = service.scoped(select(*(func.count().filter(c).label(k) for k, c in conditions.items())), actor)
    row = session.execute(stmt.select_from(CaseRow)).one()
    return dict(zip(conditions, (int(n or 0) for n in row)))


@router.get("/staff")
@router.get("/staff/")
async def queue(request: Request, view: str = "", state: str = "", type: str = "", assignee: str = "",
                q: str = "", page: int = 1):
    actor = staff_actor(request)
    if not request.url.query and actor.role in DESKS:
        return redirect(request, DESKS[actor.role])
    locale = locale_of(request)
    view = view if view in VIEWS else DEFAULT_VIEW.get(actor.role, "new")
    assignee_id = int(assignee) if assignee.isdigit() else None
    states = ([state] if state in {s.value for s in S} else [])
    page = max(page, 1)
    now = utcnow()
    with request.app.state.db.read() as session:
        conditions = _conditions(session, actor, now)
        counts = tab_counts(session, actor, conditions)
        sort: tuple = ()
        if view in ("due_soon", "overdue"):
            sort = queues.soonest_due()
        elif view in ("approvals", "escalated"):  # the most escalated first, then the longest waiting
            sort = (CaseRow.escalation_level.desc(), CaseRow.created_at.asc())
        rows, total = service.list_cases(
            session, actor=actor, state=states or None, type=type or None, assignee_id=assignee_id,
            q=q.strip()[:200] or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
            where=(conditions[view],), sort=sort)
        users = _staff_users(session, actor)
        due = queues.deadlines(session, rows)
        windows = queues.windows(session, actor)
        by_assignee = queues.by_assignee(session, actor)
        teams = handoffs.open_counts(session, actor)
        money_waiting = (money_approvals.waiting_count(session, actor)
                         if view == "approvals" and can(actor, "finance") else 0)
    names = {u.id: u.name for u in users}
    items = []
    for c in rows:
        mark = queues.due_mark(due.get(c.id), c.state, now, windows)
        items.append({
            "case": c, "state": words.state_label(c.state, locale), "type": words.word(words.TYPES, c.type, locale),
            "assignee": names.get(c.assignee_id, "") if c.assignee_id else "",
            "amount": fmt(c.claimed_amount, c.currency), "due": due.get(c.id), "mark": mark,
            "overdue": mark == "overdue",
            "can_claim": c.assignee_id is None and actor.user_id is not None and "assign" in allowed_actions(c, actor)})
    return render(request, "staff/queue.html", _ctx(
        actor, items=items, total=total, view=view, views=VIEWS, counts=counts, users=users, page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), due_marks=DUE_MARKS, money_waiting=money_waiting,
        filters={"state": state, "type": type, "assignee": assignee, "q": q},
        states=[(s.value, words.state_label(s.value, locale)) for s in S], types=words.TYPES,
        by_assignee=[(a, names.get(a, "") if a else "", n) for a, n in by_assignee],
        teams=handoffs.TEAMS, team_counts=teams))


@router.post("/staff/assign")
async def bulk_assign(request: Request):
    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=PAGE_SIZE + 10)
    check_csrf(request, form)
    numbers = [str(n) for n in form.getlist("cases")][:PAGE_SIZE]
    back = safe_next(str(form.get("back") or ""), "/staff/")
    if not numbers:
        return redirect(request, back, flash="nothing_selected")
    raw = str(form.get("assignee_id") or "")
    assignee_id = int(raw) if raw.isdigit() else None
    with request.app.state.db.transaction() as session:
        for number in numbers:
            case = service.get_case(session, actor=actor, number=number)
            service.act(session, actor=actor, number=number, action="assign", version=case.version,
                        payload={"assignee_id": assignee_id})
    return redirect(request, back, flash="assigned")


@router.post("/staff/cases/{number}/claim")
async def claim(number: str, request: Request):
    """Takes an unassigned case (an `assign` event to oneself); a case someone else took first is refused."""
    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = safe_next(str(form.get("back") or ""), f"/staff/cases/{number}")
    version = str(form.get("version") or "")
    with request.app.state.db.transaction() as session:
        case = service.get_case(session, actor=actor, number=number)
        if case.assignee_id == actor.user_id:
            return redirect(request, back, flash="claimed")
        if case.assignee_id is not None or (version.isdigit() and int(version) != case.version):
            raise PageError("claimed_by_other", N_("Someone else took this case or changed it first: nothing "
                                                   "was changed. Reload the queue to see who has it."), status=409)
        if actor.user_id is None or "assign" not in allowed_actions(case, actor):
            raise PageError("claim_not_allowed", N_("Your role cannot take cases, or this case is closed."),
                            status=403)
        queues.claim_if_free(session, actor, case)
    return redirect(request, back, flash="claimed")
