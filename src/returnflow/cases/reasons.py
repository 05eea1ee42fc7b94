"""The return-reason taxonomy: a default list (labelled by the catalogs, texts/labels.py) that each merchant can
extend or hide with its own reasons, labelled in any languages (labels.py)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..caches import CACHES, changed, forget as forget_cache
from ..i18n import gettext
from ..labels import MIRRORED, mirrored
from ..texts.labels import REASONS
from .models import Reason

GOODS = ["refund_only", "return_refund", "exchange", "repair", "reship"]
ALL_TYPES = GOODS + ["inquiry", "complaint"]
# (code, whose fault, case types it applies to); the labels are texts/labels.py's, translated by the catalogs
DEFAULT_REASONS: list[tuple[str, str, list[str]]] = [
    ("quality_issue", "merchant", GOODS),
    ("not_as_described", "merchant", ["refund_only", "return_refund", "exchange"]),
    ("wrong_size", "customer", ["return_refund", "exchange"]),
    ("wrong_item", "merchant", ["refund_only", "return_refund", "exchange", "reship"]),
    ("missing_item", "merchant", ["refund_only", "reship"]),
    ("damaged_in_transit", "carrier", GOODS),
    ("no_reason_7day", "customer", ["return_refund"]),
    ("changed_mind", "customer", ["return_refund", "refund_only"]),
    ("not_received", "carrier", ["refund_only", "reship"]),
    ("late_delivery", "merchant", ["refund_only", "return_refund"]),
    ("defect_after_use", "merchant", ["repair", "exchange", "return_refund"]),
    ("price_protection", "customer", ["refund_only"]),
    ("logistics_question", "none", ["inquiry"]),
    ("usage_help", "none", ["inquiry"]),
    ("invoice_issue", "none", ["inquiry", "complaint"]),
    ("service_complaint", "merchant", ["complaint"]),
    ("other", "customer", GOODS + ["inquiry", "complaint"]),
]


def seed_defaults(session: Session) -> None:
    """Writes the default taxonomy once (rows with no merchant)."""
    have = set(session.scalars(select(Reason.code).where(Reason.merchant_id.is_(None))))
    for sort, (code, fault, types) in enumerate(DEFAULT_REASONS):
        if code not in have:
            labels = {tag: gettext(tag, REASONS[code]) for tag in MIRRORED}
            session.add(Reason(merchant_id=None, code=code, label_zh=labels["zh-CN"], label_en=labels["en"],
                               labels=labels, fault=fault, case_types=types, sort=sort * 10))


def for_merchant(session: Session, merchant_id: int) -> list[Reason]:
    """The active reasons of a merchant: its own rows override defaults with the same code."""
    rows = session.scalars(select(Reason).where(
        or_(Reason.merchant_id.is_(None), Reason.merchant_id == merchant_id)).order_by(Reason.sort, Reason.code))
    chosen: dict[str, Reason] = {}
    for row in rows:
        if row.code not in chosen or row.merchant_id is not None:
            chosen[row.code] = row
    return sorted((r for r in chosen.values() if r.active), key=lambda r: (r.sort, r.code))


def set_reason(session: Session, *, merchant_id: int, code: str, labels: dict[str, str], fault: str,
               case_types: list[str], active: bool, sort: int) -> Reason:
    """Adds or changes a merchant's own reason, labelled in any languages; a default with the same code is
    overridden (or hidden)."""
    row = session.scalar(select(Reason).where(Reason.merchant_id == merchant_id, Reason.code == code))
    if row is None:
        row = Reason(merchant_id=merchant_id, code=code)
        session.add(row)
    row.labels = dict(labels)
    row.label_zh, row.label_en = mirrored(labels)
    row.fault, row.case_types = fault, case_types
    row.active, row.sort = active, sort
    session.flush()
    changed(session, "reasons", merchant_id)
    return row


# Reason codes per merchant and case type, remembered per process (caches.py "reasons"; set_reason drops them
# here at once and in other processes within caches.CHECK_SECONDS).


def _cached(session: Session, merchant_id: int) -> tuple[None, dict[str, list[str]], dict[str, str]]:
    return CACHES["reasons"].get(session, merchant_id, lambda: _codes_of(session, merchant_id), merchant_id)


def _codes_of(session: Session, merchant_id: int) -> tuple[None, dict[str, list[str]], dict[str, str]]:
    by_type: dict[str, list[str]] = {}
    faults: dict[str, str] = {}
    for reason in for_merchant(session, merchant_id):
        faults[reason.code] = reason.fault
        for type_ in reason.case_types or ALL_TYPES:
            by_type.setdefault(type_, []).append(reason.code)
    return None, by_type, faults


def codes_for(session: Session, merchant_id: int, case_type: str) -> list[str]:
    """The active reason codes a merchant offers for a case type, in display order."""
    return _cached(session, merchant_id)[1].get(case_type, [])


def fault_of(session: Session, merchant_id: int, code: str | None) -> str:
    """Whose fault a reason says it is (merchant | customer | carrier | none); no reason: the customer's own."""
    if not code:
        return "customer"
    return _cached(session, merchant_id)[2].get(code, "customer")


def forget(merchant_id: int | None = None) -> None:
    """Drops cached codes in this process (of one merchant, or all)."""
    forget_cache("reasons", merchant_id)
