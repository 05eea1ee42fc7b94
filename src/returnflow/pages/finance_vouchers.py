"""Finance's vouchers of a period: the merchant's month (its time zone), each voucher with the shop's date and time,
the period's totals per account, and the CSV of the same lines with the same dates (`refunds.reports`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..db import utcnow
from ..errors import AppError
from ..refunds import ledger, reports
from .console import ctx, error_of, screen_actor
from .frame import N_, locale_of, render, gettext
from ..merchants.clock import zone_of

router = APIRouter(include_in_schema=False)
VOUCHER_KINDS = {"refund_decision": N_("Refund decided"), "refund_settlement": N_("Refund paid"),
                 "compensation": N_("Compensation"), "balance_spent": N_("Balance spent"),
                 "customer_charge": N_("Charge to the customer")}


def _period(request: Request, actor, period: str) -> str:
    """The asked period, else the merchant's current month (in its time zone)."""
    period = period.strip()[:7]
    if period:
        return period
    with request.app.state.db.read() as session:
        return ledger.period_of(utcnow(), zone_of(session, actor.merchant_id))


@router.get("/staff/finance/vouchers")
async def vouchers(request: Request, period: str = ""):
    actor = screen_actor(request, "finance")
    period = _period(request, actor, period)
    error, items = None, []
    try:
        with request.app.state.db.read() as session:
            items = reports.vouchers(session, actor=actor, period=period)
    except AppError as exc:
        error = error_of(request, exc)
        if error.get("field") == "period":
            error = {"field": "period", "message": _bad_period(request, period)}
    locale = locale_of(request)
    for v in items:
        for line in v["lines"]:
            line["name"] = line["account_name"].get(locale) or line["account"]
    totals = reports.totals(items)
    for t in totals:
        t["name"] = t["account_name"].get(locale) or t["account"]
    return render(request, "staff/finance/vouchers.html",
                  ctx(actor, period=period, items=items, totals=totals, error=error, voucher_kinds=VOUCHER_KINDS),
                  status=422 if error else 200)


def _bad_period(request: Request, period: str) -> str:
    return gettext(locale_of(request), N_("Period: “{period}” is not a month; pick one, e.g. 2026-11.")).format(
        period=period)


@router.get("/staff/finance/vouchers.csv")
async def vouchers_csv(request: Request, period: str = ""):
    actor = screen_actor(request, "finance")
    period = _period(request, actor, period)
    with request.app.state.db.read() as session:
        body = reports.vouchers_csv(reports.vouchers(session, actor=actor, period=period))
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="vouchers-{period}.csv"'})
