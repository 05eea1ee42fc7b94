"""话术: agent reply templates per step and outcome, with case placeholders, in every language of the desk.

Built-in replies follow the service norms of the merchants' manuals (greet, empathise, plain words, never promise
what cannot be kept, thank at the end); a merchant adds its own or overrides one by code and locale.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_, SUPPORTED, gettext
from .models import ReplyTemplate
from .templates import TemplateError, fill, placeholders
from ..cases.views import STATE_LABELS

FIELDS = ("number", "customer_name", "order", "state_label", "merchant")
VISIBILITY = ("agents", "hidden")  # offered on the case page | kept in the settings only

# code -> (step, outcome, title, body): English msgids of the catalogs, read in every language of the desk.
BUILTIN: dict[str, tuple[str, str, str, str]] = {
    "greeting": ("intake", "", N_('Greeting'),
                  N_('Hello {customer_name}, thank you for contacting us. Your case number is {number}.')),
    "need_photos": ("review", "more_info", N_('Ask for photos'),
                  N_('I understand how frustrating this is. To help you quickly, could you send a photo or short '
                     'video of the problem? Thank you!')),
    "approved_return": ("review", "approved", N_('Approved, please return'),
                  N_('Your request {number} is approved. Please send the item to the address shown, with the case '
                     'number inside, and enter the tracking number.')),
    "rejected_polite": ("review", "rejected", N_('Polite rejection'),
                  N_('We are sorry: request {number} does not meet the return policy, for the reason stated in the '
                     'case. We would be glad to offer a repair or an exchange instead.')),
    "refund_done": ("refund", "resolved", N_('Refund sent'),
                  N_('Your refund has been sent back to your original payment method; the time it takes to arrive '
                     'depends on your bank. Thank you for your patience!')),
    "closing_thanks": ("closing", "", N_('Closing words'),
                  N_('Thank you for your patience. Have a great day, and contact us any time!')),
}


def check(title: str, body: str) -> None:
    for part, text in (("title", title), ("body", body)):
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise Explained(part, N_("placeholder {{{name}}} is not allowed"), code="template_placeholder",
                            allowed=list(FIELDS), name=str(exc)) from None
        for name in names:
            if name not in FIELDS:
                raise Explained(part, N_("placeholder {{{name}}} is not a case field"), code="template_placeholder",
                                allowed=list(FIELDS), name=name)


def case_data(case: CaseRecord, locale: str) -> dict:
    customer = (case.customer or {}).get("name") or ""
    return {"number": case.number, "customer_name": customer, "order": case.order_number or "",
            "state_label": STATE_LABELS[case.state][locale], "merchant": case.merchant_code or ""}


def listing(session: Session, merchant_id: int, *, locale: str | None, step: str | None, outcome: str | None,
            case: CaseRecord | None, hidden: bool | None = None) -> list[dict]:
    """The merchant's replies (its own wording over the defaults). Hidden ones are left out where agents pick a
    reply (`case` given, or `hidden=False`); the settings page passes `hidden=True` to list them all."""
    if hidden is None:
        hidden = case is None
    items: dict[tuple[str, str], dict] = {}
    for code, (st, oc, title, body) in BUILTIN.items():
        for loc in SUPPORTED:
            items[(code, loc)] = {"code": code, "locale": loc, "step": st, "outcome": oc,
                                  "title": gettext(loc, title), "body": gettext(loc, body), "source": "default",
                                  "visibility": "agents"}
    for r in session.scalars(select(ReplyTemplate).where(ReplyTemplate.merchant_id == merchant_id)):
        items[(r.code, r.locale)] = {"code": r.code, "locale": r.locale, "step": r.step, "outcome": r.outcome,
                                     "title": r.title, "body": r.body, "source": "merchant",
                                     "visibility": r.visibility or "agents"}
    result = []
    for item in sorted(items.values(), key=lambda x: (x["step"], x["code"], x["locale"])):
        if (locale and item["locale"] != locale) or (step and item["step"] != step) or \
                (outcome and item["outcome"] != outcome) or (not hidden and item["visibility"] == "hidden"):
            continue
        if case is not None:
            try:
                item["text"] = fill(item["body"], case_data(case, item["locale"]), item["code"])
            except TemplateError:
                item["text"] = None
        result.append(item)
    return result


def save(session: Session, merchant_id: int, *, code: str, locale: str, step: str, outcome: str, title: str,
         body: str, visibility: str | None = None) -> dict:
    row = session.scalar(select(ReplyTemplate).where(ReplyTemplate.merchant_id == merchant_id,
                                                     ReplyTemplate.code == code, ReplyTemplate.locale == locale))
    if row is None:
        row = ReplyTemplate(merchant_id=merchant_id, code=code, locale=locale, title=title, body=body)
        session.add(row)
    row.step, row.outcome, row.title, row.body, row.updated_at = step, outcome, title, body, utcnow()
    if visibility is not None:
        row.visibility = visibility
    return {"code": code, "locale": locale, "step": step, "outcome": outcome, "title": title, "body": body,
            "source": "merchant", "visibility": row.visibility or "agents"}


def remove(session: Session, merchant_id: int, code: str) -> int:
    """Deletes the merchant's wording of a reply in every language (a built-in one is back to its default)."""
    rows = list(session.scalars(select(ReplyTemplate).where(ReplyTemplate.merchant_id == merchant_id,
                                                            ReplyTemplate.code == code)))
    for row in rows:
        session.delete(row)
    return len(rows)
