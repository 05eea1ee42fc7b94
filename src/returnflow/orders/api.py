"""Orders pushed by shops, and read back."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from ..cases.service import resolve_merchant
from ..money import fmt
from ..web import DB, CurrentActor, mutate
from . import service
from .models import Order
from .schemas import OrderIn

router = APIRouter(tags=["orders"])
WRITERS = ("agent", "supervisor", "admin", "platform")


def order_dict(order: Order, *, lines: bool = True, claimed: dict[int, int] | None = None) -> dict:
    body = {
        "number": order.number, "currency": order.currency, "goods_total": fmt(order.goods_total, order.currency),
        "discount": fmt(order.discount, order.currency), "shipping_fee": fmt(order.shipping_fee, order.currency),
        "paid_total": fmt(order.paid_total, order.currency),
        "payments": [{"method": p["method"], "amount": fmt(p["amount"], order.currency),
                      "reference": p.get("reference")} for p in order.payments],
        "country": order.country, "ordered_at": order.ordered_at, "shipped_at": order.shipped_at,
        "delivered_at": order.delivered_at, "signed_at": order.signed_at,
    }
    if lines:
        body["lines"] = [{
            "line_no": line.line_no, "sku": line.sku, "title": line.title, "category": line.category,
            "unit_price": fmt(line.unit_price, order.currency), "quantity": line.quantity,
            "delivered_quantity": line.delivered_quantity, "discount": fmt(line.discount, order.currency),
            "paid_amount": fmt(line.paid_amount, order.currency),
            # what a new return may still claim: delivered minus what open or finished cases hold
            "returnable_quantity": max(line.delivered_quantity - (claimed or {}).get(line.id, 0), 0),
        } for line in order.lines]
    return body


@router.post("/orders", status_code=200)
async def push_order(body: OrderIn, actor: CurrentActor, request: Request):
    """Creates or updates an order by its number (never duplicates it)."""
    from ..errors import Forbidden

    if actor.role not in WRITERS:
        raise Forbidden("forbidden_role", role=actor.role, what="push orders", allowed=list(WRITERS))
    record = body.to_record()

    def work(session):
        merchant = resolve_merchant(session, actor, body.merchant)
        service.upsert_orders(session, merchant_id=merchant.id, orders=[record])
        order = service.get_by_number(session, actor=actor, merchant_id=merchant.id, number=record.number)
        session.refresh(order)
        return 200, order_dict(order, claimed=service.claimed_quantities(session, order_id=order.id))

    return await mutate(request, actor, work)


@router.get("/orders")
async def list_orders(actor: CurrentActor, db: DB, customer: str | None = None,
                      limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict:
    """Orders of the actor's merchant, newest first."""
    with db.read() as session:
        rows, total = service.list_orders(session, actor=actor, customer=customer, limit=limit, offset=offset)
        return {"items": [order_dict(o, lines=False) for o in rows], "total": total, "limit": limit,
                "offset": offset}


@router.get("/orders/{number}")
async def get_order(number: str, actor: CurrentActor, db: DB, merchant: str | None = None) -> dict:
    """One order with its lines."""
    with db.read() as session:
        merchant_id = resolve_merchant(session, actor, merchant).id if merchant else None
        order = service.get_by_number(session, actor=actor, merchant_id=merchant_id, number=number)
        return order_dict(order, claimed=service.claimed_quantities(session, order_id=order.id))
