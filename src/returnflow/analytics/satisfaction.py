"""Satisfaction: survey scores and comments per step, agent and outcome, and what the follow-ups (回访) found.

From the notify module's tables: `survey_responses` (one answer of 1-5 per closed case, with a comment) answered in
the period, and `follow_up_tasks` created in the period. Each answer is counted once in each dimension:
- overall;
- step: the step the case was closed from (the `from_state` of its last `close` event: resolved, rejected,
  cancelled ...);
- agent: who decided the case (the first approve or reject; the policy engine when it approved by itself);
  both kept on the case's row of the step summary (rollup.py), written as its events are derived;
- outcome: the case type when it was resolved (return_refund, refund_only, exchange ...), else rejected/cancelled.
Average scores have two decimals (half up); satisfied = a score of 4 or 5. Follow-ups count per outcome, `open`
for those not done yet.

Reviews (imported ratings 1-5 not tied to a case, records.Review) given in the period add the dimension `reviews`:
all buyers who reviewed, those who returned (the review's order, or another order of the same customer, has a
return, refund-only or exchange case not cancelled or rejected, opened any time) and those who did not (the
review names a known order without such a case). A review naming no known order counts among all buyers only.
Only the SKU slice applies to reviews; with another slice they are left out (the note says so).
"""

from __future__ import annotations

import heapq

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from ..i18n import N_, every
from ..notify.models import FollowUpTask, SurveyResponse
from .base import NONE_KEY, c, counted_case, label, o
from .filters import Filters
from .process import case_conditions
from .records import Review
from .report import Column, Report, percent, defines
from .rollup import STEPS_TABLE

sr = SurveyResponse.__table__
fu = FollowUpTask.__table__
TITLE = N_("Satisfaction: survey scores and comments")
rv = Review.__table__
DIMENSIONS = ("overall", "step", "agent", "outcome", "follow_up")  # those with cases behind a row (drill-down)
ORDER = DIMENSIONS + ("reviews",)
DIMENSION_LABELS = {"overall": N_("Overall"), "step": N_("Closed from step"),
                    "agent": N_("Agent who decided"), "outcome": N_("Outcome"),
                    "follow_up": N_("Follow-up result"),
                    "reviews": N_("Buyers' reviews")}
REVIEW_GROUPS = ("all_buyers", "returned", "not_returned")
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
    conds += f.merchant_in(table.c.merchant_id)
    if f.slices:
        conds.append(table.c.case_id.in_(select(c.c.id).where(*case_conditions(f.with_(merchant_ids=None),
                                                                                period=False))))
    return conds


def answers(session: Session, f: Filters) -> list[dict]:
    """Each survey answer of the period with its case's step, agent and outcome."""
    # The step it was closed from and who decided it: kept on the case's row of the step summary (rollup.py).
    st = STEPS_TABLE
    stmt = (select(sr.c.case_id, c.c.number, sr.c.score, sr.c.comment, sr.c.created_at, c.c.type, c.c.outcome,
                   st.c.closed_from, st.c.decided_by)
            .select_from(sr.join(c, c.c.id == sr.c.case_id).outerjoin(st, st.c.case_id == sr.c.case_id))
            .where(*_scope(f, sr)))
    out = []
    # Unpacked rather than read by name: a platform's period has tens of thousands of answers.
    for case_id, number, score, comment, at, type_, outcome, step, agent in session.execute(stmt):
        out.append({"case_id": case_id, "number": number, "score": int(score), "comment": comment or "", "at": at,
                    "groups": {"overall": "all", "step": label(step), "agent": label(agent),
                               "outcome": type_ if outcome == "resolved" else outcome or "open"}})
    return out


def follow_ups(session: Session, f: Filters) -> list[tuple[int, str]]:
    stmt = select(fu.c.case_id, fu.c.status, fu.c.outcome).where(*_scope(f, fu))
    return [(case_id, (outcome or NONE_KEY) if status == "done" else "open")
            for case_id, status, outcome in session.execute(stmt)]


