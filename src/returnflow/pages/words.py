"""What the pages call things: case types, outcomes, timeline steps in plain words (msgids for the catalogs)."""

from __future__ import annotations

from typing import Any

from ..cases.views import STATE_LABELS
from ..i18n import ENGLISH, match
from .frame import N_, gettext

TYPES = {
    "return_refund": N_("Return and refund"),
    "refund_only": N_("Refund only (keep the item)"),
    "exchange": N_("Exchange"),
    "repair": N_("Repair"),
    "reship": N_("Send the missing item again"),
    "inquiry": N_("Question"),
    "complaint": N_("Complaint"),
}
PORTAL_TYPES = ("return_refund", "refund_only", "exchange", "repair", "reship")

OUTCOMES = {
    "refund": N_("Refund"),
    "exchange": N_("Exchange for a new item"),
    "repair": N_("Repair"),
    "reship": N_("Send it again"),
}

PAYERS = {
    "merchant": N_("The shop pays the return shipping."),
    "customer": N_("You pay the return shipping."),
    "none": N_("Nothing needs to be sent back."),
}

ROUTES = {
    "auto": N_("Within the policy: it can be approved right away."),
    "agent": N_("An agent will review your request."),
    "supervisor": N_("A supervisor will review your request."),
}

DEADLINES = {
    "customer_window": N_("Request by"),
    "merchant_response": N_("The shop answers by"),
    "customer_shipping": N_("Send the parcel by"),
    "customer_ship": N_("Send the parcel by"),  # the policy clock's own name for the same deadline
    "receipt_confirmation": N_("Receipt confirmed by"),
    "refund": N_("Refund by"),
}
DEADLINE_AFTER = {
    "return_dispatched": N_("after you send the parcel"),
    "return_received": N_("after the shop receives the parcel"),
    "agreement": N_("after the request is approved"),
    "request": N_("after the request"),
    "rejection": N_("after a rejection"),
    "repair_start": N_("after the repair starts"),
}

# Timeline steps as the customer reads them, when the event is customer-visible (cases/visibility.py): a note or
# an escalation only when staff shared it; assignment never.
CUSTOMER_STEPS = {
    "note": N_("A note from the shop."),
    "open": N_("You submitted the request."),
    "approve": N_("The shop approved your request."),
    "reject": N_("The shop rejected your request."),
    "request_info": N_("The shop asked you for more information."),
    "customer_reply": N_("You sent the information."),
    "require_approval": N_("Your request went to a supervisor for approval."),
    "cancel": N_("The request was cancelled."),
    "ship_return": N_("The return parcel is on its way."),
    "receive": N_("The shop received your parcel."),
    "inspect": N_("The shop checked the returned items."),
    "start_repair": N_("The repair started."),
    "complete_repair": N_("The repair is done."),
    "ship_replacement": N_("The shop sent your item."),
    "resolve": N_("Your request is done."),
    "close": N_("The case is closed."),
    "reopen": N_("The case was reopened."),
    "dispute": N_("You asked the platform to step in."),
    "arbitrate": N_("The platform decided."),
    "escalate": N_("The case went to a supervisor."),
    "attach": N_("A photo or video was added."),
    "propose_plan": N_("The shop proposed a plan for you to accept."),
    "accept_plan": N_("You accepted the plan."),
    "decline_plan": N_("You declined the plan; the shop will get back to you."),
    "withdraw_plan": N_("The shop withdrew the plan."),
    "change_type": N_("The shop changed the type of your request."),
}
PLAN_ACTIONS = ("propose_plan", "accept_plan", "decline_plan", "withdraw_plan")

STAFF_STEPS = {
    "open": N_("Case opened"),
    "approve": N_("Approved"),
    "reject": N_("Rejected"),
    "request_info": N_("Asked the customer for information"),
    "customer_reply": N_("The customer answered"),
    "require_approval": N_("Sent up for approval"),
    "cancel": N_("Cancelled"),
    "ship_return": N_("Return parcel registered"),
    "receive": N_("Received"),
    "inspect": N_("Inspected"),
    "start_repair": N_("Repair started"),
    "complete_repair": N_("Repair done"),
    "ship_replacement": N_("Replacement shipped"),
    "resolve": N_("Resolved"),
    "close": N_("Closed"),
    "reopen": N_("Reopened"),
    "dispute": N_("Dispute opened"),
    "arbitrate": N_("Arbitrated"),
    "escalate": N_("Escalated"),
    "settle_advance_exchange": N_("Advance exchange: hold or charge for the replacement"),
    "assign": N_("Assigned"),
    "attach": N_("Evidence added"),
    "note": N_("Internal note"),
    "propose_plan": N_("Plan proposed"),
    "accept_plan": N_("The customer accepted the plan"),
    "decline_plan": N_("The customer declined the plan"),
    "withdraw_plan": N_("Plan withdrawn"),
    "change_type": N_("Type changed"),
}

