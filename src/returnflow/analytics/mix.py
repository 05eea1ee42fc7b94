"""Why goods come back: the reason distribution overall and per SKU, category, supplier, country or channel."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..i18n import N_
from ..cases.models import Reason
from ..i18n import SUPPORTED
from ..labels import reason_label
from ..money import fmt
from .base import label
from .cube import returned_by
from .filters import Filters
from .rates import DIM_COLUMNS, REASON_TITLES
from .report import Column, Report, percent, defines

REASON_COLUMNS = [
    Column("reason", "Reason", "原因"), Column("label", "Label", "名称"), Column("fault", "Whose fault", "责任方"),
    Column("cases", "Cases", "售后单数", "int"), Column("units", "Units", "件数", "int"),
    Column("share", "Share of units %", "件数占比 %", "percent"), Column("currency", "Currency", "币种"),
    Column("value", "Value", "金额", "money"),
]


def _labels(session: Session, f: Filters) -> dict[str, Reason]:
    """Reason rows by code: a merchant's own row wins over the default when one merchant is asked for."""
    stmt = select(Reason)
    if f.merchant_ids is not None and len(f.merchant_ids) == 1:
        stmt = stmt.where(or_(Reason.merchant_id.is_(None), Reason.merchant_id == f.merchant_ids[0]))
    else:
        stmt = stmt.where(Reason.merchant_id.is_(None))
    chosen: dict[str, Reason] = {}
    for row in session.scalars(stmt):
        if row.code not in chosen or row.merchant_id is not None:
            chosen[row.code] = row
    return chosen


def _row(session_labels: dict[str, Reason], code, cases: int, units: int, total_units: int, cur: str, value: int,
         f: Filters) -> dict:
    reason = session_labels.get(code) if code else None
    return {"reason": label(code), "label": {tag: reason_label(reason, tag) for tag in SUPPORTED} if reason else None,
            "fault": reason.fault if reason else None, "cases": cases, "units": units,
            "share": percent(units, total_units), "currency": cur, "value": fmt(value, cur),
            "drill": {"reason": code} if code else None}


@defines("reasons", N_("Reason distribution"), chart="bar")
def reasons(session: Session, f: Filters) -> Report:
    """Cases, units and value returned per reason, most units first."""
    names = _labels(session, f)
    rows = [(code, cur, cases, units, value)
            for (_none, code, cur), (cases, units, value, _at_price)
            in returned_by(session, f, None, "reason").items()]
    total = sum(r[3] for r in rows)
    out = [_row(names, code, cases, units, total, cur, value, f) for code, cur, cases, units, value in rows]
    out.sort(key=lambda r: (-r["units"], r["reason"]))
    return Report("reasons", N_("Reason distribution"), REASON_COLUMNS, out[:f.limit],
                  totals={"units": total}).finish()


@defines("reasons_by", N_("Reasons per group"), by=True)
def reasons_by(session: Session, f: Filters) -> Report:
    """The reason mix inside each group (SKU by default): which reason dominates where."""
    by = f.by if f.by != "period" else "sku"
    rows = [(key, code, cur, cases, units, value)
            for (key, code, cur), (cases, units, value, _at_price)
            in returned_by(session, f, by, "reason").items()]
    per_group: dict[str, int] = defaultdict(int)
    for key, _code, _cur, _cases, units, _value in rows:
        per_group[label(key)] += int(units or 0)
    names = _labels(session, f)
    out = []
    for key, code, cur, cases, units, value in rows:
        item = {"key": label(key), **_row(names, code, int(cases or 0), int(units or 0), per_group[label(key)], cur,
                                          int(value or 0), f)}
        drill = {by: label(key)} if label(key) != label(None) else {}
        item["drill"] = {**drill, **({"reason": code} if code else {})} or None
        out.append(item)
    top = sorted(per_group, key=lambda k: (-per_group[k], k))[:f.limit]
    rank = {k: i for i, k in enumerate(top)}
    out = sorted((r for r in out if r["key"] in rank), key=lambda r: (rank[r["key"]], -r["units"], r["reason"]))
    columns = [DIM_COLUMNS[by]] + REASON_COLUMNS
    return Report("reasons_by", REASON_TITLES[by], columns, out).finish()
