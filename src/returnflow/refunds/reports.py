"""Voucher listings and CSV export per period, the reconciliation report, refund views."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.models import Case
from ..db import utcnow
from ..errors import Forbidden
from ..flows import histories
from ..money import fmt, to_minor
from ..sheets import row as safe_row
from . import ledger
from .grants import COMPENSATORS, compensate, compensation_dict  # noqa: F401  (their former home)
from .models import GatewayWebhook, Refund, RefundLine, RefundPayment, Voucher, VoucherLine
from .money_flows import REFUND_PAYMENT
from .refusal import refuse
from ..i18n import N_, every
from ..merchants.clock import zone_of

FINANCE_READERS = ("finance", "supervisor", "admin", "platform")
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_period(period: str) -> str:
    if not PERIOD.match(period or ""):
        raise refuse("period", N_("'{period}' is not a period; use YYYY-MM, e.g. 2026-11"), period=period)
    return period


def _merchant_filter(stmt, model, actor: Actor):
    return stmt.where(model.merchant_id == actor.merchant_id) if actor.merchant_id is not None else stmt


def local_stamp(at, zone) -> tuple[str, str]:
    """A voucher's date and time as the shop reads them: ("2026-12-01", "01:30 +08:00") in `zone`."""
    local = at.astimezone(zone)
    offset = local.strftime("%z")
    return local.date().isoformat(), f"{local:%H:%M} {offset[:3]}:{offset[3:]}"


def vouchers(session: Session, *, actor: Actor, period: str) -> list[dict]:
    """The period's vouchers with their lines, in number order. The period is the merchant's month (a voucher's
    period is fixed in the merchant's time zone when it is posted), and `date`/`time` are in that zone too."""
    if actor.role not in FINANCE_READERS:
        raise Forbidden("forbidden_role", role=actor.role, what="read vouchers", allowed=list(FINANCE_READERS))
    check_period(period)
    rows = session.scalars(_merchant_filter(select(Voucher).where(Voucher.period == period), Voucher, actor)
                           .order_by(Voucher.id)).all()
    lines: dict[int, list] = {}
    if rows:
        for line in session.scalars(select(VoucherLine).where(VoucherLine.voucher_id.in_([v.id for v in rows]))
                                    .order_by(VoucherLine.id)):
            lines.setdefault(line.voucher_id, []).append(line)
    cases = dict(session.execute(select(Case.id, Case.number).where(
        Case.id.in_({v.case_id for v in rows if v.case_id}))).all()) if rows else {}
    refunds = dict(session.execute(select(Refund.id, Refund.number).where(
        Refund.id.in_({v.refund_id for v in rows if v.refund_id}))).all()) if rows else {}
    zones: dict[int, object] = {}

    def stamp(v: Voucher) -> tuple[str, str]:
        if v.merchant_id not in zones:
            zones[v.merchant_id] = zone_of(session, v.merchant_id)
        return local_stamp(v.created_at, zones[v.merchant_id])

    return [{"number": v.number, "period": v.period, "kind": v.kind, "currency": v.currency,
             "case": cases.get(v.case_id), "refund": refunds.get(v.refund_id), "memo": v.memo,
             "created_at": v.created_at, **dict(zip(("date", "time"), stamp(v))),
             "lines": [{"account": line.account, "account_name": every(ledger.ACCOUNTS[line.account]),
                        "debit": fmt(line.debit, v.currency), "credit": fmt(line.credit, v.currency)}
                       for line in lines.get(v.id, [])]} for v in rows]


def totals(items: list[dict]) -> list[dict]:
    """The period's debits and credits per currency and account (what the CSV's lines add up to), account order."""
    sums: dict[tuple[str, str], list[int]] = {}
    for v in items:
        for line in v["lines"]:
            pair = sums.setdefault((v["currency"], line["account"]), [0, 0])
            pair[0] += to_minor(line["debit"], v["currency"])
            pair[1] += to_minor(line["credit"], v["currency"])
    order = list(ledger.ACCOUNTS)
    return [{"currency": c, "account": a, "account_name": every(ledger.ACCOUNTS[a]),
             "debit": fmt(d, c), "credit": fmt(k, c)}
            for (c, a), (d, k) in sorted(sums.items(), key=lambda x: (x[0][0], order.index(x[0][1])))]


# `date` and `time` are the shop's (its time zone; the time with its UTC offset), exactly as the screen shows them.
CSV_HEADER = ["voucher", "date", "time", "kind", "account", "account_zh", "debit", "credit", "currency", "case",
              "refund", "memo"]


