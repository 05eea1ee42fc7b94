"""The default return reasons' labels, in English; the catalogs (src/returnflow/locale/*) translate them."""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a string for the catalogs; it is translated where it is shown."""
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
