"""The customer-history panel of the staff case page: the customer's other cases at this merchant, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..cases.models import Case
from . import words

LIMIT = 20


def customer_history(session: Session, case, locale: str) -> dict[str, Any]:
    """{"rows": the customer's other cases (number, type and state in words, opened at, link), "total": how many
    there are in all}; empty for a case without a known customer."""
    if case.customer_id is None:
        return {"rows": [], "total": 0}
    others = (Case.merchant_id == case.merchant_id, Case.customer_id == case.customer_id, Case.id != case.id)
    total = session.scalar(select(func.count()).select_from(Case).where(*others)) or 0
    found = session.execute(select(Case.number, Case.type, Case.state, Case.created_at).where(*others)
                            .order_by(Case.created_at.desc(), Case.id.desc()).limit(LIMIT))
    rows = [{"number": number, "type": words.word(words.TYPES, type_, locale),
             "state": words.state_label(state, locale), "created_at": created_at,
             "link": f"/staff/cases/{number}"} for number, type_, state, created_at in found]
    return {"rows": rows, "total": total}