def vouchers_csv(items: list[dict]) -> str:
    """One row per voucher line (UTF-8 with BOM so spreadsheet software reads the Chinese names)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for v in items:
        for line in v["lines"]:
            writer.writerow(safe_row([v["number"], v["date"], v["time"], v["kind"], line["account"],
                                      line["account_name"]["zh-CN"], line["debit"], line["credit"], v["currency"],
                                      v["case"] or "", v["refund"] or "", v["memo"]]))
    return out.getvalue()


def reconciliation(session: Session, *, actor: Actor, period: str) -> dict:
    """Gateway confirmations against settlement vouchers: what matches, and every mismatch with its reason."""
    if actor.role not in FINANCE_READERS:
        raise Forbidden("forbidden_role", role=actor.role, what="read the reconciliation",
                        allowed=list(FINANCE_READERS))
    check_period(period)
    settled = {v.refund_payment_id: v for v in session.scalars(_merchant_filter(
        select(Voucher).where(Voucher.kind == "refund_settlement", Voucher.period == period), Voucher, actor))}
    amounts = dict(session.execute(select(VoucherLine.voucher_id, func.sum(VoucherLine.debit)).where(
        VoucherLine.voucher_id.in_([v.id for v in settled.values()])).group_by(VoucherLine.voucher_id)).all()) \
        if settled else {}
    legs = session.scalars(_merchant_filter(select(RefundPayment).where(
        RefundPayment.destination == "gateway"), RefundPayment, actor)).all()
    confirmations = {}
    for hook in session.scalars(select(GatewayWebhook).where(GatewayWebhook.outcome == "applied",
                                                             GatewayWebhook.status == "refund.succeeded")):
        confirmations[hook.refund_payment_id] = hook
    matched, mismatches, totals = 0, [], {}
    stale = utcnow() - timedelta(days=1)
    zone = zone_of(session, actor.merchant_id)
    for leg in legs:
        voucher = settled.get(leg.id)
        if leg.state == "succeeded" and voucher is not None:
            confirmed = confirmations.get(leg.id)
            problems = []
            if amounts.get(voucher.id) != leg.amount:
                problems.append("voucher amount differs from the refund")
            if leg.gateway == "http" and confirmed is None and not leg.provider_ref:
                problems.append("no gateway confirmation")
            if confirmed is not None and (confirmed.amount, confirmed.currency) != (leg.amount, leg.currency):
                problems.append("confirmed amount differs")
            if leg.gateway == "manual" and not leg.reference:
                problems.append("no payment reference")
            if problems:
                mismatches.append({"refund_payment": leg.number, "problems": problems})
            else:
                matched += 1
                totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount
        elif leg.state == "succeeded" and voucher is None and leg.settled_at and \
                ledger.period_of(leg.settled_at, zone) == period:
            mismatches.append({"refund_payment": leg.number, "problems": ["paid but no settlement voucher"]})
        elif leg.state == "sent" and leg.sent_at and leg.sent_at < stale:
            mismatches.append({"refund_payment": leg.number, "problems": ["sent over a day ago, no outcome yet"]})
    for hook in session.scalars(select(GatewayWebhook).where(GatewayWebhook.outcome == "rejected")
                                .order_by(GatewayWebhook.id)):
        if ledger.period_of(hook.received_at, zone) == period:
            mismatches.append({"webhook": hook.event_id, "gateway": hook.gateway, "problems": [hook.reason]})
    return {"period": period, "matched": matched,
            "matched_totals": {c: fmt(a, c) for c, a in totals.items()}, "mismatches": mismatches}


def refund_dict(session: Session, refund: Refund) -> dict:
    c = refund.currency
    legs = session.scalars(select(RefundPayment).where(RefundPayment.refund_id == refund.id)
                           .order_by(RefundPayment.id)).all()
    events = histories(session, REFUND_PAYMENT.kind, [leg.id for leg in legs])
    lines = session.scalars(select(RefundLine).where(RefundLine.refund_id == refund.id)
                            .order_by(RefundLine.id)).all()
    deductions = {d["case_line_id"]: d["deductions"] for d in refund.breakdown.get("lines", [])}
    return {
        "number": refund.number, "state": refund.state, "route": refund.route, "currency": c,
        "amount": fmt(refund.amount, c), "goods": fmt(refund.goods_amount, c),
        "shipping": fmt(refund.shipping_amount, c), "deducted": fmt(refund.deducted_amount, c),
        "capped": fmt(refund.capped_amount, c), "reduced": fmt(refund.breakdown.get("reduced", 0), c),
        "postage": fmt(refund.breakdown.get("postage", 0), c),
        "consent": refund.consent, "note": refund.note, "requested_by": refund.requested_by,
        "approved_by": refund.approved_by, "created_at": refund.created_at, "updated_at": refund.updated_at,
        "lines": [{"case_line_id": x.case_line_id, "quantity": x.quantity, "gross": fmt(x.gross, c),
                   "deducted": fmt(x.deducted, c), "net": fmt(x.net, c),
                   "deductions": [{"kind": d["kind"], "rule": d["rule"], "amount": fmt(d["amount"], c)}
                                  for d in deductions.get(x.case_line_id, [])]} for x in lines],
        "payments": [{"number": leg.number, "method": leg.method, "destination": leg.destination,
                      "gateway": leg.gateway, "amount": fmt(leg.amount, c), "state": leg.state,
                      "attempt": leg.attempt, "provider_ref": leg.provider_ref, "reference": leg.reference,
                      "last_error": leg.last_error, "history": events[leg.id], "settled_at": leg.settled_at}
                     for leg in legs],
    }


def case_refunds(session: Session, case_id: int) -> list[dict]:
    """The refunds of a case, oldest first (shown in the case detail)."""
    return [refund_dict(session, r) for r in session.scalars(select(Refund).where(Refund.case_id == case_id)
                                                              .order_by(Refund.id))]
