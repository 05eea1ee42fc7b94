"""API shapes of the conversation around a case: plans, hand-offs and messages (bodies in, dicts out)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..fields import Money, Version
from ..money import from_minor
from .conversation import CaseHandoff, CaseMessage, CasePlan
from .handoffs import TEAMS
from .plans import KINDS
from .visibility import CHOICES

_VISIBILITY = "Who may read it: 'customer' (the customer and staff) or 'internal' (staff only)"


class PlanPropose(BaseModel):
    """A plan for the customer to accept before it is carried out (PROCESS.md §2)."""

    model_config = ConfigDict(extra="forbid")

    version: Version
    kind: str = Field(max_length=30, json_schema_extra={"enum": list(KINDS)})
    amount: Money | None = Field(default=None, description="Partial refund and store credit: the amount, at most "
                                 "what the case claims, in the case's currency")
    note: str = Field(default="", max_length=2000, description="What the customer reads with the plan")


class PlanWithdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version


class HandoffCreate(BaseModel):
    """A hand-off of the case to another team; internal unless `visibility` is "customer"."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(max_length=20, json_schema_extra={"enum": list(TEAMS)})
    note: str = Field(max_length=4000, description="What the team should look at")
    visibility: str | None = Field(default=None, max_length=10, json_schema_extra={"enum": list(CHOICES)},
                                   description=_VISIBILITY + "; internal when left out")
    version: Version | None = Field(default=None, description="When given, refused (409) if the case changed since")


class HandoffReturn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4000, description="What the team found")


class MessageCreate(BaseModel):
    """A message on the case; who may read it is decided now and never changes."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=5000)
    visibility: str = Field(max_length=10, json_schema_extra={"enum": list(CHOICES)}, description=_VISIBILITY)
    version: Version | None = Field(default=None, description="When given, refused (409) if the case changed since")


def plan_dict(plan: CasePlan) -> dict[str, Any]:
    return {"id": plan.id, "kind": plan.kind, "status": plan.status, "currency": plan.currency,
            "amount": from_minor(plan.amount, plan.currency) if plan.amount is not None else None,
            "note": plan.note, "proposed_by": plan.proposed_by, "proposed_name": plan.proposed_name,
            "created_at": plan.created_at, "answer_note": plan.answer_note, "answered_by": plan.answered_by,
            "answered_at": plan.answered_at}


def handoff_dict(row: CaseHandoff) -> dict[str, Any]:
    return {"id": row.id, "team": row.team, "status": row.status, "note": row.note, "visibility": row.visibility,
            "created_by": row.created_by, "created_name": row.created_name, "created_at": row.created_at,
            "done_note": row.done_note, "done_by": row.done_by, "done_at": row.done_at}


def message_dict(message: CaseMessage) -> dict[str, Any]:
    return {"id": message.id, "author_kind": message.author_kind, "author_name": message.author_name,
            "body": message.body, "visibility": message.visibility, "attachment_ids": message.attachment_ids or [],
            "created_at": message.created_at}
