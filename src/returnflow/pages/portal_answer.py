"""The policy's answer as a shopper reads it: a few plain sentences, the outcomes it allows (others disabled with
the reason why), what happens after sending, and the variants an exchange can pick."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency

from ..actor import Actor
from ..cases import reasons as reason_taxonomy
from ..cases.models import CaseType
from ..errors import AppError
from ..money import from_minor
from ..orders.models import Order
from ..orders.variants import variants_of
from ..assessment.dry_run import DryRunIn, DryRunLine, run_dry
from . import words
from ..i18n import babel_id
from .frame import N_, PageError, gettext, when

# The outcome each case type asks for; a refund is a return unless the reason allows only a refund (nothing sent).
OUTCOME_OF = {"return_refund": "refund", "refund_only": "refund", "exchange": "exchange", "repair": "repair",
              "reship": "reship"}
OUTCOMES = ("refund", "exchange", "repair", "reship")


def money(amount: Decimal, currency: str, locale: str) -> str:
    """An amount in the locale's currency format (zh-CN: ¥899.00)."""
    return format_currency(amount, currency, locale=babel_id(locale))


def reason_types(session, merchant_id: int, reason: str) -> list[str]:
    """The case types the chosen reason may be filed under (all goods types when no reason is given)."""
    if not reason:
        return list(words.PORTAL_TYPES)
    return [t for t in words.PORTAL_TYPES if reason in reason_taxonomy.codes_for(session, merchant_id, t)]


def dry_run(session, actor: Actor, order: Order, case_type: str, choice: dict[str, Any],
            lines: list[tuple[int, int]]) -> dict[str, Any]:
    body = DryRunIn(order=order.number, type=CaseType(case_type), reason=choice["reason"] or None,
                    lines=[DryRunLine(line_no=no, quantity=qty, opened=choice["opened"]) for no, qty in lines])
    return run_dry(session, actor, body)


def _type_for(outcome: str, types: list[str]) -> str | None:
    wanted = ["return_refund", "refund_only"] if outcome == "refund" else [outcome]
    return next((t for t in wanted if t in types), None)


def _reason_line(decision: dict, locale: str) -> str:
    reasons = decision.get("reasons") or []
    return reasons[0].get(locale) or reasons[0].get("en", "") if reasons else ""


def _time(value) -> datetime | None:
    """A time from a live answer (datetime) or a stored decision (ISO 8601 text)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) else None


def _answer_by(answer: dict, locale: str) -> str:
    """When the shop answers at the latest, from the policy's own merchant-response clock ('' when it has none)."""
    dues = []
    asked = _time(answer.get("at") or answer.get("decided_at"))
    for line in answer.get("lines") or []:
        for clock in line["decision"]["deadlines"]:
            if clock["kind"] != "merchant_response":
                continue
            if _time(clock.get("at")):
                dues.append(_time(clock["at"]))
            elif clock.get("period_seconds") and clock.get("anchor") == "request" and asked is not None:
                dues.append(asked + timedelta(seconds=clock["period_seconds"]))
    return when(min(dues), locale) if dues else ""


def next_step_of(record: dict | None, locale: str) -> str:
    """The case page's sentence right after sending: approved, or who decides and by when ('' without a policy)."""
    if not record or not record.get("lines"):
        return ""
    if record.get("verdict") == "approve":
        return gettext(locale, N_("Our policy approved your request as soon as you sent it."))
    return _next_step(record, locale)


def _next_step(answer: dict, locale: str) -> str:
    """One sentence: approved at once, or who reviews it, why, and by when the shop answers."""
    if answer["verdict"] == "approve":
        return gettext(locale, N_("It is approved as soon as you send it."))
    decisions = [line["decision"] for line in answer["lines"]]
    by = _answer_by(answer, locale)
    if answer["verdict"] == "require_approval":
        text = (N_("A supervisor at the shop approves requests of this value and answers by {date}.") if by
                else N_("A supervisor at the shop approves requests of this value and will answer you."))
    elif not all(d["eligible"] for d in decisions):
        text = (N_("Our policy does not cover it, so a person at the shop decides and answers by {date}.") if by
                else N_("Our policy does not cover it, so a person at the shop decides and will answer you."))
    else:
        text = (N_("A person at the shop checks requests like this one and answers by {date}.") if by
                else N_("A person at the shop checks requests like this one and will answer you."))
    return gettext(locale, text).format(date=by)