# Condition grades of an inspected unit (warehouse desk, case page).
GRADES = {"A": N_("A – like new, resellable as new"), "B": N_("B – light signs of handling, resellable"),
          "C": N_("C – visible wear, sold as used or refurbished"), "D": N_("D – damaged, not resellable")}

# The buttons of the staff case page.
ACTIONS = {
    "approve": N_("Approve"),
    "reject": N_("Reject"),
    "request_info": N_("Ask for information"),
    "customer_reply": N_("Record the customer's answer"),
    "require_approval": N_("Send up for approval"),
    "cancel": N_("Cancel the request"),
    "ship_return": N_("Register the return parcel"),
    "receive": N_("Receive the goods"),
    "inspect": N_("Record the inspection"),
    "start_repair": N_("Start the repair"),
    "complete_repair": N_("Repair done"),
    "ship_replacement": N_("Ship the replacement"),
    "resolve": N_("Resolve"),
    "close": N_("Close"),
    "reopen": N_("Reopen"),
    "dispute": N_("Open a dispute"),
    "arbitrate": N_("Arbitrate"),
    "escalate": N_("Escalate"),
    "assign": N_("Assign"),
    "attach": N_("Add evidence"),
    "note": N_("Add an internal note"),
    "propose_plan": N_("Propose a plan"),
    "accept_plan": N_("Accept the plan"),
    "decline_plan": N_("Decline the plan"),
    "withdraw_plan": N_("Withdraw the plan"),
    "change_type": N_("Change the type"),
    "settle_advance_exchange": N_("Settle the advance exchange"),
}

FIELDS = {
    "reason": N_("Reason"),
    "message": N_("Message"),
    "carrier": N_("Carrier"),
    "tracking_number": N_("Tracking number"),
    "text": N_("Note"),
    "answer": N_("Answer to the customer"),
    "decision": N_("Decision"),
}

CHANNELS = {
    "portal": N_("Customer portal"), "app": N_("App"), "hotline": N_("Hotline"), "chat": N_("Chat"),
    "email": N_("Email"), "wechat": N_("WeChat"), "agent": N_("Agent"), "api": N_("API"), "import": N_("Import"),
}

ROLES = {
    "agent": N_("Agent"), "warehouse": N_("Warehouse"), "finance": N_("Finance"), "supervisor": N_("Supervisor"),
    "admin": N_("Administrator"), "platform": N_("Platform"), "customer": N_("Customer"), "system": N_("System"),
    "policy": N_("Policy"),
}


def state_label(state: str, locale: str) -> str:
    return STATE_LABELS.get(state, {}).get(match(locale) or ENGLISH, state)


def word(table: dict[str, str], key: str | None, locale: str) -> str:
    """The translated word for `key` in `table`, or the key itself."""
    if key is None:
        return ""
    return gettext(locale, table[key]) if key in table else key


def event_details(payload: dict[str, Any], *, staff: bool, reasons: dict[str, str] | None = None
                  ) -> list[tuple[str, str]]:
    """(field msgid, value) pairs of an event worth showing; notes only to staff; reason codes by their label."""
    shown = ["reason", "message", "carrier", "tracking_number", "answer", "decision"] + (["text"] if staff else [])
    reasons = reasons or {}
    return [(FIELDS[k], reasons.get(payload[k], str(payload[k])) if k == "reason" else str(payload[k]))
            for k in shown if isinstance(payload.get(k), (str, int)) and payload.get(k)]


def period_words(deadline: dict[str, Any], locale: str) -> str:
    """'within 7 days after you send the parcel' for a deadline whose start has not happened yet."""
    seconds = deadline.get("period_seconds")
    after = word(DEADLINE_AFTER, deadline.get("anchor"), locale)
    if seconds is None:
        return after
    if seconds == 0:
        return gettext(locale, N_("right away")) + " " + after
    days, hours = divmod(int(seconds) // 3600, 24)
    if days and not hours:
        amount = gettext(locale, N_("within {n} days")).format(n=days)
    else:
        amount = gettext(locale, N_("within {n} hours")).format(n=days * 24 + hours)
    return f"{amount} {after}"


def helpers(locale: str) -> dict[str, Any]:
    """Template globals that put these words into `locale`."""
    return {
        "outcome_word": lambda key: word(OUTCOMES, key, locale),
        "payer_word": lambda key: word(PAYERS, key, locale),
        "route_word": lambda key: word(ROUTES, key, locale),
        "deadline_word": lambda key: word(DEADLINES, key, locale),
        "type_word": lambda key: word(TYPES, key, locale),
        "state_word": lambda key: state_label(key, locale),
        "role_word": lambda key: word(ROLES, key, locale),
        "channel_word": lambda key: word(CHANNELS, key, locale),
        "period_words": lambda d: period_words(d, locale),
        "route_of": lambda route: _route(route, locale),
        "label_of": lambda action: word(STAFF_STEPS, action, locale),
    }


def _route(route: str, locale: str) -> str:
    from .follow import route_words  # follow imports this module

    return route_words(route, locale)
