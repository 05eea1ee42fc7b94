"""The policy decision a case page shows: the one stored on the case when it was opened (policy/apply.py), in the
dry run's shape, so the portal's answer before submitting and the case page read the same."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..cases.store import CaseRecord


def decision_of_case(session: Session, case: CaseRecord) -> dict[str, Any] | None:
    """{"stored": True, "version", "verdict", "summary", "lines": [{"line_no", "sku", "decision"}]}; None for a case
    the policy did not decide (imported history, inquiries and complaints)."""
    stored = case.policy_decision
    if not stored:
        return None
    policy = stored.get("policy") or {}
    return {"stored": True, "version": policy.get("version"), "policy_id": policy.get("policy_id"),
            "verdict": stored.get("verdict"), "summary": stored.get("summary") or {},
            "lines": [{"line_no": x.get("line_no"), "sku": x.get("sku"), "decision": _times(x.get("decision") or {})}
                      for x in stored.get("lines", [])]}


def _times(decision: dict[str, Any]) -> dict[str, Any]:
    """Deadlines come back from JSON as ISO strings; the page formats datetimes in the reader's way."""
    deadlines = []
    for d in decision.get("deadlines") or ():
        at = d.get("at")
        if isinstance(at, str):
            try:
                d = {**d, "at": datetime.fromisoformat(at)}
            except ValueError:
                pass
        deadlines.append(d)
    return {**decision, "deadlines": deadlines}
