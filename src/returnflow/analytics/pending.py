"""Reports whose figures other areas record (refunds, deadlines, surveys): they answer "no data yet" until wired.

Each entry names the tables its figures come from. When those tables are absent the report says so; when they
exist but nobody has registered the real query yet (`report.register(name, ...)` replaces the entry), it says
that instead. Either way the answer is a clear status, never an error.
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from .filters import Filters
from .report import REPORTS, Column, Report, register

PENDING = {
    "money": (("Money: refunds, deductions, shipping, compensation, store credit", "资金：退款、扣款、运费、补偿、储值"),
              ("refunds",), "refunds / ledger (money branch)", "退款与台账（资金模块）"),
    "sla": (("SLA compliance and breaches", "时效达成与超时"), ("timers",), "deadline timers (sla branch)",
            "时效计时器（时效模块）"),
    "satisfaction": (("Satisfaction: survey scores and comments", "满意度：评分与评价"), ("surveys",),
                     "satisfaction surveys", "满意度调查"),
}


def _pending(name: str):
    (title, tables, what_en, what_zh) = PENDING[name]

    def run(session: Session, f: Filters) -> Report:
        present = set(inspect(session.connection()).get_table_names())
        missing = [t for t in tables if t not in present]
        if missing:
            note = (f"No data yet: {what_en} are not recorded in this installation (table {', '.join(missing)} "
                    "does not exist).", f"暂无数据：本系统尚未记录{what_zh}（数据表 {', '.join(missing)} 不存在）。")
        else:
            note = (f"No data yet: {what_en} are recorded, but this report is not connected to them yet.",
                    f"暂无数据：已记录{what_zh}，但本报表尚未接入。")
        return Report(name, title, [Column("note", "Note", "说明")], status="no_data_yet", note=note,
                      extra={"needs_tables": list(tables), "missing_tables": missing})
    run.__doc__ = f"{title[0]} — answers 'no data yet' until the query over {', '.join(tables)} is registered."
    return run


for _name, (_title, *_rest) in PENDING.items():
    if _name not in REPORTS:
        register(_name, _title)(_pending(_name))
