"""Reference data: the workflow table and the reason taxonomy."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from .cases import reasons
from .merchants.scope import resolve_merchant
from .cases.workflow import TRANSITIONS
from .cases.models import CaseType
from .errors import Forbidden
from .i18n import ENGLISH, SUPPORTED, display_name, every
from .labels import all_labels, clean
from .web import DB, CurrentActor, mutate

router = APIRouter(tags=["reference"])


@router.get("/workflow")
async def workflow() -> dict:
    """Every (state, action) pair the workflow allows, who may fire it and where it leads."""
    rows = []
    for t in TRANSITIONS:
        to = t.to.value if hasattr(t.to, "value") else ("(same)" if t.to is None else f"({t.to.__name__})")
        rows.append({"action": t.action, "from": sorted(s.value for s in t.sources), "to": to, "roles": list(t.roles),
                     "requires": list(t.requires), "summary": every(t.summary)})
    return {"transitions": rows}


@router.get("/languages")
async def languages() -> dict:
    """The languages of this desk (one per catalog under src/returnflow/locale/), each named in itself, and the
    fallback chain every text follows."""
    return {"languages": [{"tag": tag, "name": display_name(tag)} for tag in SUPPORTED],
            "fallback": ["requested", "family (zh-TW, zh-HK -> zh-Hant; zh-SG -> zh-CN)", "merchant default",
                         ENGLISH]}


@router.get("/reasons")
async def list_reasons(actor: CurrentActor, db: DB, merchant: str | None = None) -> list[dict]:
    """The merchant's return reasons with their labels ({language: text}; the default reasons' in every language of
    the desk, a merchant's own in the languages it gave), with the case types each applies to."""
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        return [_reason_dict(r) for r in reasons.for_merchant(session, m.id)]


def _reason_dict(r) -> dict:
    return {"code": r.code, "label": all_labels(r), "fault": r.fault,
            "case_types": r.case_types, "active": r.active, "sort": r.sort,
            "source": "merchant" if r.merchant_id is not None else "default"}


class ReasonIn(BaseModel):
    """A merchant's own return reason, or its override of a default one (same code)."""

    model_config = ConfigDict(extra="forbid")

    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")
    labels: dict[str, str] | None = Field(default=None, description="The reason's name by language tag, in any "
                                          "languages, e.g. {\"en\": \"Too small\", \"fr\": \"Trop petit\"}; "
                                          "at least one")
    label_zh: str | None = Field(default=None, max_length=200, description="Shorthand for labels[\"zh-CN\"]")
    label_en: str | None = Field(default=None, max_length=200, description="Shorthand for labels[\"en\"]")
    fault: Literal["merchant", "customer", "carrier", "none"] = "customer"
    case_types: list[CaseType] = Field(default_factory=list, description="Empty: every case type")
    active: bool = Field(default=True, description="false hides the reason (also a default one) for new cases")
    sort: int = Field(default=500, ge=0, le=100_000)


REASON_EDITORS = ("admin", "supervisor", "platform")


@router.put("/reasons/{code}")
async def put_reason(body: ReasonIn, actor: CurrentActor, request: Request,
                     code: str = Path(pattern=r"^[a-z][a-z0-9_]{1,59}$")):
    """Adds, changes or hides a reason of the merchant's taxonomy (admins and supervisors)."""
    if actor.role not in REASON_EDITORS:
        raise Forbidden("forbidden_role", role=actor.role, what="edit reasons", allowed=list(REASON_EDITORS))

    def work(session):
        merchant = resolve_merchant(session, actor, body.merchant)
        given = dict(body.labels or {})
        for tag, text in (("zh-CN", body.label_zh), ("en", body.label_en)):
            if text is not None:
                given[tag] = text
        row = reasons.set_reason(session, merchant_id=merchant.id, code=code, labels=clean(given), fault=body.fault,
                                 case_types=[t.value for t in body.case_types], active=body.active, sort=body.sort)
        return 200, _reason_dict(row)

    return await mutate(request, actor, work)
