"""How long each step takes, from the case events' timestamps, and what is waiting now (backlog by state and age)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Float, and_, case, func, literal, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ..i18n import N_, every
from ..cases.models import CaseEvent, CaseState
from ..cases.views import STATE_LABELS
from .base import c, cl, o, ol, p
from .filters import Filters
from .report import Column, Report, defines
from .rollup import STEPS_TABLE
from .sql import PERCENTILES, epoch, percentile_select, plain_rows

ev = CaseEvent.__table__
MILESTONES = {"intake": ("open",), "decision": ("approve", "reject"), "shipped": ("ship_return",),
              "received": ("receive",), "inspected": ("inspect",), "resolved": ("resolve",), "closed": ("close",)}
# (step, en, zh): each step runs from the previous milestone the case actually reached to this one.
STEPS = [("decision", N_("Intake → decision")),
         ("shipped", N_("Decision → parcel shipped")),
         ("received", N_("Shipped → received")),
         ("inspected", N_("Received → inspected")),
         ("resolved", N_("Inspected → resolved (refund/exchange)")),
         ("closed", N_("Resolved → closed")),
         ("total", N_("Intake → closed (whole case)"))]
# Seconds in the API and the files (the header names the unit); the console shows days and hours (words.duration).
TIME_COLUMNS = [Column("cases", "Cases", "售后单数", "int"), Column("avg", "Mean (seconds)", "平均（秒）", "seconds"),
                Column("p50", "Median p50 (seconds)", "中位数 p50（秒）", "seconds"),
                Column("p90", "p90 (seconds)", "p90（秒）", "seconds"),
                Column("p95", "p95 (seconds)", "p95（秒）", "seconds")]
OPEN_EXCLUDED = ("closed", "cancelled", "resolved", "rejected")
# Listed rather than excluded, so the (merchant, state) index finds them without reading every finished case.
OPEN_FOR_BACKLOG = tuple(s.value for s in CaseState if s.value not in OPEN_EXCLUDED)
AGES = [(1, "<1d", "不足1天"), (3, "1-3d", "1-3天"), (7, "3-7d", "3-7天"), (14, "7-14d", "7-14天"),
        (30, "14-30d", "14-30天"), (None, ">30d", "超过30天")]


def case_conditions(f: Filters, *, period: bool = True) -> list:
    """Conditions on `cases` for the filters; slices on goods look through the case's lines."""
    conds = []
    if period:
        conds += [c.c.created_at >= f.start, c.c.created_at < f.end]
    conds += f.merchant_in(c.c.merchant_id)
    s = f.slices
    goods = []
    if "sku" in s:
        goods.append(ol.c.sku == s["sku"])
    if "category" in s:
        goods.append(func.coalesce(ol.c.category, p.c.category) == s["category"])
    if "supplier" in s:
        goods.append(p.c.supplier == s["supplier"])
    if goods:
        frm = cl.join(ol, ol.c.id == cl.c.order_line_id)
        if "category" in s or "supplier" in s:
            frm = frm.join(o, o.c.id == ol.c.order_id).outerjoin(
                p, and_(p.c.merchant_id == o.c.merchant_id, p.c.sku == ol.c.sku))
        conds.append(c.c.id.in_(select(cl.c.case_id).select_from(frm).where(*goods)))
    if "reason" in s:  # the case's reason, or one of its lines' own reasons
        conds.append(or_(c.c.reason_code == s["reason"],
                         c.c.id.in_(select(cl.c.case_id).where(cl.c.reason_code == s["reason"]))))
    if "country" in s or "channel" in s:
        orders = select(o.c.id)
        if "country" in s:
            orders = orders.where(o.c.country == s["country"])
        if "channel" in s:
            orders = orders.where(o.c.sales_channel == s["channel"])
        conds.append(c.c.order_id.in_(orders))
    return conds


