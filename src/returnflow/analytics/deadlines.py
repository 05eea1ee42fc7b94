"""SLA: compliance and breaches per step, from the deadline timers the SLA module writes (sla/models.py Timer).

Each step a case enters starts one deadline timer, kind `<step>.due` (reminders, `<step>.remind`, are not
deadlines). A deadline started in the period (`created_at`) is:
- met: its step ended before the deadline (the timer was cancelled by the next transition);
- breached: the deadline was reached with the step still open (the worker fired it, or found its action no longer
  fitted: `moot`), or it is past due and still pending now (the worker has not reached it yet);
- running: not due yet, or paused while the case waits on the customer.
A paused deadline that resumed is one deadline: the paused row, cancelled with the time it had left kept
(`remaining_seconds`), is left out, and its resumed successor counts. Compliance = met / (met + breached).
`open_now` and `overdue_now` are today's queue of each step (any start date, like the backlog report).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..i18n import N_, SUPPORTED
from ..sla.models import Timer
from ..sla.settings import step_name
from .base import c
from .filters import Filters
from .process import case_conditions
from .report import Column, Report, percent, defines

t = Timer.__table__
TITLE = N_("SLA compliance and breaches")
COLUMNS = [
    Column("step", "Step", "环节"), Column("label", "Step name", "环节名称"), Column("started", "Deadlines started", "启动时限数", "int"),
    Column("met", "Met", "按时完成", "int"), Column("breached", "Breached", "超时", "int"),
    Column("running", "Running", "进行中", "int"), Column("compliance", "Compliance %", "达成率 %", "percent"),
    Column("open_now", "Open now", "当前未完成", "int"), Column("overdue_now", "Overdue now", "当前已超时", "int"),
    Column("oldest_overdue_days", "Oldest overdue (days)", "最久超时（天）", "int"),
]
SUPERSEDED = and_(t.c.status == "cancelled", t.c.remaining_seconds.is_not(None))


def outcome(now: datetime):
    """'met', 'breached' or 'running' of a deadline row, as SQL."""
    return case((t.c.status == "cancelled", "met"), (t.c.status.in_(("fired", "moot")), "breached"),
                (and_(t.c.status == "pending", t.c.due_at <= now), "breached"), else_="running")


def _deadlines(f: Filters, *, period: bool):
    conds = [t.c.kind.like("%.due"), ~SUPERSEDED]
    if period:
        conds += [t.c.created_at >= f.start, t.c.created_at < f.end]
    conds += f.merchant_in(t.c.merchant_id)
    if f.slices:
        conds.append(t.c.case_id.in_(select(c.c.id).where(*case_conditions(f.with_(merchant_ids=None),
                                                                            period=False))))
    return conds


def breached_cases(f: Filters, step: str, now: datetime | None = None):
    """Conditions on `cases`: a deadline of `step` started in the period and breached."""
    now = now or datetime.now(timezone.utc)
    ids = select(t.c.case_id).where(*_deadlines(f, period=True), t.c.kind == f"{step}.due",
                                    or_(t.c.status.in_(("fired", "moot")),
                                        and_(t.c.status == "pending", t.c.due_at <= now)))
    return [c.c.id.in_(ids)]


@defines("sla", TITLE, chart="bar")
def sla(session: Session, f: Filters, *, now: datetime | None = None) -> Report:
    """Deadlines started in the period per step: met, breached, running, compliance; and each step's queue now."""
    now = now or datetime.now(timezone.utc)
    table: dict[str, dict] = defaultdict(lambda: {"started": 0, "met": 0, "breached": 0, "running": 0,
                                                  "open_now": 0, "overdue_now": 0, "oldest_overdue_days": None})
    state = outcome(now)
    for kind, result, n in session.execute(select(t.c.kind, state, func.count()).where(*_deadlines(f, period=True))
                                           .group_by(t.c.kind, state)):
        row = table[kind[:-4]]
        row[result] += n
        row["started"] += n
    overdue = and_(t.c.status == "pending", t.c.due_at <= now)
    open_now = (select(t.c.kind, func.count(), func.sum(case((overdue, 1), else_=0)),
                       func.min(case((overdue, t.c.due_at))))
                .where(*_deadlines(f, period=False), t.c.status.in_(("pending", "paused"))).group_by(t.c.kind))
    for kind, n, late, oldest in session.execute(open_now):
        row = table[kind[:-4]]
        row["open_now"] += n
        row["overdue_now"] += int(late or 0)
        if oldest is not None:
            if isinstance(oldest, str):
                oldest = datetime.fromisoformat(oldest)
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=timezone.utc)
            row["oldest_overdue_days"] = (now - oldest).days
    rows = []
    for step, s in table.items():
        rows.append({"step": step, "label": {tag: step_name(step, tag) for tag in SUPPORTED}, **s,
                     "compliance": percent(s["met"], s["met"] + s["breached"]),
                     "drill": {"source": "sla", "step": step} if s["breached"] else None})
    rows.sort(key=lambda x: (-x["breached"], -x["started"], x["step"]))
    totals = {k: sum(r[k] for r in rows) for k in ("started", "met", "breached", "running", "open_now", "overdue_now")}
    totals["compliance"] = percent(totals["met"], totals["met"] + totals["breached"])
    note = N_("Deadlines started in the period; met = the step ended before its deadline, breached = the deadline passed "
              "with the step open. 'Open now' and 'overdue now' are today's queue, whatever the period.")
    report = Report("sla", TITLE, COLUMNS, rows, note=note if rows else None, totals=totals)
    if rows and not totals["started"]:
        report.status = "empty"
        report.note = N_("No deadline started in this period; 'open now' and 'overdue now' still show today's queue.")
    return report.finish()
