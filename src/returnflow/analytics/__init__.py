"""Analytics: return rates, reasons, processing times, backlog, suppliers and customers, over what cases record.

`run(session, name, filters)` answers any report registered in `report.REPORTS`; importing this package
registers them all.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from . import customers, mix, process, rates  # noqa: F401 - registers the reports
from . import pending  # noqa: F401 - last: fills only what nobody registered
from .filters import Filters
from .report import REPORTS, Report


def run(session: Session, name: str, filters: Filters) -> Report:
    """The report `name` for `filters` (the name must be in REPORTS)."""
    return REPORTS[name].run(session, filters)
