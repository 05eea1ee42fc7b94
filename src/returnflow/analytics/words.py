"""What the analytics pages call things: durations in days and hours, codes in words, and each report's definition.

The API answers with codes and seconds (machines read them) and each report's definition; the console's tiles and
charts show words in the reader's language, and a CSV keeps numbers under a header that names the unit. Words are
(en, zh-CN) pairs like the reports' titles and columns; types come from the pages' catalog (pages/words.py).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..cases.views import STATE_LABELS
from ..i18n import N_, SUPPORTED
from ..labels import reason_label
from ..pages.frame import gettext
from ..pages.words import ROLES, TYPES
from ..cases.reasons import Reason

FAULTS = {
    "merchant": N_("The shop"),
    "customer": N_("The customer"),
    "carrier": N_("The carrier"),
    "none": N_("No one"),
}
DIRECTIONS = {
    "rising": N_("Rising"),
    "falling": N_("Falling"),
    "flat": N_("Flat"),
}
POINTS_AT = {
    "listing": N_("The listing (fix the description)"),
    "supplier": N_("The supplier (quality)"),
}
# Who decided or inspected, when it was not a person: the policy engine approving by itself, or the system. The
# summary and the events name them by code (their actor's name); the console says "Policy" / "规则" and so on.
MACHINES = ("policy", "system")
REVIEW_GROUPS = {
    "all_buyers": N_("All buyers who reviewed"),
    "returned": N_("Buyers who returned"),
    "not_returned": N_("Buyers who did not return"),
}
FOLLOW_UPS = {
    "open": N_("Not done yet"),
    "(none)": N_("Done, no result recorded"),
}
NONE_WORD = N_("(none)")

# Each report's definition: numerator, denominator, date basis and time zone, as its tile states it under its
# title and the API answers it (`definition`).
DEFINITIONS = {
    "return_rate": N_(
        "Units returned from orders placed in the period ÷ units sold in those orders; orders by their date "
        "in the shop's time zone; cancelled and rejected requests do not count. Sales are product lines of orders "
        "not cancelled (shipping, fees, discounts and adjustments are not sales). Value returned is the amount "
        "credited (the refund paid, the history's credited amount, the credit note's line value); where none is "
        "known the purchase price is used and shown apart. Returns that match no purchase are counted apart as "
        "unmatched."),
    "trend": N_(
        "Per order week, day or month: units returned from the orders placed in it ÷ units sold in them "
        "(shop's time zone, product lines of orders not cancelled), so a rate is never above 100 %. Value returned "
        "is the amount credited (purchase price where unknown, shown apart); unmatched returns are counted apart "
        "by the date of the return."),
    "top_returns": N_(
        "The products with the most value credited for returns from orders placed in the period (product lines "
        "only; the purchase price where no credited amount is known, shown apart). Returns that match no purchase "
        "are listed apart as unmatched."),
    "reasons": N_(
        "Units returned from orders placed in the period, per reason; the share is of all those units."),
    "reasons_by": N_(
        "Units returned from orders placed in the period, per group and reason."),
    "hotspots": N_(
        "Units returned as not as described or for quality ÷ units sold, orders placed in the period."),
    "suppliers": N_(
        "Per supplier: units returned ÷ units sold from orders placed in the period."),
    "processing_times": N_(
        "Time between the steps of cases opened in the period (shop's time zone): median (p50), p90, p95 and "
        "mean, in days and hours."),
    "processing_agents": N_(
        "Time from the request to the decision, per person who decided, cases opened in the period."),
    "processing_warehouse": N_(
        "Time from receiving the parcel to its inspection, per inspector, cases opened in the period."),
    "backlog": N_(
        "Cases open now, per state and time since they were opened; the period does not apply."),
    "customers": N_(
        "Customers with the most return cases on orders placed in the period, with the signals that deserve a"
        " look."),
    "money": N_(
        "Refunds decided, compensation given and store credit issued in the period, per bucket (shop's time "
        "zone) and reason."),
    "sla": N_(
        "Deadlines started in the period: met ÷ (met + breached) is the compliance; queues are as of now."),
    "satisfaction": N_(
        "Survey answers given in the period: average score (1–5) and the share scoring 4 or 5. Buyers' reviews "
        "of the period (imported ratings 1–5) compare the buyers who returned (a return, refund-only or exchange "
        "case on that order or another order of the same customer) with all buyers who reviewed."),
}


def duration(seconds, locale: str = "en") -> str:
    """Seconds in days and hours: '2 d 5 h', '36 h', '45 min' ('2天5小时', '36小时', '45分钟'); '–' for none.

    Under an hour in minutes, under two days in whole hours, from two days on in days and hours (rounded to the
    hour), so a reader compares at a glance.
    """
    if seconds is None or seconds == "":
        return "–"
    s = int(Decimal(str(seconds)).to_integral_value(ROUND_HALF_UP))
    sign, s = ("-" if s < 0 else ""), abs(s)
    if s < 3600:
        minutes = int((Decimal(s) / 60).to_integral_value(ROUND_HALF_UP))
        if minutes == 0 and s:
            return sign + gettext(locale, N_("< 1 min"))
        return sign + gettext(locale, N_("{n} min")).format(n=minutes)
    hours = int((Decimal(s) / 3600).to_integral_value(ROUND_HALF_UP))
    if hours < 48:
        return sign + gettext(locale, N_("{n} h")).format(n=hours)
    d, h = divmod(hours, 24)
    if h:
        return sign + gettext(locale, N_("{d} d {h} h")).format(d=d, h=h)
    return sign + gettext(locale, N_("{d} d")).format(d=d)


def reason_names(session: Session, merchant_ids: tuple[int, ...] | None) -> dict[str, dict[str, str]]:
    """{code: {language: label}} of the reasons in scope, in every language of the desk (along the fallback
    chain): the merchant's own labels over the defaults."""
    stmt = select(Reason).where(Reason.merchant_id.is_(None))
    if merchant_ids:
        stmt = select(Reason).where(or_(Reason.merchant_id.is_(None), Reason.merchant_id.in_(merchant_ids)))
    out: dict[str, dict[str, str]] = {}
    for row in sorted(session.scalars(stmt), key=lambda r: r.merchant_id is not None):
        out[row.code] = {tag: reason_label(row, tag) for tag in SUPPORTED}
    return out


