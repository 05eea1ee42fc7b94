"""The dry run of a return: what the policy would decide for a request if the case were opened now (or at a given
time, under a given version), through the same rows and code as opening it (assessment/apply.py); writes nothing."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.models import CaseType
from ..cases.ports import Requested
from ..cases.service import ORDER_TO_OPEN, check_reasons, lines_with_claims, match_lines
from ..db import utcnow
from ..errors import Forbidden, NotFound
from ..fields import LINE_OR_SKU, LineNo, Version
from ..merchants.scope import resolve_merchant
from ..policy import service
from ..policy.compiled import Policy
from ..web import DB, JSON, CurrentActor
from .apply import assess

router = APIRouter(tags=["policy"])


class DryRunLine(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=LINE_OR_SKU)

    line_no: LineNo | None = Field(default=None, description="The order line number; or give the SKU")
    sku: str | None = Field(default=None, min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=1_000_000)
    reason: str | None = Field(default=None, max_length=60)
    opened: bool = Field(default=False, description="Seal broken / unpacked")
    used: bool = Field(default=False, description="Used beyond inspecting and reasonable testing (CN4)")
    repairs_done: int | None = Field(default=None, ge=0, le=100, description="Completed repairs of this unit "
                                     "within the warranty (CN12); default: those recorded")
    serial_number: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="The unit asked about: CN12 counts its own repairs")
    grade: str | None = Field(default=None, min_length=1, max_length=20,
                              description="The inspection grade, to preview a restocking fee that depends on it")

    @model_validator(mode="after")
    def _line_or_sku(self) -> DryRunLine:
        if self.line_no is None and self.sku is None:
            raise ValueError("give line_no or sku")
        return self


class DryRunIn(BaseModel):
    """A case request as it would be opened, plus when (default now) and under which saved version."""

    model_config = ConfigDict(extra="forbid")

    order: str = Field(min_length=1, max_length=100, description="Order number")
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")
    type: CaseType
    reason: str | None = Field(default=None, max_length=60)
    lines: list[DryRunLine] = Field(min_length=1, max_length=500)
    at: AwareDatetime | None = Field(default=None, description="Decide as of this time, with its offset (default: now)")
    version: Version | None = Field(default=None, description="A saved policy version (default: the active one)")


@router.post("/policy/dry-run")
async def dry_run(body: DryRunIn, actor: CurrentActor, db: DB):
    """What the policy would decide for these lines if the case were opened now (or at `at`); writes nothing.
    Staff run it for any order of their merchant; a customer for their own orders (the portal shows it)."""
    with db.read() as session:
        return JSON(run_dry(session, actor, body))


def run_dry(session: Session, actor: Actor, body: DryRunIn, *, draft: Policy | None = None) -> dict:
    """The policy's answer for a request, exactly as opening the case would decide it (same rows, same code).
    `draft`: an unsaved policy to try instead (the settings page previews an edit before publishing it)."""
    if actor.kind == "customer" and any(x.repairs_done is not None or x.grade is not None for x in body.lines):
        raise Forbidden("forbidden_role", role=actor.role, what="state repairs or grades", allowed=["staff"])
    if actor.kind == "customer" and (body.at is not None or body.version is not None):
        what = "run the policy at another time" if body.at is not None else "run an older policy version"
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=["staff"])
    merchant = resolve_merchant(session, actor, body.merchant)
    if draft is not None:
        row, policy = None, draft
    elif body.version is not None:
        row = service.get_version(session, merchant.id, body.version)
        policy = service.compile_version(row)
    else:
        row, policy = service.current(session, merchant.id)
    now = body.at or utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)

    order = session.execute(ORDER_TO_OPEN, {"merchant_id": merchant.id, "number": body.order}).first()
    if order is None or (actor.kind == "customer" and order.customer_id != actor.customer_id):
        raise NotFound("order", body.order, field="order")
    check_reasons(session, merchant.id, body.type, body.reason, body.lines)
    # The same checks as opening a case, so a dry run and the real request never disagree.
    order_lines = lines_with_claims(session, order.id)
    pairs = match_lines(order.number, order_lines, body.lines, body.type)
    result = assess(session, merchant_id=merchant.id, policy_row=row, policy=policy,
                    preset=None if row else policy.id, order=order, order_lines=order_lines,
                    requested=[Requested(line, item.quantity, item.reason, item.opened, item.used,
                                         item.repairs_done, item.grade, item.serial_number)
                               for line, item in pairs],
                    case_type=body.type.value, case_reason=body.reason, now=now)
    record = result.record
    return {"order": order.number, "merchant": merchant.code, "type": body.type.value, "at": now,
            "policy": record["policy"], "verdict": record["verdict"], "summary": record["summary"],
            "eligible": record["eligible"], "rule_ids": record["rule_ids"], "keep_items": result.keep_items,
            "lines": record["lines"]}
