"""The default return reasons' labels and the case states' names, in English; the catalogs
(src/returnflow/locale/*) translate them."""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a string for the catalogs; it is translated where it is shown."""
    return text


def NP_(context: str, text: str) -> str:
    """Marks a string with its context (the same English may be another word elsewhere) for the catalogs."""
    return text


REASONS: dict[str, str] = {
    'quality_issue': N_('Quality problem'),
    'not_as_described': N_('Not as described'),
    'wrong_size': N_('Wrong size or fit'),
    'wrong_item': N_('Wrong item sent'),
    'missing_item': N_('Item or part missing'),
    'damaged_in_transit': N_('Damaged in transit'),
    'no_reason_7day': N_('7-day no-reason return'),
    'changed_mind': N_('Changed my mind'),
    'not_received': N_('Parcel not received'),
    'late_delivery': N_('Shipped later than promised'),
    'defect_after_use': N_('Stopped working in use'),
    'price_protection': N_('Price dropped after purchase'),
    'logistics_question': N_('Question about delivery'),
    'usage_help': N_('Installation or usage help'),
    'invoice_issue': N_('Invoice (发票) problem'),
    'service_complaint': N_('Complaint about service'),
    'other': N_('Other'),
}

STATE_CONTEXT = "case state"
STATES: dict[str, str] = {
    "pending_review": NP_("case state", 'Pending review'),
    "awaiting_customer": NP_("case state", 'Waiting for the customer'),
    "pending_approval": NP_("case state", 'Pending approval'),
    "awaiting_return": NP_("case state", 'Waiting for the return parcel'),
    "return_in_transit": NP_("case state", 'Return in transit'),
    "received": NP_("case state", 'Received'),
    "inspected": NP_("case state", 'Inspected'),
    "in_repair": NP_("case state", 'In repair'),
    "resolving": NP_("case state", 'Resolution in progress'),
    "resolved": NP_("case state", 'Resolved'),
    "rejected": NP_("case state", 'Rejected'),
    "disputed": NP_("case state", 'Platform intervention'),
    "cancelled": NP_("case state", 'Cancelled'),
    "closed": NP_("case state", 'Closed'),
}
