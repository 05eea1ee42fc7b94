"""Product categories and their legal attributes (CN2, CN3, CN5, CN11, EU8) and inspection checklist.

The attributes are what the policy engine reads (`assessment/apply.py`); the checklist is what inspection checks
for "intact" (CN5). Only known keys with the right type are accepted, so a typo can never silently change
what the policy decides.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_
from ..labels import clean, labels_of, mirrored
from .models import Category

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,59}")


class Attributes(BaseModel):
    """A category's legal attributes; every flag defaults to false. Strict: "yes" is not true."""

    model_config = ConfigDict(extra="forbid", strict=True)

    custom_made: bool = Field(default=False, description="Made to the customer's specification (CN2, EU8)")
    perishable: bool = Field(default=False, description="Fresh or perishable (CN2, EU8)")
    digital: bool = Field(default=False, description="Audio-visual or software on a medium; excluded once unsealed")
    periodical: bool = Field(default=False, description="Newspapers and periodicals (CN2, EU8)")
    hygiene_sealed: bool = Field(default=False, description="Hygiene-sealed; excluded once unsealed (EU8)")
    one_time_seal: bool = Field(default=False, description="Food, cosmetics, medical devices: seal broken = not "
                                                           "intact (CN5)")
    needs_confirmation: bool = Field(default=False, description="Excluded only with the buyer's confirmation "
                                                                "recorded at checkout (CN3)")
    sanbao: bool = Field(default=False, description="三包 applies (CN11-CN13)")
    virtual: bool = Field(default=False, description="Virtual goods / digital content not on a medium (TB4, EU8)")
    inseparable: bool = Field(default=False, description="Inseparably mixed with other items once used (EU8)")
    warranty_months: int = Field(default=0, ge=0, le=120, description="Warranty in months (0: none)")
    checklist: list[str] = Field(default_factory=list, max_length=50,
                                 description="What inspection checks for 'intact' (CN5), e.g. 'tags attached'")
    tags: list[str] = Field(default_factory=list, max_length=50, description="Tags the merchant's rules select")


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] | None = Field(default=None, description="The category's name by language tag, in any "
                                          "languages, e.g. {\"en\": \"Coats\", \"zh-Hant\": \"大衣\"}")
    name_zh: str = Field(default="", max_length=200, description="Shorthand for labels[\"zh-CN\"]")
    name_en: str = Field(default="", max_length=200, description="Shorthand for labels[\"en\"]")
    attributes: Attributes = Field(default_factory=Attributes)
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")


def check_code(code: str) -> None:
    if not CODE.fullmatch(code):
        raise Explained("code", N_("a category code is 1-60 letters, digits, '.', '-' or '_', got '{given}'"),
                        given=code)


def _stored(attributes: Attributes) -> dict[str, Any]:
    """Only what differs from the defaults is stored: an absent key reads as false / empty."""
    data = attributes.model_dump()
    for name in ("checklist", "tags"):
        data[name] = [item.strip() for item in data[name] if item.strip()]
    return {k: v for k, v in data.items() if v not in (False, 0, [])}


def save(session: Session, merchant_id: int, code: str, body: CategoryIn) -> Category:
    row = session.scalar(select(Category).where(Category.merchant_id == merchant_id, Category.code == code))
    if row is None:
        row = Category(merchant_id=merchant_id, code=code)
        session.add(row)
    given = dict(body.labels or {})
    for tag, text in (("zh-CN", body.name_zh), ("en", body.name_en)):
        if text:
            given[tag] = text
    row.labels = clean(given, required=False)
    row.name_zh, row.name_en = mirrored(row.labels)
    row.attributes = _stored(body.attributes)
    session.flush()
    return row


def list_for(session: Session, merchant_id: int) -> list[Category]:
    return list(session.scalars(select(Category).where(Category.merchant_id == merchant_id)
                                .order_by(Category.code)))


def category_dict(row: Category) -> dict[str, Any]:
    attributes = Attributes.model_validate({k: v for k, v in (row.attributes or {}).items()
                                            if k in Attributes.model_fields})
    return {"code": row.code, "name_zh": row.name_zh, "name_en": row.name_en, "labels": labels_of(row),
            "attributes": attributes.model_dump()}