def _table(table: dict[str, str], key, locale: str) -> str:
    return gettext(locale, table[key]) if key in table else str(key)


def _pick(value, locale: str) -> str:
    return str(value.get(locale) or value.get("en") or "")


def _satisfaction_key(row: dict, locale: str, reasons: dict) -> str:
    key, dimension = row.get("key"), row.get("dimension")
    if dimension == "overall":
        return gettext(locale, N_("All answers"))
    if dimension == "follow_up":
        return _table(FOLLOW_UPS, key, locale)
    if dimension == "reviews":
        return _table(REVIEW_GROUPS, key, locale)
    if dimension in ("step", "outcome") and key in STATE_LABELS:
        return _pick(STATE_LABELS[key], locale)
    if dimension == "outcome" and key in TYPES:
        return gettext(locale, TYPES[key])
    if dimension == "agent" and key in MACHINES:
        return gettext(locale, ROLES[key])
    if key == "(none)":
        return gettext(locale, NONE_WORD)
    return str(key)


def code_word(report: str, column: str, row: dict, locale: str, reasons: dict[str, dict[str, str]]) -> str | None:
    """The words for a code cell of `report`'s `column`, or None when the cell is not a code."""
    value = row.get(column)
    if column in ("reason", "cause") and isinstance(value, str):
        if value in reasons:
            return _pick(reasons[value], locale)
        if isinstance(row.get("label"), dict):
            return _pick(row["label"], locale)
        return gettext(locale, NONE_WORD) if value == "(none)" else value
    if column in ("step", "state") and isinstance(row.get("label"), dict):
        return _pick(row["label"], locale)
    if column == "state" and value in STATE_LABELS:
        return _pick(STATE_LABELS[value], locale)
    if column == "fault" and value is not None:
        return _table(FAULTS, value, locale)
    if column == "direction":
        return _table(DIRECTIONS, value, locale)
    if column == "points_at":
        return _table(POINTS_AT, value, locale)
    if column == "dimension" and isinstance(row.get("dimension_label"), dict):
        return _pick(row["dimension_label"], locale)
    if column == "key" and report == "satisfaction":
        return _satisfaction_key(row, locale, reasons)
    if column == "who" and value in MACHINES:
        return gettext(locale, ROLES[value])
    return None


# Columns a tile leaves out because another column already says it in words.
HIDDEN = {("reasons", "label"), ("reasons_by", "label"), ("sla", "label"), ("backlog", "label")}


def definition(report: str, locale: str) -> str:
    return gettext(locale, DEFINITIONS[report]) if report in DEFINITIONS else ""
