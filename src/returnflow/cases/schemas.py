"""API shapes of cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..fields import LINE_OR_SKU, LineNo, Version
from .models import CaseType, Channel

Outcome = Literal["refund", "exchange", "repair", "reship", "answer", "compensation", ""]


class CaseLineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=LINE_OR_SKU)

    line_no: LineNo | None = Field(default=None, description="The order line number; or give the SKU")
    sku: str | None = Field(default=None, min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=1_000_000)
    reason: str | None = Field(default=None, max_length=60)
    opened: bool = Field(default=False, description="The customer says the seal is broken / it was unpacked")
    used: bool = Field(default=False, description="Used beyond inspecting and reasonable testing (CN4)")
    serial_number: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="The unit concerned: CN12 counts that unit's repairs")
    variant: str | None = Field(default=None, min_length=1, max_length=100,
                                description="Exchange: the SKU of the replacement, one of the order line's variants")

    @model_validator(mode="after")
    def _line_or_sku(self) -> CaseLineCreate:
        if self.line_no is None and self.sku is None:
            raise ValueError("give line_no or sku")
        return self


class CaseCreate(BaseModel):
    """A new after-sales request for one order."""

    model_config = ConfigDict(extra="forbid")

    order: str = Field(min_length=1, max_length=100, description="Order number")
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")
    type: CaseType
    channel: Channel = Channel.AGENT
    reason: str | None = Field(default=None, max_length=60)
    description: str = Field(default="", max_length=5000)
    desired_outcome: Outcome = ""
    advance: bool = Field(default=False, description="Advance exchange (先发后退): the replacement ships first")
    needs_return: bool | None = Field(default=None, description="Whether the goods come back; default by type")
    lines: list[CaseLineCreate] = Field(default_factory=list, max_length=500)
    external_ref: str | None = Field(default=None, max_length=100)


class ActionRequest(BaseModel):
    """One workflow action; `version` is the case version the caller last saw."""

    model_config = ConfigDict(extra="forbid")

    version: Version
    payload: dict[str, Any] = Field(default_factory=dict)
    # Who sees the event: "customer" or "internal" (staff only); a note or an escalation may be shared, most steps
    # have a fixed answer (cases/visibility.py). None: the step's default.
    visibility: str | None = Field(default=None, max_length=10)


class CaseLineRead(BaseModel):
    id: int
    order_line_id: int
    line_no: int
    sku: str
    title: str
    unit_price: str
    quantity: int
    reason: str | None
    received_quantity: int
    accepted_quantity: int
    inspection: dict[str, Any]


class EventRead(BaseModel):
    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor: dict[str, Any]
    payload: dict[str, Any]
    at: datetime


class AttachmentRead(BaseModel):
    id: int
    filename: str
    content_type: str
    kind: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime


class CaseRead(BaseModel):
    number: str
    merchant: str
    order: str
    customer: dict[str, Any] | None
    type: str
    channel: str
    state: str
    state_label: dict[str, str]
    reason: str | None
    description: str
    desired_outcome: str
    advance: bool
    needs_return: bool
    outcome: str | None
    currency: str
    claimed_amount: str
    assignee_id: int | None
    escalation_level: int
    reopen_count: int
    external_ref: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    policy_version: int | None = None
    policy_verdict: str | None = None
    allowed_actions: list[str]
    lines: list[CaseLineRead]
    policy: dict[str, Any] | None = None
    attachments: list[AttachmentRead] | None = None
    timeline: list[EventRead] | None = None


class CasePage(BaseModel):
    items: list[CaseRead]
    total: int
    limit: int
    offset: int
