"""Orders pushed by shops, and read back (the orders' HTTP API: above cases, since an order's lines show what
cases still leave returnable)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .merchants.scope import resolve_merchant
from .i18n import N_
from .money import fmt
from .web import DB, CurrentActor, mutate
from .orders import service
from .orders.contacts import region_of
from .orders.models import Order
from .orders.categories import CategoryIn, category_dict, list_for, check_code, save
from .orders.schemas import OrderIn
from .orders.variants import as_api
from .cases.service import claimed_quantities
from .errors import Forbidden, Explained, NotFound
from .db import utcnow
from .orders.signed import rotate, verify
from .merchants.models import Merchant

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
        "delivered_at": order.delivered_at, "signed_at": order.signed_at, "paid_at": order.paid_at,
        "shipping_insurance": order.shipping_insurance,
        "free_shipping_threshold": (fmt(order.free_shipping_threshold, order.currency)
                                    if order.free_shipping_threshold is not None else None),
        "shipping_cost": fmt(order.shipping_cost, order.currency) if order.shipping_cost is not None else None,
        "standard_shipping_fee": (fmt(order.standard_shipping_fee, order.currency)
                                  if order.standard_shipping_fee is not None else None),
    }
    if lines:
        body["lines"] = [{
            "line_no": line.line_no, "sku": line.sku, "title": line.title, "category": line.category,
            "unit_price": fmt(line.unit_price, order.currency), "quantity": line.quantity,
            "delivered_quantity": line.delivered_quantity, "discount": fmt(line.discount, order.currency),
            "paid_amount": fmt(line.paid_amount, order.currency), "gift": line.gift,
            "final_sale_confirmed": line.final_sale_confirmed, "image_url": line.image_url,
            "variants": as_api(line.exchange_variants, order.currency),
            "delivered_at": line.delivered_at, "signed_at": line.signed_at,
            "serial_numbers": line.serial_numbers or [],
            # what a new return may still claim: delivered minus what open or finished cases hold
            "returnable_quantity": max(line.delivered_quantity - (claimed or {}).get(line.id, 0), 0),
        } for line in order.lines]
    return body


@router.post("/orders", status_code=200)
async def push_order(body: OrderIn, actor: CurrentActor, request: Request):
    """Creates or updates an order by its number (never duplicates it)."""
    if actor.role not in WRITERS:
        raise Forbidden("forbidden_role", role=actor.role, what="push orders", allowed=list(WRITERS))

    def work(session):
        merchant = resolve_merchant(session, actor, body.merchant)
        record = body.to_record(region_of(merchant))
        service.upsert_orders(session, merchant_id=merchant.id, orders=[record])
        order = service.get_by_number(session, actor=actor, merchant_id=merchant.id, number=record.number)
        session.refresh(order)
        return 200, order_dict(order, claimed=claimed_quantities(session, order_id=order.id))

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
        return order_dict(order, claimed=claimed_quantities(session, order_id=order.id))


# ---- product categories and their legal attributes ---------------------------------------------------------------

CATEGORY_EDITORS = ("supervisor", "admin", "platform")


@router.get("/categories", tags=["categories"])
async def list_categories(actor: CurrentActor, db: DB, merchant: str | None = None) -> dict:
    """The merchant's product categories with the legal attributes the policy reads and the inspection checklist."""
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        return {"items": [category_dict(c) for c in list_for(session, m.id)]}


@router.put("/categories/{code}", tags=["categories"])
async def put_category(code: str, body: CategoryIn, actor: CurrentActor, request: Request):
    """Creates or replaces a category's names and attributes (supervisors, admins). Cases already opened keep the
    decision they were opened with; new requests are decided with the new attributes."""
    if actor.role not in CATEGORY_EDITORS:
        raise Forbidden("forbidden_role", role=actor.role, what="change product categories",
                        allowed=list(CATEGORY_EDITORS))
    check_code(code)

    def work(session):
        merchant = resolve_merchant(session, actor, body.merchant)
        return 200, category_dict(save(session, merchant.id, code, body))

    return await mutate(request, actor, work)


# ---- orders by signed webhook --------------------------------------------------------------------------------

@router.post("/order-signing-secret", status_code=201)
async def rotate_signing_secret(actor: CurrentActor, request: Request, merchant: str | None = None):
    """Creates (or replaces) the secret a shop platform signs pushed orders with; shown once, here."""
    if actor.role not in ("admin", "platform"):
        raise Forbidden("forbidden_role", role=actor.role, what="manage the order signing secret",
                        allowed=["admin", "platform"])

    def work(session):
        m = resolve_merchant(session, actor, merchant)
        return 201, {"merchant": m.code, "secret": rotate(session, m.id, utcnow()),
                     "url": f"/api/v1/orders/signed/{m.code}"}

    return await mutate(request, actor, work)


@router.post("/orders/signed/{merchant_code}", status_code=200)
async def push_signed_order(merchant_code: str, request: Request):
    """The body of POST /api/v1/orders, signed (X-Returnflow-Timestamp, X-Returnflow-Signature: sha256=HMAC of
    "<timestamp>." + body with the merchant's secret; X-Returnflow-Delivery optional). Forged or stale: 401;
    replayed: 409; nothing is written."""
    raw = await request.body()
    headers = request.headers
    try:
        with request.app.state.db.transaction() as session:
            merchant = session.scalar(select(Merchant).where(Merchant.code == merchant_code))
            if merchant is None:
                raise NotFound("merchant", merchant_code)
            verify(session, merchant.id, timestamp=headers.get("x-returnflow-timestamp"),
                   signature=headers.get("x-returnflow-signature"), delivery=headers.get("x-returnflow-delivery"),
                   body=raw, now=utcnow())
            try:
                body = OrderIn.model_validate_json(raw)
            except ValidationError as exc:
                raise RequestValidationError(exc.errors()) from None
            if body.merchant not in (None, merchant.code):
                raise Explained("merchant", N_("A signed push is for the shop in its address only."),
                                code="merchant_mismatch")
            record = body.to_record(region_of(merchant))
            service.upsert_orders(session, merchant_id=merchant.id, orders=[record])
            order = session.scalar(select(Order).where(Order.merchant_id == merchant.id,
                                                       Order.number == record.number))
            session.refresh(order)
            return order_dict(order, claimed=claimed_quantities(session, order_id=order.id))
    except IntegrityError:
        raise Explained(None, N_("This push was already received: it is not applied twice."), code="push_replayed",
                        status=409) from None
