"""Inspection checklists: a base every inspection answers, plus what the product category adds (CN4, CN5).

A category carries its own items in `Category.attributes["checklist"]` (free text such as "tags attached"); its
legal flags add the statutory checks (one-time seal → seal intact). Items are answered true, false or null (n/a);
every question is asked so that true is fine, and a category's item that asks what the base already asks
("accessories", "unworn") is the base's question, not a second one.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..i18n import N_, gettext
from ..orders.models import Category

BASE = ("original_item", "no_signs_of_use", "accessories_complete", "packaging_intact", "defect_confirmed")
# Every question is asked so that "yes" is fine: "all fine" answers yes to each.
LABELS = {
    "original_item": N_("Is it the original item (not swapped)?"),
    "no_signs_of_use": N_("Free of signs of use beyond trying it?"),
    "accessories_complete": N_("Accessories, manuals and gifts complete?"),
    "packaging_intact": N_("Packaging present and intact?"),
    "defect_confirmed": N_("Does it match the customer's account (a reported defect is confirmed)?"),
    "seal_intact": N_("One-time seal intact?"),
    "tags_attached": N_("Tags attached, not cut?"),
    "serial_number": N_("Serial number matches the order?"),
    "ccc_mark": N_("CCC mark present and unaltered?"),
    "not_activated": N_("Not activated, and no personal data left on it?"),
    "unwashed": N_("Unwashed?"),
}
# The same check under another name (a category's free text, or a key saved before the questions all read
# "yes = fine"): (the key asked today, whether a saved answer reads the other way round).
SAME_AS = {
    "signs_of_use": ("no_signs_of_use", True), "activation_traces": ("not_activated", True),
    "activated": ("not_activated", True), "unworn": ("no_signs_of_use", False),
    "unused": ("no_signs_of_use", False), "accessories": ("accessories_complete", False),
    "accessories_complete": ("accessories_complete", False), "seal": ("seal_intact", False),
    "one_time_seal": ("seal_intact", False), "tags": ("tags_attached", False),
    "packaging": ("packaging_intact", False), "original_packaging": ("packaging_intact", False),
    "serial": ("serial_number", False), "sn": ("serial_number", False),
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
        if not isinstance(item, str) or not item.strip():
            continue
        key = canonical(key_of(item))
        if key not in keys:
            keys.append(key)
    return keys


def canonical(key: str) -> str:
    """The key a check is asked under today ('accessories' → 'accessories_complete')."""
    return SAME_AS.get(key, (key, False))[0]


def current(answers: dict) -> dict:
    """Answers given under older or other names, as the questions asked today (an answer to "signs of use?"
    is the opposite answer to "free of signs of use?"); None (n/a) stays None."""
    result: dict = {}
    for key, value in (answers or {}).items():
        name, flipped = SAME_AS.get(key, (key, False))
        if name in result or name in answers and name != key:
            name, flipped = key, False  # both names answered: each answer stays under its own
        result[name] = (not value) if flipped and isinstance(value, bool) else value
    return result


def for_category(session: Session, merchant_id: int, code: str | None) -> list[str]:
    """The checklist keys for a product category of the merchant (the base list for an unknown category)."""
    attributes = None
    if code:
        attributes = session.scalar(select(Category.attributes).where(Category.merchant_id == merchant_id,
                                                                      Category.code == code))
    return for_attributes(attributes)


def label(key: str, locale: str) -> str:
    """A check's question in `locale`, from the catalogs; a category's own item in the merchant's words."""
    if key not in LABELS:
        return key.replace("_", " ")
    return gettext(locale, LABELS[key])


def describe(keys: list[str], locale: str) -> list[dict]:
    return [{"key": k, "label": label(k, locale)} for k in keys]


def answered(answers: dict, locale: str) -> list[dict]:
    """A saved inspection's answers as the questions asked today: [{key, label, answer}] (True, False or None)."""
    return [{"key": k, "label": label(k, locale), "answer": v} for k, v in current(answers).items()]