def reviews(session: Session, f: Filters) -> list[dict] | None:
    """The reviews of the period: rating, text, order and whether the buyer returned; None when a slice other
    than the SKU is asked for (reviews carry no category, reason or channel)."""
    if set(f.slices) - {"sku"}:
        return None
    on_order = c.c.order_id == rv.c.order_id
    same_buyer = and_(o.c.customer_id.is_not(None), c.c.customer_id == o.c.customer_id)
    returned = exists(select(c.c.id).where(c.c.merchant_id == rv.c.merchant_id, *counted_case(),
                                           or_(on_order, same_buyer)))
    stmt = (select(rv.c.rating, rv.c.text, rv.c.reviewed_at, rv.c.order_number, rv.c.order_id,
                   returned.label("returned"))
            .select_from(rv.outerjoin(o, o.c.id == rv.c.order_id))
            .where(rv.c.reviewed_at >= f.start, rv.c.reviewed_at < f.end))
    if f.merchant_ids is not None:
        stmt = stmt.where(rv.c.merchant_id.in_(f.merchant_ids))
    if "sku" in f.slices:
        stmt = stmt.where(rv.c.sku == f.slices["sku"])
    out = []
    for row in session.execute(stmt):
        groups = ["all_buyers"]
        if row.returned:
            groups.append("returned")
        elif row.order_id is not None:
            groups.append("not_returned")
        out.append({"score": int(row.rating), "comment": row.text or "", "at": row.reviewed_at,
                    "order": row.order_number, "groups": groups})
    return out


def _review_rows(found: list[dict]) -> tuple[list[dict], dict]:
    rows, totals = [], {}
    for key in REVIEW_GROUPS:
        items = [r for r in found if key in r["groups"]]
        scores = [r["score"] for r in items]
        figure = {"responses": len(items), "avg_score": average(sum(scores), len(scores)),
                  "satisfied": percent(sum(1 for x in scores if x >= 4), len(scores))}
        totals[key] = figure
        if not items:
            continue
        latest = heapq.nlargest(COMMENTS_SHOWN, (r for r in items if r["comment"].strip()),
                                key=lambda r: (r["at"], r["order"] or ""))
        rows.append({"dimension": "reviews", "key": key, **figure,
                     **{f"score_{k}": scores.count(k) for k in range(1, 6)},
                     "comments": [{"order": r["order"], "score": r["score"], "comment": r["comment"]}
                                  for r in latest]})
    return rows, totals


def average(total: int, n: int) -> str | None:
    if not n:
        return None
    return str((Decimal(total) / Decimal(n)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def cases_of(session: Session, f: Filters, dimension: str, key: str) -> list[int]:
    """The case ids behind one row (for the drill-down)."""
    if dimension == "follow_up":
        return sorted({case_id for case_id, result in follow_ups(session, f) if result == key})
    return sorted({a["case_id"] for a in answers(session, f) if a["groups"].get(dimension) == key})


@defines("satisfaction", TITLE, chart="bar")
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
        # The latest few: the same as sorting them all, newest first, and taking the first (heapq's documented
        # equivalence, ties included), without sorting a platform's 20,000-odd commented answers per group.
        commented = heapq.nlargest(COMMENTS_SHOWN, (a for a in items if a["comment"].strip()),
                                   key=lambda a: (a["at"], a["number"]))
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
    review_rows, review_totals = [], None
    found_reviews = reviews(session, f)
    if found_reviews is not None:
        review_rows, review_totals = _review_rows(found_reviews)
    rank = {d: i for i, d in enumerate(ORDER)}
    rows.sort(key=lambda r: (rank[r["dimension"]], -r["responses"], r["key"]))
    rows += review_rows  # in their fixed order: all buyers, then those who returned, then those who did not
    for row in rows:
        row["dimension_label"] = every(DIMENSION_LABELS[row["dimension"]])
    total = sum(a["score"] for a in found)
    totals = {"responses": len(found), "avg_score": average(total, len(found)),
              "satisfied": percent(sum(1 for a in found if a["score"] >= 4), len(found)),
              "follow_ups": dict(sorted(tasks.items())), "reviews": review_totals}
    note = N_("Answers given in the period, each counted once per dimension; follow-ups created in the period, by "
              "their result or as not done yet.") if found_reviews is not None else N_(
        "Answers given in the period, each counted once per dimension; follow-ups created in the period, by their "
        "result or as not done yet. Reviews are left out: only the SKU filter applies to them.")
    chart = [{"label": f"{DIMENSION_LABELS[r['dimension']]}: {r['key']}", "value": r["avg_score"]}
             for r in rows if r["dimension"] in ("overall", "outcome", "reviews") and r["avg_score"] is not None]
    return Report("satisfaction", TITLE, COLUMNS, rows, note=note if rows else None, totals=totals,
                  extra={"chart": chart}).finish()
