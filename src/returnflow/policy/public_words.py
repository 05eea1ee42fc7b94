"""The public policy's words: every sentence an English msgid translated by the catalogs (pages/catalogs.py
extracts this module), fragments (a clock, a list of items) said in every language and filled in per language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from ..i18n import SUPPORTED, every, match
from ..texts.errors import N_
from .compiled import Policy
from .texts import BUILTIN, MERCHANT

LANGS = SUPPORTED  # every language of the desk: each sentence is an English msgid, translated by the catalogs
Text = dict[str, str]  # language -> sentence


@dataclass(slots=True)
class Item:
    rule: str
    source: str
    text: Text


@dataclass(slots=True)
class Section:
    key: str
    title: Text
    items: list[Item] = field(default_factory=list)


def span(period: timedelta) -> Text:
    """A clock in words."""
    hours = int(period.total_seconds() // 3600)
    if hours and hours % 24 == 0:
        days = hours // 24
        return every(N_("{n} day") if days == 1 else N_("{n} days"), n=days)
    return every(N_("{n} hour") if hours == 1 else N_("{n} hours"), n=hours)


def amount(value: Decimal, currency: str) -> str:
    return f"{value.normalize():f} {currency}" if value == value.to_integral() else f"{value:f} {currency}"


def cap(text: Text) -> Text:
    """A fragment that starts a sentence (English capitalises it; scripts without case are unchanged)."""
    return {tag: t[:1].upper() + t[1:] for tag, t in text.items()}


JOINTS = {"list": N_("{first}, {next}"), "clauses": N_("{first}; {next}"), "alternatives": N_("{first} or {next}")}


def join(values, kind: str = "list") -> Text:
    """Values joined in each language ("a, b" / "a、b"); `kind` is list, clauses or alternatives."""
    values = [v if isinstance(v, dict) else {tag: str(v) for tag in LANGS} for v in values]
    joined = values[0]
    for value in values[1:]:
        joined = every(JOINTS[kind], first=joined, next=value)
    return joined



COUNTED = {  # counted_from -> where the window starts
    "signing": N_("from the day after you sign for the parcel"),
    "delivery": N_("from the day you (or someone you name) receive the goods"),
    "shipment": N_("from the day the order is shipped"),
    "order": N_("from the day you place the order"),
}
ANCHORS = {  # clock anchor -> where the clock starts
    "request": N_("from your request"),
    "agreement": N_("from our agreement to the return"),
    "return_dispatched": N_("from when you send the return"),
    "return_received": N_("from when we receive the returned goods"),
    "rejection": N_("from a rejection"),
    "repair_start": N_("from the start of the repair"),
    "order": N_("from the order"),
}
CLOCK_ANCHOR = {"unshipped_refund": "request", "in_transit_refund": "request", "shipped_response": "request",
                "virtual_response": "request", "customer_ship": "agreement",
                "receipt_confirmation": "return_dispatched", "refund": "return_received", "appeal": "rejection",
                "price_protection": "order", "repair": "repair_start"}
CLOCK_TEXT = {  # clock -> sentence with {span} and {anchor}
    "unshipped_refund": N_("If you ask for a refund before we ship, we answer within {span}; if we do not, the "
                           "refund is approved automatically."),
    "in_transit_refund": N_("If you ask for a refund while the parcel is on its way, we answer within {span}; "
                            "if we do not, it is approved automatically."),
    "shipped_response": N_("We answer a return or exchange request within {span}; if we do not, it is approved "
                           "automatically."),
    "virtual_response": N_("For virtual goods we answer within {span}."),
    "customer_ship": N_("Please send the return within {span} {anchor}; after that the request closes."),
    "receipt_confirmation": N_("We confirm the parcel's arrival within {span} {anchor}; if we do not, the refund "
                               "is made automatically."),
    "refund": N_("The refund is made within {span} {anchor}."),
    "appeal": N_("After a rejection you have {span} to revise the request or ask the platform to step in."),
    "price_protection": N_("Price protection: if the price drops within {span} of your order, we refund the "
                           "difference."),
    "repair": N_("A repair is completed within {span}."),
}
STATUTORY_EXCLUSIONS = {
    "cn": ("CN2", N_("Custom-made goods, fresh or perishable goods, audio-visual products and software you have "
                     "unsealed, and delivered newspapers and periodicals cannot be returned without a reason.")),
    "eu": ("EU8", N_("The right of withdrawal does not cover goods made to your specification, perishable goods, "
                     "hygiene-sealed goods you have unsealed, unsealed audio-video recordings or software, and "
                     "newspapers or periodicals.")),
}
CONDITION_WORDS = {"unopened": N_("unopened"), "opened": N_("opened"), "used": N_("used")}


def source_of(policy: Policy, rule: str) -> str:
    found = policy.citations.get(rule) or BUILTIN.get(rule)
    source = found[0] if found else MERCHANT
    return f"{source} {policy.id}" if source == MERCHANT else source


def selectors(rule) -> Text:
    parts = []
    if rule.skus:
        parts.append(every(N_("items {list}"), list=join(sorted(rule.skus))))
    if rule.categories:
        parts.append(every(N_("categories {list}"), list=join(sorted(rule.categories))))
    if rule.tags:
        parts.append(every(N_("items tagged {list}"), list=join(sorted(rule.tags))))
    return join(parts, "clauses") if parts else every(N_("all items"))


def fee_when(rule) -> Text:
    """A fee rule's conditions and grades in words ("" when it names none)."""
    conditions = grades = None
    if rule.conditions:
        conditions = join([every(CONDITION_WORDS[c]) for c in sorted(rule.conditions)], "alternatives")
    if rule.grades:
        grades = every(N_("inspection grade {list}"), list=join(sorted(rule.grades), "alternatives"))
    if conditions and grades:
        conditions = every(N_("{conditions}, {grades}"), conditions=conditions, grades=grades)
    if not (conditions or grades):
        return {tag: "" for tag in LANGS}
    return every(N_(" ({conditions})"), conditions=conditions or grades)


def own(rule, composed: Text) -> Text:
    """A merchant's own wording of a rule (its policy file's `text` table by language, or its older `en`/`zh`) where
    given for a language or its family (zh-TW for zh-Hant), else the composed sentence."""
    given = rule.wording()
    return {tag: given[found] if (found := match(tag, list(given))) else composed[tag] for tag in LANGS}


def item(policy: Policy, rule: str, text: str, /, **params) -> Item:
    """A point of the page: `rule`'s sentence `text` (a msgid) with its params, in every language."""
    return Item(rule, source_of(policy, rule), every(text, **params))
