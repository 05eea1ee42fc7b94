"""Analytics: return rates, reasons, processing times, backlog, suppliers, customers, money, SLA and satisfaction.

`run(session, name, filters)` answers any report registered in `report.REPORTS`; importing this package
registers them all.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from . import customers, deadlines, finance, mix, process, rates, rollup, satisfaction  # noqa: F401 - registers the reports
from .filters import Filters
from .report import REPORTS, Report

rollup.register()  # the step summary follows every case event


def run(session: Session, name: str, filters: Filters) -> Report:
    """The report `name` for `filters` (the name must be in REPORTS)."""
    return REPORTS[name].run(session, filters)
