"""The built-in notification templates, in English: (subject, body) by key with {placeholders}; the
catalogs (src/returnflow/locale/*) translate them, a merchant may reword them per language (notify/templates.py)."""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a string for the catalogs; it is translated where it is shown."""
    return text


NOTIFICATIONS: dict[str, tuple[str, str]] = {
    'otp_code': (N_('Your sign-in code'),
                 N_('Your code is {code}. It is valid for {minutes} minutes. Do not share it.')),
    'case_opened': (N_('Request received: {number}'),
                    N_('We have received your after-sales request {number} and will keep you posted at every step.')),
    'case_update': (N_('Update on {number}'),
                    N_('Your request {number} is now: {state_label}.')),
    'case_info_requested': (N_('More information needed: {number}'),
                            N_('To handle your request {number} we need: {message}')),
    'case_rejected': (N_('Request declined: {number}'),
                      N_('We are sorry: request {number} was declined. Reason: {reason}. You may add information or ask the platform to review it.')),
    'case_message': (N_('A reply about {case}'),
                     N_('The shop replied about your request {case}: {body}')),
    'case_shared': (N_('Update on {number}'),
                    N_('Your request {number}: {message}')),
    'return_instructions': (N_('Please send the item back: {number}'),
                            N_('Please send the item to {address} by {deadline}, with the case number {number} on the parcel.')),
    'case_closed': (N_('Request closed: {number}'),
                    N_('Your request {number} is closed. Thank you for your patience!')),
    'survey_invitation': (N_('How did we do?'),
                          N_('Your request {number} is complete. Please rate our service from 1 to 5; your opinion matters to us.')),
    'staff_reminder': (N_('Deadline approaching: {number}'),
                       N_('The {step} of case {number} is due at {due_at} ({rule}).')),
    'staff_escalation': (N_('Escalated: {number}'),
                         N_('The {step} of case {number} missed its deadline at {due_at} ({rule}); it was escalated to you.')),
    'case_assigned': (N_('Assigned to you: {number}'),
                      N_('Case {number} ({state_label}) has been assigned to you.')),
    'advance_exchange_overdue': (N_('Please send the original back: {number}'),
                                 N_('Your advance exchange {number}: the replacement was sent first, but the original did not come back by {due_at}. An agent will contact you; if you have sent it, please enter the tracking number on the case.')),
    'refund_completed': (N_('Refund completed: {case}'),
                         N_('The refund of {amount} {currency} for {case} was sent back to your original payment method (refund {refund}); when it arrives depends on your bank.')),
    'advance_exchange_charged': (N_('Charged for the replacement: {number}'),
                                 N_("The original of your advance exchange {number} did not come back in time, so {amount} {currency} (the replacement's price) was charged to your payment method as agreed. Contact us if you have any question.")),
    'advance_exchange_hold_released': (N_('Hold released: {number}'),
                                       N_('We received the original of {number}; the hold of {amount} {currency} on your payment method is released.')),
    'parcel_failed_attempt': (N_('Delivery attempt failed: {case}'),
                              N_('The parcel of case {case} ({carrier} {tracking_number}) could not be delivered; the carrier will try again.')),
    'parcel_returned_to_sender': (N_('Parcel returned to sender: {case}'),
                                  N_('The parcel of case {case} ({carrier} {tracking_number}) is being returned to its sender.')),
    'parcel_lost': (N_('Parcel lost: {case}'),
                    N_('The carrier reports the parcel of case {case} ({carrier} {tracking_number}) lost; we will contact you about it.')),
    'parcel_damaged': (N_('Parcel damaged: {case}'),
                       N_('The carrier reports the parcel of case {case} ({carrier} {tracking_number}) damaged; we will contact you about it.')),
    'follow_up_due': (N_('Follow-up due: {number}'),
                      N_('The follow-up call for case {number} is due ({due_at}).')),
}
