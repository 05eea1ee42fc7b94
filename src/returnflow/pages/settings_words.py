"""What the settings pages call things, in words (msgids for the catalogs): notification templates, delivery
rows (every outbox kind the code queues), their states, reply-template steps, outcomes and who sees them."""

from __future__ import annotations

from ..sla.calendar import NAMES as calendar_names
from .frame import N_, gettext
from . import words

# Notification templates (notify/templates.py BUILTIN): the admin reads their purpose, never the key.
TEMPLATES = {
    "otp_code": N_("Sign-in code for the customer"),
    "case_opened": N_("Request received"),
    "case_update": N_("The request moved on"),
    "case_info_requested": N_("More information needed"),
    "case_rejected": N_("Request rejected"),
    "case_message": N_("New message about the request"),
    "case_shared": N_("The shop shared a note or file"),
    "return_instructions": N_("How to send the item back"),
    "case_closed": N_("Request closed"),
    "survey_invitation": N_("Satisfaction survey"),
    "staff_reminder": N_("Reminder to staff: a deadline is near"),
    "staff_escalation": N_("To the supervisor: a deadline passed"),
    "case_assigned": N_("To staff: a case was assigned to you"),
    "advance_exchange_overdue": N_("Advance exchange: the return is overdue"),
    "advance_exchange_charged": N_("Advance exchange: the customer was charged"),
    "advance_exchange_hold_released": N_("Advance exchange: the hold was released"),
    "parcel_failed_attempt": N_("Parcel: a delivery attempt failed"),
    "parcel_returned_to_sender": N_("Parcel: returned to the sender"),
    "parcel_lost": N_("Parcel: lost"),
    "parcel_damaged": N_("Parcel: damaged"),
    "follow_up_due": N_("Follow-up call due"),
    "refund_completed": N_("Refund completed"),
}

# The bundled business calendars (sla/calendars), named in sla/calendar.py.
CALENDARS = calendar_names

# Outbox topics: what a delivery row is. An unknown topic is "Other message", never its code.
KINDS = {
    "notify": N_("Notification"),
    "webhook": N_("Webhook"),
    "customer_charge": N_("Charge or hold on the customer's payment"),
    "inventory_movement": N_("Inventory movement (kept for stock systems; not sent anywhere)"),
    "alert": N_("Message to the staff group robot (WeCom or DingTalk)"),
    "marketplace": N_("Decision sent back to the marketplace"),
}
OTHER_KIND = N_("Other message")
CHANNELS = {"email": N_("Email"), "sms": N_("SMS"), "push": N_("App push"), "in_app": N_("In-app message"),
            "wechat": N_("WeChat")}
STATUSES = {"pending": N_("Waiting"), "leased": N_("Being sent"), "sent": N_("Sent"), "dead": N_("Failed"),
            "expired": N_("Expired")}
WEBHOOK_EVENTS = {"inventory.movement": N_("Inventory movement")}
RECIPIENTS = {"customer": N_("the customer"), "user": N_("a staff member")}

# Reply templates (话术): the step of the case they are for, and the outcome they go with.
REPLY_STEPS = {"": N_("Any step"), "intake": N_("First contact"), "review": N_("Review"),
               "shipping": N_("Return shipping"), "inspection": N_("Inspection"), "refund": N_("Refund"),
               "repair": N_("Repair"), "closing": N_("Closing")}
REPLY_OUTCOMES = {"": N_("Any outcome"), "more_info": N_("More information needed"), "approved": N_("Approved"),
                  "rejected": N_("Rejected"), "resolved": N_("Resolved")}
VISIBILITY = {"agents": N_("Offered to every agent on the case page"),
              "hidden": N_("Hidden (kept, not offered on the case page)")}


def action_word(action: str, locale: str) -> str:
    """A workflow action as a button names it, else as the timeline does; never its code."""
    for table in (words.ACTIONS, words.STAFF_STEPS):
        if action in table:
            return gettext(locale, table[action])
    return gettext(locale, OTHER_KIND)


def word(table: dict[str, str], key: str | None, locale: str, fallback: str | None = None) -> str:
    """The word for `key` in the reader's language; an unknown key reads as `fallback` (never the code)."""
    if key in table:
        return gettext(locale, table[key])
    return gettext(locale, fallback) if fallback else ""
