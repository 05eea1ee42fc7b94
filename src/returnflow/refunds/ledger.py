"""Double-entry finance vouchers (财务凭证) and the customer's balance ledger (store credit, points, coupons)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ..cases import store
from ..cases.service import next_value_statement
from ..i18n import N_
from .models import LedgerEntry, Voucher, VoucherLine
from ..merchants.clock import zone_of

# Account code -> its name. Debit-normal: expenses, returns, cash; credit-normal: liabilities, income.
ACCOUNTS: dict[str, str] = {  # names are msgids of the catalogs (i18n.every for the API)
    "sales_returns": N_("Sales returns"),
    "shipping_expense": N_("Shipping expense"),
    "restocking_income": N_("Restocking fees and deductions"),
    "refund_payable": N_("Refunds payable"),
    "gateway_cash": N_("Cash at payment gateways"),
    "store_credit_liability": N_("Store credit owed to customers"),
    "points_liability": N_("Points owed to customers"),
    "coupon_liability": N_("Coupons owed to customers"),
    "compensation_expense": N_("Compensation expense"),
    "sales_revenue": N_("Sales revenue"),
    "return_postage_expense": N_("Customers' return postage reimbursed"),
}
# Where a refund leg's money goes, by destination.
SETTLEMENT_ACCOUNT = {"gateway": "gateway_cash", "store_credit": "store_credit_liability",
                      "points": "points_liability", "coupon": "coupon_liability"}
# Deductions that recover shipping the merchant paid (CN6) reduce the shipping expense; the rest is income.
SHIPPING_KINDS = frozenset({"shipping", "return_shipping", "free_shipping", "free_shipping_threshold",
                            "outbound_shipping"})
LOCAL = ZoneInfo("Asia/Shanghai")  # the zone of a merchant that set none


class Unbalanced(RuntimeError):
    """A voucher whose debits and credits differ: a bug, never written."""


def period_of(at: datetime, zone: ZoneInfo = LOCAL) -> str:
    """The accounting period (YYYY-MM, in `zone`: the merchant's) of a moment."""
    return at.astimezone(zone).strftime("%Y-%m")


def post(session: Session, *, merchant_id: int, kind: str, currency: str, lines: list[tuple[str, int, int]],
         at: datetime, memo: str = "", case_id: int | None = None, refund_id: int | None = None,
         refund_payment_id: int | None = None, compensation_id: int | None = None) -> str:
    """Writes one balanced voucher with its lines (account, debit, credit); returns its number."""
    lines = [(account, debit, credit) for account, debit, credit in lines if debit or credit]
    for account, debit, credit in lines:
        if account not in ACCOUNTS or debit < 0 or credit < 0:
            raise Unbalanced(f"bad voucher line {account} {debit} {credit}")
    if sum(d for _, d, _ in lines) != sum(c for _, _, c in lines) or not lines:
        raise Unbalanced(f"voucher {kind} does not balance: {lines}")
    period = period_of(at, zone_of(session, merchant_id))
    seq = store.run(session, next_value_statement(session.get_bind().dialect.name),
                    {"name": f"V{merchant_id}:{period}"}).scalar_one()
    number = f"V{period.replace('-', '')}-{merchant_id}-{seq:06d}"
    voucher_id = store.run(session, _INSERT_VOUCHER, {
        "merchant_id": merchant_id, "number": number, "period": period, "kind": kind, "currency": currency,
        "case_id": case_id, "refund_id": refund_id, "refund_payment_id": refund_payment_id,
        "compensation_id": compensation_id, "memo": memo[:300], "created_at": at}).scalar_one()
    store.run(session, insert(VoucherLine.__table__), [
        {"voucher_id": voucher_id, "account": account, "debit": debit, "credit": credit}
        for account, debit, credit in lines])
    return number


_INSERT_VOUCHER = insert(Voucher.__table__).returning(Voucher.__table__.c.id)


def credit(session: Session, *, merchant_id: int, customer_id: int, asset: str, currency: str, amount: int,
           at: datetime, by: str, memo: str = "", refund_payment_id: int | None = None,
           compensation_id: int | None = None) -> None:
    """A movement on the customer's ledger (positive: owed to the customer)."""
    store.run(session, insert(LedgerEntry.__table__), {
        "merchant_id": merchant_id, "customer_id": customer_id, "asset": asset, "currency": currency,
        "amount": amount, "refund_payment_id": refund_payment_id, "compensation_id": compensation_id,
        "memo": memo[:300], "created_by": by, "created_at": at})


def balances(session: Session, *, merchant_id: int, customer_id: int) -> dict[tuple[str, str], int]:
    """(asset, currency) -> balance for one customer."""
    rows = session.execute(select(LedgerEntry.asset, LedgerEntry.currency, func.sum(LedgerEntry.amount))
                           .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.customer_id == customer_id)
                           .group_by(LedgerEntry.asset, LedgerEntry.currency)).all()
    return {(asset, currency): int(total) for asset, currency, total in rows}


def decision_lines(*, goods: int, shipping: int, deductions: list[dict], capped: int, reduced: int,
                   total: int, postage: int = 0) -> list[tuple[str, int, int]]:
    """A refund decided: returns, refunded shipping and the customer's return postage (CN7, its own line) against
    deductions kept and the refund now owed."""
    shipping_back = sum(d["amount"] for d in deductions if d["kind"] in SHIPPING_KINDS)
    other = sum(d["amount"] for d in deductions if d["kind"] not in SHIPPING_KINDS)
    goods_debit, shipping_debit = goods - capped - reduced, shipping
    if goods_debit < 0:  # the cap took more than the goods: the rest comes off the shipping
        shipping_debit += goods_debit
        goods_debit = 0
    return [("sales_returns", goods_debit, 0), ("shipping_expense", shipping_debit, 0),
            ("return_postage_expense", postage, 0),
            ("shipping_expense", 0, shipping_back), ("restocking_income", 0, other), ("refund_payable", 0, total)]
