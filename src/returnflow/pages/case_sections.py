"""What the staff case page reads from the other areas: approvals, money (refunds with status), shipments and
inspection results, reply templates (话术) filled for the case; each from the area's own tables or services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..cases.views import reason_words
from ..logistics.models import Shipment
from ..money import fmt
from ..notify import replies
from ..refunds.reports import case_refunds
from ..warehouse.models import Inspection
from .frame import N_
from ..warehouse import checklists

REFUND_STATES = {"awaiting_approval": N_("Awaiting approval"), "approved": N_("Approved, being paid"),
                 "completed": N_("Paid"), "rejected": N_("Rejected")}
PAYMENT_STATES = {"pending": N_("Pending"), "sent": N_("Sent"), "succeeded": N_("Paid"), "failed": N_("Failed")}
VERDICTS = {"accept": N_("Accepted"), "accept_with_deduction": N_("Accepted with a deduction"),
            "reject": N_("Rejected")}
APPROVAL_ACTIONS = ("require_approval", "approve", "reject", "arbitrate")


def approvals(events, locale: str) -> list[dict[str, Any]]:
    """The review decisions on the timeline: sent up for approval, approved, rejected, overrides."""
    found = []
    for e in events:
        if e.action not in APPROVAL_ACTIONS:
            continue
        payload = e.payload or {}
        found.append({"at": e.created_at, "action": e.action, "who": e.actor_name or e.actor_role,
                      "role": e.actor_role, "reason": reason_words(payload, locale) or payload.get("override_reason") or "",
                      "override": bool(payload.get("override"))})
    return found


def money(session: Session, case: CaseRecord) -> list[dict[str, Any]]:
    return case_refunds(session, case.id)


def shipments(session: Session, case: CaseRecord) -> list[Shipment]:
    return list(session.scalars(select(Shipment).where(Shipment.case_id == case.id).order_by(Shipment.id)))


def inspections(session: Session, case: CaseRecord, locale: str = "en") -> list[dict[str, Any]]:
    """Each saved inspection with its checklist answers in words (the questions as they read today)."""
    titles = {line.id: line.title or line.sku for line in case.lines}
    return [{"line": titles.get(i.case_line_id, i.case_line_id), "quantity": i.quantity,
             "answers": checklists.answered(i.checklist or {}, locale),
             "accepted": i.accepted_quantity, "grade": i.grade, "verdict": i.verdict,
             "deduction": fmt(i.deduction, i.currency) if i.deduction else "", "currency": i.currency,
             "reason": i.reject_reason, "note": i.note, "inspector": i.inspector, "at": i.created_at}
            for i in session.scalars(select(Inspection).where(Inspection.case_id == case.id)
                                     .order_by(Inspection.id))]


def reply_templates(session: Session, case: CaseRecord, locale: str) -> list[dict[str, Any]]:
    """The merchant's reply templates in the customer's language, placeholders filled from the case; templates
    whose placeholders cannot be filled are left out. Each is named in the staff member's language (`title`),
    the customer's text beside it."""
    customer_locale = (case.customer or {}).get("locale") or locale
    if customer_locale not in ("zh-CN", "en"):
        customer_locale = locale
    found = [t for t in replies.listing(session, case.merchant_id, locale=customer_locale, step=None, outcome=None,
                                        case=case) if t.get("text")]
    if customer_locale != locale:
        names = {t["code"]: t["title"] for t in replies.listing(session, case.merchant_id, locale=locale, step=None,
                                                               outcome=None, case=None)}
        found = [{**t, "title": names.get(t["code"], t["title"])} for t in found]
    return found
