"""What the case workflow asks the money module about a case (cases/ports.py; installed by returnflow/bootstrap.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from .models import Refund


def refund_states(session: Session, case: CaseRecord) -> set[str]:
    """The states of the case's refunds (empty: none was proposed)."""
    return set(session.scalars(select(Refund.state).where(Refund.case_id == case.id)))
