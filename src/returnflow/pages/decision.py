"""The policy decision a case page shows: the one stored on the case when it was opened (assessment/apply.py), in the
dry run's shape, so the portal's answer before submitting and the case page read the same."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..i18n import ENGLISH, match
from .frame import N_, gettext

# The policy's answer as staff read it: about the customer, in the third person (the portal says "you").
STAFF_PAYERS = {
    "merchant": N_("The shop pays the return shipping."),
    "customer": N_("The customer pays the return shipping."),
    "none": N_("Nothing needs to be sent back."),
}
STAFF_ROUTES = {
    "auto": N_("Within the policy: it can be approved right away."),
    "agent": N_("An agent reviews the request."),
    "supervisor": N_("A supervisor approves the request."),
}
STAFF_DEADLINES = {
    "customer_window": N_("The customer may ask until"),
    "merchant_response": N_("The shop answers by"),
    "customer_shipping": N_("The customer sends the parcel by"),
    "customer_ship": N_("The customer sends the parcel by"),
    "receipt_confirmation": N_("Receipt confirmed by"),
    "refund": N_("Refund by"),
}
STAFF_AFTER = {
    "return_dispatched": N_("after the customer sends the parcel"),
    "return_received": N_("after the shop receives the parcel"),
    "agreement": N_("after the request is approved"),
    "request": N_("after the request"),
    "rejection": N_("after a rejection"),
    "repair_start": N_("after the repair starts"),
}


# The policy's sentences are written for the shopper ("you"); staff read them about the customer.
_THIRD_PERSON_EN = ((r"\bkeep it, no need\b", "the customer keeps it, no need"),
                    (r"\bYou enjoy\b", "The customer enjoys"), (r"\bWe will answer\b", "The shop answers"),
                    (r"\byou send\b", "the customer sends"), (r"\bYour\b", "The customer's"),
                    (r"\byour\b", "the customer's"), (r"\bYou\b", "The customer"), (r"\byou\b", "the customer"))


# Translators: the word a policy sentence uses to address the shopper (Chinese: 您), and what staff read instead.
YOU_POLITE = N_("you (addressing the shopper in a policy sentence)")
THE_CUSTOMER = N_("the customer (in place of the shopper addressed in a policy sentence)")


def third_person(text: str, locale: str) -> str:
    """A policy sentence about the customer rather than to them."""
    if match(locale) != ENGLISH:
        # The catalogs say how a language addresses the shopper and names the customer (Chinese: 您 -> 顾客).
        you, customer = gettext(locale, YOU_POLITE), gettext(locale, THE_CUSTOMER)
        return text.replace(you, customer) if you != YOU_POLITE else text
    for pattern, said in _THIRD_PERSON_EN:
        text = re.sub(pattern, said, text)
    return text


def _word(table: dict[str, str], key: str | None, locale: str) -> str:
    return gettext(locale, table[key]) if key in table else ""


def staff_words(locale: str) -> dict[str, Any]:
    """Template helpers for the staff decision panel (staff/_decision.html)."""
    def period(deadline: dict[str, Any]) -> str:
        seconds = deadline.get("period_seconds")
        after = _word(STAFF_AFTER, deadline.get("anchor"), locale)
        if seconds is None:
            return after
        days, hours = divmod(int(seconds) // 3600, 24)
        if days and not hours:
            amount = gettext(locale, N_("within {n} days")).format(n=days)
        else:
            amount = gettext(locale, N_("within {n} hours")).format(n=days * 24 + hours)
        return f"{amount} {after}"

    return {"staff_payer": lambda key: _word(STAFF_PAYERS, key, locale),
            "staff_route": lambda key: _word(STAFF_ROUTES, key, locale),
            "staff_deadline": lambda key: _word(STAFF_DEADLINES, key, locale),
            "staff_period": period, "staff_reason": lambda text: third_person(str(text), locale)}


def decision_of_case(session: Session, case: CaseRecord) -> dict[str, Any] | None:
    """{"stored": True, "version", "verdict", "summary", "lines": [{"line_no", "sku", "decision"}]}; None for a case
    the policy did not decide (imported history, inquiries and complaints)."""
    stored = case.policy_decision
    if not stored:
        return None
    policy = stored.get("policy") or {}
    return {"stored": True, "version": policy.get("version"), "policy_id": policy.get("policy_id"),
            "verdict": stored.get("verdict"), "summary": stored.get("summary") or {},
            "lines": [{"line_no": x.get("line_no"), "sku": x.get("sku"), "decision": _times(x.get("decision") or {})}
                      for x in stored.get("lines", [])]}


def _times(decision: dict[str, Any]) -> dict[str, Any]:
    """Deadlines come back from JSON as ISO strings; the page formats datetimes in the reader's way."""
    deadlines = []
    for d in decision.get("deadlines") or ():
        at = d.get("at")
        if isinstance(at, str):
            try:
                d = {**d, "at": datetime.fromisoformat(at)}
            except ValueError:
                pass
        deadlines.append(d)
    return {**decision, "deadlines": deadlines}