def nearest_rank(values: list[float]) -> dict:
    """Count, mean and the exact nearest-rank p50/p90/p95 (the ceil(p*n/100)-th smallest), as whole seconds."""
    values.sort()
    n = len(values)
    out: dict = {"cases": n, "avg": int(round(sum(values) / n)) if n else None}
    for q in PERCENTILES:
        out[f"p{q}"] = int(round(values[(q * n + 99) // 100 - 1])) if n else None
    return out



# PostgreSQL's percentile_disc(f) is the ceil(f*n)-th smallest value, computed in double precision: for each of
# these fractions and every n up to 2,000,000 that is the same row as nearest_rank's integer (p*n + 99) // 100.
_FRACTIONS = postgresql.array([literal(q / 100, Float) for q in PERCENTILES])


def _ranked_in_postgres(session: Session, stmt) -> dict[str, dict]:
    """nearest_rank of each step's column, computed by PostgreSQL: the seven sorts run in the database, and no
    duration crosses to Python (a platform's period has 100,000s per step)."""
    durations = stmt.subquery("durations")
    figures = []
    for column in durations.c:
        figures += [func.count(column), func.avg(column),
                    func.percentile_disc(_FRACTIONS).within_group(column).cast(postgresql.ARRAY(Float))]
    row = plain_rows(session, select(*figures))[0]
    out = {}
    for i, (step, _name) in enumerate(STEPS):
        n, avg, ranks = row[3 * i: 3 * i + 3]
        out[step] = {"cases": int(n), "avg": int(round(avg)) if n else None,
                     **{f"p{q}": int(round(v)) if n else None for q, v in zip(PERCENTILES, ranks or [None] * 3)}}
    return out


def _seconds(row, name: str) -> dict:
    def num(v):
        return None if v is None else int(round(float(v)))
    return {"cases": int(row[f"{name}_n"] or 0), "avg": num(row[f"{name}_avg"]),
            **{f"p{q}": num(row[f"{name}_p{q}"]) for q in (50, 90, 95)}}


@defines("processing_times", N_("Processing time per step"), chart="bar")
def processing_times(session: Session, f: Filters) -> Report:
    """Exact p50/p90/p95 of each step's duration over the cases opened in the period."""
    # From the maintained summary (rollup.py: one row per case with each step's seconds, computed by the database
    # from the first time of each milestone), which equals what the events say; with a slice on goods, reason,
    # country or channel, through the cases it selects.
    st = STEPS_TABLE
    columns = [st.c[f"{s}_secs"] for s, _ in STEPS]
    if f.slices:
        stmt = select(*columns).select_from(st.join(c, c.c.id == st.c.case_id)).where(*case_conditions(f))
    else:
        stmt = select(*columns).where(*f.merchant_in(st.c.merchant_id), st.c.created_at >= f.start,
                                      st.c.created_at < f.end)
    if session.connection().dialect.name == "postgresql":
        figures = _ranked_in_postgres(session, stmt)
    else:
        # Column by column: the percentiles need every duration of a step, and a platform's period has 100,000s.
        found = plain_rows(session, stmt)
        figures = {s: nearest_rank([v for v in values if v is not None])
                   for (s, _), values in zip(STEPS, zip(*found) if found else [()] * len(STEPS))}
    rows = [{"step": s, "label": every(name), **figures[s]} for s, name in STEPS]
    rows = [r for r in rows if r["cases"]]
    note = N_("Percentiles are exact (nearest rank) over the cases opened in the period; 'resolved' stands for the "
              "refund or exchange being done until refunds are recorded on their own.")
    return Report("processing_times", N_("Processing time per step"),
                  [Column("step", "Step", "环节")] + TIME_COLUMNS, rows, note=note).finish()


def _by_person(session: Session, f: Filters, secs, actions: tuple[str, ...], name: str, title: tuple[str, str],
               who: tuple[str, str]) -> Report:
    person = func.coalesce(func.nullif(ev.c.actor_name, ""), ev.c.actor_id, ev.c.actor_kind)
    durations = (select(person.label("who"), secs.label("secs")).select_from(ev.join(c, c.c.id == ev.c.case_id))
                 .where(ev.c.action.in_(actions), *case_conditions(f)).subquery("durations"))
    rows = []
    for row in session.execute(percentile_select(durations, ["secs"], group="who")).mappings():
        rows.append({"who": row["who"], **_seconds(row, "secs")})
    rows.sort(key=lambda r: (-r["cases"], r["who"]))
    return Report(name, title, [Column("who", *who)] + TIME_COLUMNS, rows[:f.limit]).finish()


@defines("processing_agents", N_("Time to decision by agent"), chart="bar")
def processing_agents(session: Session, f: Filters) -> Report:
    """From intake to each approve/reject, grouped by who decided (the policy engine or system included)."""
    return _by_person(session, f, epoch(ev.c.created_at) - epoch(c.c.created_at), MILESTONES["decision"],
                      "processing_agents", N_("Time to decision by agent"), ("Agent", "客服"))


@defines("processing_warehouse", N_("Time to inspection by inspector"), chart="bar")
def processing_warehouse(session: Session, f: Filters) -> Report:
    """From receipt of the parcel to its inspection, grouped by the inspector."""
    e2 = ev.alias("received")
    received_at = (select(func.max(e2.c.created_at)).where(e2.c.case_id == ev.c.case_id, e2.c.action == "receive",
                                                          e2.c.seq < ev.c.seq).scalar_subquery())
    return _by_person(session, f, epoch(ev.c.created_at) - epoch(received_at), ("inspect",),
                      "processing_warehouse", N_("Time to inspection by inspector"),
                      ("Inspector", "质检员"))


@defines("backlog", N_("Backlog by state and age"), chart="bar")
def backlog(session: Session, f: Filters, *, now: datetime | None = None) -> Report:
    """Open cases now, per state and age since opening (the period filter does not apply: it is today's queue)."""
    now = now or datetime.now(timezone.utc)
    whens = [(c.c.created_at > now - timedelta(days=d), key) for d, key, _ in AGES if d is not None]
    age = case(*whens, else_=AGES[-1][1])
    stmt = (select(c.c.state, age.label("age"), func.count().label("n"), func.min(c.c.created_at).label("oldest"))
            .where(c.c.state.in_(OPEN_FOR_BACKLOG), *case_conditions(f, period=False))
            .group_by(c.c.state, age))
    table: dict[str, dict] = {}
    for state, bucket_key, n, oldest in session.execute(stmt):
        r = table.setdefault(state, {"state": state, "label": STATE_LABELS.get(state), "total": 0,
                                     **{key: 0 for _, key, _ in AGES}, "oldest_days": 0, "drill": {"state": state}})
        r[bucket_key] += n
        r["total"] += n
        if oldest is not None:
            if isinstance(oldest, str):
                oldest = datetime.fromisoformat(oldest)
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=timezone.utc)
            r["oldest_days"] = max(r["oldest_days"], (now - oldest).days)
    rows = sorted(table.values(), key=lambda r: -r["total"])
    columns = [Column("state", "State", "状态"), Column("total", "Open cases", "未结案件数", "int")] + [
        Column(key, f"Age {key}", f"已开{zh}", "int") for _, key, zh in AGES] + [
        Column("oldest_days", "Oldest (days)", "最久（天）", "int")]
    return Report("backlog", N_("Backlog by state and age"), columns, rows,
                  note=N_("Open work as of now; the period does not apply. Resolved, rejected, cancelled and closed "
                          "cases are not backlog."),
                  totals={"open": sum(r["total"] for r in rows)}).finish()

