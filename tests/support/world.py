"""Builders for test data, written through the product's own services (no hand-written rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from returnflow.actor import Actor
from returnflow.auth.service import create_user, issue_token
from returnflow.db import Database
from returnflow.logistics.addresses import save_address
from returnflow.merchants.models import Merchant
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders

ROLES = ("agent", "warehouse", "finance", "supervisor", "admin")


@dataclass
class Shop:
    """A merchant with one staff member per role, their tokens and actors."""

    id: int
    code: str
    tokens: dict[str, str] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)

    def headers(self, role: str = "agent", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


def make_shop(db: Database, code: str = "shop", currency: str = "CNY", *, return_address: bool = True) -> Shop:
    """A shop; with `return_address` it has a default return address, as a case needing the goods back is only
    approved with one."""
    with db.transaction() as session:
        merchant = Merchant(code=code, name=f"Shop {code}", default_currency=currency)
        session.add(merchant)
        session.flush()
        shop = Shop(id=merchant.id, code=code)
        for role in ROLES:
            user = create_user(session, email=f"{role}@{code}.test", name=f"{role} of {code}", role=role,
                               merchant_id=merchant.id, password="pw-" + role)
            shop.tokens[role] = issue_token(session, user=user)
            shop.user_ids[role] = user.id
            shop.actors[role] = Actor(kind="staff", role=role, merchant_id=merchant.id, user_id=user.id,
                                      name=user.name)
        if return_address:
            save_address(session, actor=shop.actors["admin"], code="MAIN", data={
                "name": f"Returns desk {code}", "contact": "Desk", "phone": "021-00000000",
                "address": "上海市浦东新区示例路 1 号", "postcode": "200000", "is_default": True})
    return shop


def platform_token(db: Database, email: str = "platform@test") -> tuple[str, Actor]:
    with db.transaction() as session:
        user = create_user(session, email=email, name="platform", role="platform", merchant_id=None)
        return issue_token(session, user=user), Actor(kind="staff", role="platform", user_id=user.id,
                                                      name="platform")


def make_order(db: Database, shop: Shop, number: str = "O-1", *, lines=(("SKU-A", "100.00", 2), ("SKU-B", "35.50", 1)),
               currency: str = "CNY", customer: str = "C-1", delivered: bool = True,
               category: str = "general", when: datetime | None = None, risk: str | None = None,
               **facts) -> str:
    """An order placed at `when` (default 2026-11-01 10:00 UTC), shipped a day and delivered three days later;
    `facts` are further OrderRecord fields (shipping_insurance, free_shipping_threshold, ...)."""
    from decimal import Decimal

    from returnflow.money import to_minor

    when = when or datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
    record = OrderRecord(
        number=number, currency=currency,
        customer=CustomerRecord(external_id=customer, name=f"Customer {customer}", email=f"{customer}@example.com",
                                risk=risk),
        ordered_at=when, shipped_at=when + timedelta(days=1),
        delivered_at=when + timedelta(days=3) if delivered else None,
        lines=[LineRecord(line_no=i + 1, sku=sku, title=f"Item {sku}", category=category,
                          unit_price=to_minor(Decimal(price), currency), quantity=qty,
                          delivered_quantity=qty if delivered else 0)
               for i, (sku, price, qty) in enumerate(lines)], **facts)
    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[record])
    return number
