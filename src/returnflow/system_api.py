"""Reference data: the workflow table and the reason taxonomy."""

from __future__ import annotations

from fastapi import APIRouter

from .cases import reasons
from .cases.service import resolve_merchant
from .cases.workflow import TRANSITIONS
from .web import DB, CurrentActor

router = APIRouter(tags=["reference"])


@router.get("/workflow")
async def workflow() -> dict:
    """Every (state, action) pair the workflow allows, who may fire it and where it leads."""
    rows = []
    for t in TRANSITIONS:
        to = t.to.value if hasattr(t.to, "value") else ("(same)" if t.to is None else f"({t.to.__name__})")
        rows.append({"action": t.action, "from": sorted(s.value for s in t.sources), "to": to, "roles": list(t.roles),
                     "requires": list(t.requires), "summary": {"en": t.summary_en, "zh-CN": t.summary_zh}})
    return {"transitions": rows}


@router.get("/reasons")
async def list_reasons(actor: CurrentActor, db: DB, merchant: str | None = None) -> list[dict]:
    """The merchant's return reasons in zh-CN and en, with the case types each applies to."""
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        return [{"code": r.code, "label": {"zh-CN": r.label_zh, "en": r.label_en}, "fault": r.fault,
                 "case_types": r.case_types} for r in reasons.for_merchant(session, m.id)]