def options(session, actor: Actor, order: Order, choice: dict[str, Any], lines: list[tuple[int, int]],
            locale: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The answer shown first (for the reason's main type) and one option per outcome, enabled or not."""
    types = reason_types(session, order.merchant_id, choice["reason"])
    runs = {t: dry_run(session, actor, order, t, choice, lines) for t in types}
    main = runs[types[0]] if types else dry_run(session, actor, order, "return_refund", choice, lines)
    rows = []
    for outcome in OUTCOMES:
        case_type = _type_for(outcome, types)
        row = {"outcome": outcome, "type": case_type, "enabled": False, "why": "", "next": ""}
        if case_type is None:
            row["why"] = gettext(locale, N_("Not offered for the reason you chose."))
        else:
            answer = runs[case_type]
            decisions = [line["decision"] for line in answer["lines"]]
            refused = next((d for d in decisions if not d["eligible"]), None)
            if refused is not None:
                row["why"] = _reason_line(refused, locale) or gettext(
                    locale, N_("Our policy does not cover these items."))
            elif not all(outcome in d["outcomes"] for d in decisions):
                offered = sorted({o for d in decisions for o in d["outcomes"]}, key=OUTCOMES.index)
                row["why"] = gettext(locale, N_("For these items our policy offers: {list}.")).format(
                    list=gettext(locale, N_(", ")).join(gettext(locale, words.OUTCOMES[o]) for o in offered))
            else:
                row.update(enabled=True, next=_next_step(answer, locale))
        rows.append(row)
    return main, rows


def summary(answer: dict, currency: str, locale: str) -> list[str]:
    """Two or three plain sentences: covered or not, who pays the return shipping, the refund at most."""
    decisions = [line["decision"] for line in answer["lines"]]
    ok = [d for d in decisions if d["eligible"]]
    if not ok:
        return [gettext(locale, N_("Our policy does not cover this request; you can still ask the shop to look at "
                                   "it."))]
    said = [gettext(locale, N_("Good news: our policy covers this request.") if len(ok) == len(decisions)
                    else N_("Our policy covers some of these items, not all."))]
    said.append(gettext(locale, words.PAYERS[ok[0]["shipping_payer"]]))
    refundable = sum((Decimal(d["refundable"]) for d in ok if "refund" in d["outcomes"]), Decimal(0))
    if refundable > 0:
        said.append(gettext(locale, N_("A refund can be up to {amount}.")).format(
            amount=money(refundable, currency, locale)))
    return said


def reasons(answer: dict, locale: str) -> list[str]:
    """The policy's reasons, in the shopper's language, without rule ids (those stay in staff views)."""
    seen: list[str] = []
    for line in answer["lines"]:
        for reason in line["decision"].get("reasons") or []:
            text = reason.get(locale) or reason.get("en") or ""
            if text and text not in seen:
                seen.append(text)
    return seen


def variant_choices(order: Order, lines: list[tuple[int, int]], locale: str) -> list[dict[str, Any]]:
    """Per requested line that offers variants: each with its words, price, difference and whether it can be had."""
    by_no = {line.line_no: line for line in order.lines}
    result = []
    for no, qty in lines:
        line = by_no.get(no)
        offered = variants_of(line.exchange_variants) if line is not None else []
        if not offered:
            continue
        rows = []
        for v in offered:
            price = int(v.get("price") or 0)
            difference = from_minor(price - line.unit_price, order.currency) * qty
            if difference > 0:
                diff = gettext(locale, N_("you pay {amount} more")).format(
                    amount=money(difference, order.currency, locale))
            elif difference < 0:
                diff = gettext(locale, N_("{amount} back to you")).format(
                    amount=money(-difference, order.currency, locale))
            else:
                diff = gettext(locale, N_("same price"))
            rows.append({"sku": v["sku"], "label": label_of(v), "diff": diff,
                         "price": money(from_minor(price, order.currency), order.currency, locale),
                         "available": int(v.get("available") or 0) >= qty})
        result.append({"line_no": no, "title": line.title or line.sku, "quantity": qty, "variants": rows})
    return result


def label_of(variant: dict) -> str:
    attrs = variant.get("attributes") or {}
    return " · ".join(f"{k} {v}" for k, v in attrs.items()) or variant["sku"]


def check_variants(choice: dict[str, Any], picks: list[dict[str, Any]]) -> None:
    """An exchange names an available variant for every line that offers some (what was typed stays)."""
    for line in picks:
        sku = choice["variants"].get(str(line["line_no"]))
        variant = next((v for v in line["variants"] if v["sku"] == sku), None)
        if variant is None:
            raise PageError("variant_missing", N_("Choose what you would like instead of “{title}”."),
                            field=f"variant_{line['line_no']}", title=line["title"])
        if not variant["available"]:
            raise PageError("variant_sold_out", N_("“{variant}” of “{title}” has just sold out. Please choose "
                                                   "another one."), field=f"variant_{line['line_no']}",
                            status=409, variant=variant["label"], title=line["title"])


def window_closes(session, actor: Actor, order: Order, lines: list[tuple[int, int]], locale: str) -> str:
    """When the order's return window closes, from the policy's own clock for a return without a reason
    ('' when nothing is left to claim or the policy gives no such date)."""
    if not lines:
        return ""
    try:
        answer = dry_run(session, actor, order, "return_refund", {"reason": "", "opened": False}, lines[:1])
    except AppError:
        return ""
    ends = [_time(clock.get("at")) for line in answer["lines"] for clock in line["decision"]["deadlines"]
            if clock["kind"] == "customer_window"]
    ends = [end for end in ends if end is not None]
    return when(max(ends), locale) if ends else ""
