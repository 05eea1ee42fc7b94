"""API shapes of the warehouse: scans, parcels, inspections, dispositions, repairs."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..fields import RowId, Version


class ParcelLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: RowId | None = None
    sku: str | None = Field(default=None, max_length=100)
    quantity: int = Field(ge=1, le=1_000_000)
    condition: str | None = Field(default=None, description="as_expected, damaged, used, missing_parts, wrong_item")
    serial_numbers: list[str] | None = Field(default=None, max_length=1000,
                                             description="The units in the parcel (CN12: recorded on the order line)")


class ParcelReceive(BaseModel):
    """A parcel at the desk: the scanned code, when it came, its state; lines default to all still expected."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=100, description="Case number, tracking number or order number")
    condition: str = Field(default="intact", description="intact, damaged_packaging, opened, wet, crushed")
    arrived_at: AwareDatetime | None = None
    note: str = Field(default="", max_length=2000)
    photos: list[RowId] = Field(default_factory=list, description="Attachment ids of the case (upload first)")
    lines: list[ParcelLine] | None = None
    carrier: str | None = Field(default=None, max_length=20)
    tracking_number: str | None = Field(default=None, max_length=60)


class ExceptionMatch(BaseModel):
    """Matches a parcel from the exceptions queue to its case."""

    model_config = ConfigDict(extra="forbid")

    case: str = Field(min_length=1, max_length=40)
    lines: list[ParcelLine] | None = None
    photos: list[RowId] = Field(default_factory=list)


class LineInspection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: RowId
    checklist: dict[str, bool | None] = Field(description="Each checklist key answered true, false or null")
    grade: Literal["A", "B", "C", "D"]
    verdict: Literal["accept", "accept_with_deduction", "reject"]
    deduction: str | None = Field(default=None, description="Decimal string, with accept_with_deduction only")
    reason: str = Field(default="", max_length=2000, description="Required for reject; the customer reads it")
    note: str = Field(default="", max_length=2000)
    photos: list[RowId] = Field(default_factory=list)


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[LineInspection] = Field(min_length=1)


class DispositionCreate(BaseModel):
    """Where returned units of a line go; `units` names them (1-based), else the next `quantity` free units."""

    model_config = ConfigDict(extra="forbid")

    line_id: RowId
    kind: Literal["restock", "refurbish", "return_to_vendor", "scrap", "donate"]
    quantity: int | None = Field(default=None, ge=1, le=1_000_000)
    units: list[RowId] | None = None
    supplier: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=2000)


class RepairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version
    line_id: RowId
    mode: Literal["mail_in", "on_site"] = "mail_in"
    fault: str = Field(min_length=1, max_length=2000)
    serial_number: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="The unit repaired (CN12 keeps a repair history per unit)")


class RepairFinish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version
    outcome: Literal["repaired", "failed"]
    cost: str = Field(default="0", description="Decimal string in the case currency")
    parts_waiting_days: int = Field(default=0, ge=0, le=3650)
    note: str = Field(default="", max_length=2000)
