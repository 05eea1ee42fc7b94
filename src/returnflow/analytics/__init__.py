"""Analytics: return rates, reasons, processing times, backlog, suppliers, customers, money, SLA and satisfaction.

`run(session, name, filters)` answers any report installed in `report.REPORTS` (returnflow/bootstrap.py installs
them all).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from .filters import Filters
from .report import REPORTS, Report


def run(session: Session, name: str, filters: Filters) -> Report:
    """The report `name` for `filters` (the name must be in REPORTS)."""
    return REPORTS[name].run(session, filters)
