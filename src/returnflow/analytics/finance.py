"""Money: refunds, deductions, shipping refunded, compensation and store credit issued, by period and cause.

What the money module records (refunds/models.py) is read as it stands, in integer minor units per currency:
- refunds decided in the period (`refunds.created_at`), not rejected: how many, the amount decided, the part paid
  out (state `completed`), the goods and shipping parts and the deductions;
- compensation given in the period (`compensations.created_at`, applied ones), coupons and credit;
- store credit issued in the period: positive `customer_ledger` entries of asset `store_credit` (refunds to the
  balance and credit compensations; spending is negative and not issued).
The cause is the case's reason. Rows are per period bucket, cause and currency; totals per currency.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from ..i18n import N_
from ..money import fmt
from ..refunds.models import Compensation, LedgerEntry, Refund, RefundPayment
from .base import NONE_KEY, bucket_range, c, label, period_keys
from .filters import Filters
from .process import case_conditions
from .report import Column, Report, defines
from .sql import period_bucket, row_by_row

r = Refund.__table__
rp = RefundPayment.__table__
cp = Compensation.__table__
le = LedgerEntry.__table__

TITLE = N_("Money: refunds, deductions, shipping, compensation, store credit")
MEASURES = ("refunds", "refunded", "paid", "goods", "shipping", "deductions", "compensations", "compensation",
            "store_credit")
MONEY_MEASURES = ("refunded", "paid", "goods", "shipping", "deductions", "compensation", "store_credit")
COLUMNS = [
    Column("period", "Period", "期间"), Column("cause", "Cause (reason)", "原因"), Column("currency", "Currency", "币种"),
    Column("refunds", "Refunds", "退款笔数", "int"), Column("refunded", "Refunded", "退款金额", "money"),
    Column("paid", "Paid out", "已退出", "money"), Column("goods", "Goods part", "商品部分", "money"),
    Column("shipping", "Shipping refunded", "退运费", "money"), Column("deductions", "Deductions", "扣款", "money"),
    Column("compensations", "Compensations", "补偿笔数", "int"), Column("compensation", "Compensation", "补偿金额", "money"),
    Column("store_credit", "Store credit issued", "发放储值", "money"),
]


def _scope(f: Filters, merchant_col, at_col) -> list:
    conds = [at_col >= f.start, at_col < f.end]
    conds += f.merchant_in(merchant_col)
    return conds


def _case_slices(f: Filters) -> list:
    """Slices on goods, reason, country or channel apply to the case behind each amount."""
    return case_conditions(f.with_(merchant_ids=None), period=False) if f.slices else []


def money_cases(f: Filters, cause: str | None):
    """The ids of the cases behind a money row: a refund (not rejected) or a compensation in the period."""
    refunds = select(r.c.case_id).where(r.c.state != "rejected", *_scope(f, r.c.merchant_id, r.c.created_at))
    comps = select(cp.c.case_id).where(*_scope(f, cp.c.merchant_id, cp.c.created_at))
    credit = (select(func.coalesce(select(r.c.case_id).where(r.c.id == rp.c.refund_id).scalar_subquery(),
                                   cp.c.case_id))
              .select_from(le.outerjoin(rp, rp.c.id == le.c.refund_payment_id)
                           .outerjoin(cp, cp.c.id == le.c.compensation_id))
              .where(le.c.asset == "store_credit", le.c.amount > 0, *_scope(f, le.c.merchant_id, le.c.created_at)))
    conds = [or_(c.c.id.in_(refunds), c.c.id.in_(comps), c.c.id.in_(credit)), *_case_slices(f)]
    if cause is not None:
        conds.append(c.c.reason_code.is_(None) if cause == NONE_KEY else c.c.reason_code == cause)
    return conds


@defines("money", TITLE, chart="bar")
def money(session: Session, f: Filters) -> Report:
    """Refunds, deductions, shipping refunded, compensation and store credit per period bucket and cause."""
    sums: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    slices = _case_slices(f)

    def add(rows, names):
        for period, cause, currency, *values in rows:
            s = sums[(period, label(cause), currency)]
            for name, value in zip(names, values, strict=True):
                s[name] += int(value or 0)

    b = period_bucket(r.c.created_at, f)
    refunds = (select(b, c.c.reason_code, r.c.currency, func.count(r.c.id),
                      func.sum(r.c.amount), func.sum(case((r.c.state == "completed", r.c.amount), else_=0)),
                      func.sum(r.c.goods_amount), func.sum(r.c.shipping_amount), func.sum(r.c.deducted_amount))
               .select_from(r.join(c, c.c.id == r.c.case_id))
               .where(r.c.state != "rejected", *_scope(f, r.c.merchant_id, r.c.created_at), *slices)
               .group_by(b, c.c.reason_code, r.c.currency))
    with row_by_row(session):
        add(session.execute(refunds), ("refunds", "refunded", "paid", "goods", "shipping", "deductions"))
    b = period_bucket(cp.c.created_at, f)
    comps = (select(b, c.c.reason_code, cp.c.currency, func.count(cp.c.id),
                    func.sum(cp.c.amount))
             .select_from(cp.join(c, c.c.id == cp.c.case_id))
             .where(cp.c.state == "applied", *_scope(f, cp.c.merchant_id, cp.c.created_at), *slices)
             .group_by(b, c.c.reason_code, cp.c.currency))
    add(session.execute(comps), ("compensations", "compensation"))
    case_of_entry = func.coalesce(r.c.case_id, cp.c.case_id)
    credit_from = (le.outerjoin(rp, rp.c.id == le.c.refund_payment_id).outerjoin(r, r.c.id == rp.c.refund_id)
                   .outerjoin(cp, cp.c.id == le.c.compensation_id).outerjoin(c, c.c.id == case_of_entry))
    b = period_bucket(le.c.created_at, f)
    credit = (select(b, c.c.reason_code, le.c.currency, func.sum(le.c.amount))
              .select_from(credit_from)
              .where(le.c.asset == "store_credit", le.c.amount > 0, *_scope(f, le.c.merchant_id, le.c.created_at),
                     *slices).group_by(b, c.c.reason_code, le.c.currency))
    add(session.execute(credit), ("store_credit",))

    order = {key: i for i, key in enumerate(period_keys(f))}
    rows, totals = [], {}
    for (period, cause, currency), s in sorted(sums.items(), key=lambda kv: (order.get(kv[0][0], 0), -kv[1]["refunded"],
                                                                           kv[0][1], kv[0][2])):
        first, last = bucket_range(period, f.granularity)
        first, last = max(first, f.first_day.isoformat()), min(last, f.last_day.isoformat())
        rows.append({"period": period, "cause": cause, "currency": currency,
                     **{k: fmt(v, currency) if k in MONEY_MEASURES else v for k, v in s.items()},
                     "drill": {"from": first, "to": last, "source": "money", "cause": cause}})
        t = totals.setdefault(currency, dict.fromkeys(MEASURES, 0))
        for k, v in s.items():
            t[k] += v
    by_cause: dict[tuple, int] = defaultdict(int)
    for (_period, cause, currency), s in sums.items():
        by_cause[(cause, currency)] += s["refunded"]
    chart = [{"label": f"{cause} ({cur})", "value": fmt(v, cur)}
             for (cause, cur), v in sorted(by_cause.items(), key=lambda kv: (-kv[1], kv[0]))]
    note = N_("Refunds are counted when decided (not rejected); 'paid out' is the part completed. Compensation and "
              "store credit are counted when given. The cause is the case's reason.")
    return Report("money", TITLE, COLUMNS, rows, note=note if rows else None,
                  totals={cur: {k: fmt(v, cur) if k in MONEY_MEASURES else v for k, v in t.items()}
                          for cur, t in sorted(totals.items())},
                  extra={"chart": chart}).finish()
