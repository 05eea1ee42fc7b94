"""Satisfaction: survey scores and comments per step, agent and outcome, and what the follow-ups (回访) found.

From the notify module's tables: `survey_responses` (one answer of 1-5 per closed case, with a comment) answered in
the period, and `follow_up_tasks` created in the period. Each answer is counted once in each dimension:
- overall;
- step: the step the case was closed from (the `from_state` of its `close` event: resolved, rejected, cancelled ...);
- agent: who decided the case (the first approve or reject; the policy engine when it approved by itself);
- outcome: the case type when it was resolved (return_refund, refund_only, exchange ...), else rejected/cancelled.
Average scores have two decimals (half up); satisfied = a score of 4 or 5. Follow-ups count per outcome, `open`
for those not done yet.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..cases.models import CaseEvent
from ..notify.models import FollowUpTask, SurveyResponse
from .base import NONE_KEY, c, label
from .filters import Filters
from .process import case_conditions
from .report import Column, Report, percent, register

sr = SurveyResponse.__table__
fu = FollowUpTask.__table__
ev = CaseEvent.__table__
TITLE = ("Satisfaction: survey scores and comments", "满意度：评分与评价")
DIMENSIONS = ("overall", "step", "agent", "outcome", "follow_up")
DIMENSION_LABELS = {"overall": ("Overall", "总体"), "step": ("Closed from step", "结案前环节"),
                    "agent": ("Agent who decided", "审核客服"), "outcome": ("Outcome", "处理结果"),
                    "follow_up": ("Follow-up result", "回访结果")}
COLUMNS = [
    Column("dimension", "Dimension", "维度"), Column("key", "Group", "分组"), Column("responses", "Answers", "份数", "int"),
    Column("avg_score", "Average score", "平均分", "decimal"),
    *[Column(f"score_{k}", f"Score {k}", f"{k} 分", "int") for k in range(1, 6)],
    Column("satisfied", "Satisfied (4-5) %", "满意（4-5分）%", "percent"),
    Column("comments", "Latest comments", "最新评价", "list"),
]
COMMENTS_SHOWN = 3


def _scope(f: Filters, table) -> list:
    conds = [table.c.created_at >= f.start, table.c.created_at < f.end]
    if f.merchant_ids is not None:
        conds.append(table.c.merchant_id.in_(f.merchant_ids))
    if f.slices:
        conds.append(table.c.case_id.in_(select(c.c.id).where(*case_conditions(f.with_(merchant_ids=None),
                                                                                period=False))))
    return conds


def answers(session: Session, f: Filters) -> list[dict]:
    """Each survey answer of the period with its case's step, agent and outcome."""
    closed_from = (select(ev.c.from_state).where(ev.c.case_id == sr.c.case_id, ev.c.action == "close")
                   .order_by(ev.c.seq.desc()).limit(1).scalar_subquery())
    who = func.coalesce(func.nullif(ev.c.actor_name, ""), ev.c.actor_id, ev.c.actor_kind)
    decider = (select(who).where(ev.c.case_id == sr.c.case_id, ev.c.action.in_(("approve", "reject")))
               .order_by(ev.c.seq).limit(1).scalar_subquery())
    stmt = (select(sr.c.case_id, c.c.number, sr.c.score, sr.c.comment, sr.c.created_at, c.c.type, c.c.outcome,
                   closed_from.label("step"), decider.label("agent"))
            .select_from(sr.join(c, c.c.id == sr.c.case_id)).where(*_scope(f, sr)))
    out = []
    for row in session.execute(stmt):
        outcome = row.type if row.outcome == "resolved" else row.outcome or "open"
        out.append({"case_id": row.case_id, "number": row.number, "score": int(row.score), "comment": row.comment or "",
                    "at": row.created_at, "groups": {"overall": "all", "step": label(row.step),
                                                     "agent": label(row.agent), "outcome": outcome}})
    return out


def follow_ups(session: Session, f: Filters) -> list[tuple[int, str]]:
    stmt = select(fu.c.case_id, fu.c.status, fu.c.outcome).where(*_scope(f, fu))
    return [(case_id, (outcome or NONE_KEY) if status == "done" else "open")
            for case_id, status, outcome in session.execute(stmt)]


def average(total: int, n: int) -> str | None:
    if not n:
        return None
    return str((Decimal(total) / Decimal(n)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def cases_of(session: Session, f: Filters, dimension: str, key: str) -> list[int]:
    """The case ids behind one row (for the drill-down)."""
    if dimension == "follow_up":
        return sorted({case_id for case_id, result in follow_ups(session, f) if result == key})
    return sorted({a["case_id"] for a in answers(session, f) if a["groups"].get(dimension) == key})


@register("satisfaction", TITLE, chart="bar")
def satisfaction(session: Session, f: Filters) -> Report:
    """Survey scores per step, agent and outcome with the latest comments; follow-up results."""
    found = answers(session, f)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for a in found:
        for dimension, key in a["groups"].items():
            groups[(dimension, key)].append(a)
    rows = []
    for (dimension, key), items in groups.items():
        scores = [a["score"] for a in items]
        commented = sorted((a for a in items if a["comment"].strip()), key=lambda a: (a["at"], a["number"]),
                           reverse=True)[:COMMENTS_SHOWN]
        rows.append({"dimension": dimension, "key": key, "responses": len(items),
                     "avg_score": average(sum(scores), len(scores)),
                     **{f"score_{k}": scores.count(k) for k in range(1, 6)},
                     "satisfied": percent(sum(1 for s in scores if s >= 4), len(scores)),
                     "comments": [{"case": a["number"], "score": a["score"], "comment": a["comment"]}
                                  for a in commented],
                     "drill": {"source": "satisfaction", "dimension": dimension, "key": key}})
    results: dict[str, set[int]] = defaultdict(set)
    tasks: dict[str, int] = defaultdict(int)
    for case_id, result in follow_ups(session, f):
        tasks[result] += 1
        results[result].add(case_id)
    for result, n in tasks.items():
        rows.append({"dimension": "follow_up", "key": result, "responses": n, "avg_score": None,
                     **{f"score_{k}": None for k in range(1, 6)}, "satisfied": None, "comments": [],
                     "drill": {"source": "satisfaction", "dimension": "follow_up", "key": result}})
    rank = {d: i for i, d in enumerate(DIMENSIONS)}
    rows.sort(key=lambda r: (rank[r["dimension"]], -r["responses"], r["key"]))
    for row in rows:
        en, zh = DIMENSION_LABELS[row["dimension"]]
        row["dimension_label"] = {"en": en, "zh-CN": zh}
    total = sum(a["score"] for a in found)
    totals = {"responses": len(found), "avg_score": average(total, len(found)),
              "satisfied": percent(sum(1 for a in found if a["score"] >= 4), len(found)),
              "follow_ups": dict(sorted(tasks.items()))}
    note = ("Answers given in the period, each counted once per dimension; follow-ups created in the period "
            "('open' = not done yet).", "统计期间内提交的评价，每个维度各计一次；回访按期间内创建统计（open = 尚未完成）。")
    chart = [{"label": f"{DIMENSION_LABELS[r['dimension']][0]}: {r['key']}", "value": r["avg_score"]}
             for r in rows if r["dimension"] in ("overall", "outcome") and r["avg_score"] is not None]
    return Report("satisfaction", TITLE, COLUMNS, rows, note=note if rows else None, totals=totals,
                  extra={"chart": chart}).finish()
