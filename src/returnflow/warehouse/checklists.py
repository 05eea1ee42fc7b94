"""Inspection checklists: a base every inspection answers, plus what the product category adds (CN4, CN5).

A category carries its own items in `Category.attributes["checklist"]` (free text such as "tags attached"); its
legal flags add the statutory checks (one-time seal → seal intact). Items are answered true, false or null (n/a).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..orders.models import Category

BASE = ("original_item", "signs_of_use", "accessories_complete", "packaging_intact", "defect_confirmed")
LABELS = {
    "original_item": ("Is it the original item (not swapped)?", "是否为原商品（未调包）"),
    "signs_of_use": ("Signs of use beyond trying it?", "是否有超出试用的使用痕迹"),
    "accessories_complete": ("Accessories, manuals and gifts complete?", "配件、说明书、赠品是否齐全"),
    "packaging_intact": ("Packaging present and intact?", "包装是否完好"),
    "defect_confirmed": ("Is the reported defect confirmed?", "顾客所述故障是否属实"),
    "seal_intact": ("One-time seal intact?", "一次性封签是否完好"),
    "tags_attached": ("Tags attached, not cut?", "吊牌是否完好未剪"),
    "serial_number": ("Serial number matches the order?", "序列号是否与订单一致"),
    "ccc_mark": ("CCC mark present and unaltered?", "CCC 标志是否完好未改动"),
    "activation_traces": ("Activated, or personal data left on it?", "是否已激活或留有个人数据"),
    "unworn": ("Unworn?", "是否未穿着"),
    "unwashed": ("Unwashed?", "是否未洗涤"),
    "accessories": ("Accessories complete?", "配件是否齐全"),
}


def key_of(text: str) -> str:
    """'CCC mark' → 'ccc_mark'."""
    return re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_") or text.strip()


def for_attributes(attributes: dict | None) -> list[str]:
    """The checklist keys of a category with these attributes."""
    attributes = attributes or {}
    keys = list(BASE)
    if attributes.get("one_time_seal") or attributes.get("hygiene_sealed"):
        keys.append("seal_intact")
    for item in attributes.get("checklist") or []:
        if isinstance(item, str) and key_of(item) not in keys:
            keys.append(key_of(item))
    return keys


def for_category(session: Session, merchant_id: int, code: str | None) -> list[str]:
    """The checklist keys for a product category of the merchant (the base list for an unknown category)."""
    attributes = None
    if code:
        attributes = session.scalar(select(Category.attributes).where(Category.merchant_id == merchant_id,
                                                                      Category.code == code))
    return for_attributes(attributes)


def describe(keys: list[str], locale: str) -> list[dict]:
    zh = locale == "zh-CN"
    return [{"key": k, "label": LABELS.get(k, (k.replace("_", " "), k.replace("_", " ")))[1 if zh else 0]}
            for k in keys]
