"""Return addresses (the merchant's warehouses that take returns) and routing a case's goods to one of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.store import CaseRecord
from ..errors import Explained
from ..i18n import N_
from ..orders.models import Order, OrderLine
from .carriers import CARRIERS
from .models import ReturnAddress
from .staff import staff_merchant

ADDRESS_FIELDS = ("name", "contact", "phone", "address", "address_en", "postcode", "regions", "categories",
                  "carriers", "is_default", "auto_receive_on_delivery", "active")


def save_address(session: Session, *, actor: Actor, code: str, data: dict[str, Any]) -> ReturnAddress:
    """Creates or updates the merchant's return address `code`."""
    merchant_id = staff_merchant(actor, ("supervisor", "admin"), "manage return addresses")
    for i, carrier in enumerate(data.get("carriers") or []):
        if carrier not in CARRIERS:
            raise Explained(f"carriers[{i}]", N_("unknown carrier '{carrier}'"), carrier=carrier,
                            code="unknown_carrier", allowed=sorted(CARRIERS))
    row = session.scalar(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id,
                                                     ReturnAddress.code == code))
    if row is None:
        row = ReturnAddress(merchant_id=merchant_id, code=code)
        session.add(row)
    for name in ADDRESS_FIELDS:
        if name in data and data[name] is not None:
            setattr(row, name, data[name])
    if row.is_default:
        for other in session.scalars(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id,
                                                                 ReturnAddress.code != code)):
            other.is_default = False
    session.flush()
    return row


def list_addresses(session: Session, *, merchant_id: int) -> list[ReturnAddress]:
    return list(session.scalars(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id)
                                .order_by(ReturnAddress.code)))


def route(session: Session, case: CaseRecord) -> ReturnAddress | None:
    """The warehouse a case's goods go back to: the first active address that takes the lines' categories and
    serves the order's region (most specific first, the default first among equals), else the default address."""
    categories = set(session.scalars(select(OrderLine.category).where(
        OrderLine.id.in_([line.order_line_id for line in case.lines]))).all()) - {None}
    country = session.scalar(select(Order.country).where(Order.id == case.order_id))
    best, best_score = None, -1
    for row in list_addresses(session, merchant_id=case.merchant_id):
        if not row.active:
            continue
        if row.categories and not categories <= set(row.categories):
            continue
        if row.regions and country not in row.regions:
            continue
        # The merchant's default address wins a tie between equally specific ones.
        score = (4 if row.categories else 0) + (2 if row.regions else 0) + (1 if row.is_default else 0)
        if score > best_score:
            best, best_score = row, score
    if best is not None:
        return best
    return session.scalar(select(ReturnAddress).where(ReturnAddress.merchant_id == case.merchant_id,
                                                      ReturnAddress.is_default.is_(True),
                                                      ReturnAddress.active.is_(True)))


def address_dict(row: ReturnAddress) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ("code",) + ADDRESS_FIELDS}
