"""Property: for random orders, discounts and partial returns over several cases in random order, through the API,
the sum refunded never exceeds what was paid (per line, per payment, per order), and the books balance."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from returnflow.orders.models import Order, OrderLine
from returnflow.refunds.models import LedgerEntry, Refund, RefundLine, RefundPayment, VoucherLine
from tests.support.money import paid_order, refund_only_case
from tests.support.world import make_shop

COUNTER = itertools.count()


def test_random_partial_refunds_over_several_cases_never_exceed_what_was_paid(client, db):
    shop = make_shop(db)
    headers = shop.headers("admin")  # no approval limit: the property is about amounts, not authority
    finance = shop.headers("finance")

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(st.tuples(st.integers(1, 99_999), st.integers(1, 4)), min_size=1, max_size=3),
           discount_share=st.integers(0, 100), shipping=st.integers(0, 2_000), points_share=st.integers(0, 60),
           data=st.data())
    def run(lines, discount_share, shipping, points_share, data):
        n = next(COUNTER)
        number, customer = f"H-{n}", f"HC-{n}"
        goods = sum(p * q for p, q in lines)
        discount = goods * discount_share // 100
        paid_total = goods - discount + shipping
        points = paid_total * points_share // 100
        paid_order(db, shop, number, lines=[(f"S{i}", str(Decimal(p) / 100), q) for i, (p, q) in enumerate(lines)],
                   discount=str(Decimal(discount) / 100), shipping=str(Decimal(shipping) / 100),
                   payments=(("alipay", None), ("points", str(Decimal(points) / 100))), customer=customer)
        left = {i + 1: q for i, (_, q) in enumerate(lines)}
        while any(left.values()):
            line_no = data.draw(st.sampled_from([k for k, v in left.items() if v]))
            qty = data.draw(st.integers(1, left[line_no]))
            left[line_no] -= qty
            case = refund_only_case(db, shop, number, line_no=line_no, quantity=qty)
            line_id = client.get(f"/api/v1/cases/{case}", headers=headers).json()["lines"][0]["id"]
            over = client.post(f"/api/v1/cases/{case}/refunds", headers=headers,
                               json={"lines": [{"case_line_id": line_id, "quantity": qty + 1}]})
            assert over.status_code == 422
            body = {"refund_shipping": data.draw(st.booleans()), "deductions": [
                {"case_line_id": line_id, "kind": "restocking_fee", "currency": "CNY",
                 "amount": str(Decimal(data.draw(st.integers(0, 500))) / 100)}]}
            r = client.post(f"/api/v1/cases/{case}/refunds", headers=headers, json=body)
            if r.status_code == 422:  # a deduction or the caps left nothing to refund
                assert r.json()["error"]["code"] == "nothing_to_refund"
                continue
            assert r.status_code == 201, r.text
            for leg in r.json()["payments"]:
                if leg["state"] == "pending":
                    paid = client.post(f"/api/v1/refund-payments/{leg['number']}/mark-paid", headers=finance,
                                       json={"reference": f"B-{leg['number']}"})
                    assert paid.status_code == 200, paid.text
            assert client.get(f"/api/v1/cases/{case}", headers=headers).json()["state"] == "resolved"
        _check(db, number)

    run()


def _check(db, number: str) -> None:
    with db.read() as s:
        order = s.scalar(select(Order).where(Order.number == number))
        refunds = s.scalars(select(Refund).where(Refund.order_id == order.id)).all()
        ids = [r.id for r in refunds]
        assert sum(r.amount for r in refunds) <= order.paid_total
        assert sum(r.shipping_amount for r in refunds) <= order.shipping_fee
        legs = s.scalars(select(RefundPayment).where(RefundPayment.refund_id.in_(ids))).all() if ids else []
        assert all(leg.state == "succeeded" for leg in legs)
        assert sum(leg.amount for leg in legs) == sum(r.amount for r in refunds)
        by_method: dict[str, int] = {}
        for leg in legs:
            by_method[leg.method] = by_method.get(leg.method, 0) + leg.amount
        for payment in order.payments:
            assert by_method.get(payment["method"], 0) <= payment["amount"]
        for line in s.scalars(select(OrderLine).where(OrderLine.order_id == order.id)):
            got = s.scalar(select(func.coalesce(func.sum(RefundLine.gross), 0)).where(
                RefundLine.order_line_id == line.id, RefundLine.refund_id.in_(ids))) if ids else 0
            assert got <= line.paid_amount
        points = s.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.refund_payment_id.in_([leg.id for leg in legs]))) if legs else 0
        assert points == by_method.get("points", 0)
        debit, credit = s.execute(select(func.sum(VoucherLine.debit), func.sum(VoucherLine.credit))).one()
        assert debit == credit
