"""Return addresses (the merchant's warehouses that take returns) and routing a case's goods to one of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..caches import CACHES, changed
from ..batch_reads import per_case
from ..cases.store import CASES, LINES as CASE_LINES, CaseRecord, run
from ..errors import Explained
from ..i18n import N_
from ..orders.models import Order, OrderLine
from ..prepared import prepared
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
    changed(session, "return_addresses", merchant_id)
    return row


def list_addresses(session: Session, *, merchant_id: int) -> list[ReturnAddress]:
    return list(session.scalars(select(ReturnAddress).where(ReturnAddress.merchant_id == merchant_id)
                                .order_by(ReturnAddress.code)))


@dataclass(frozen=True)
class Address:
    """A return address as routing, the return instructions and pickups read it (kept per process in the
    `return_addresses` cache; the row itself is changed only through save_address)."""

    id: int
    code: str
    name: str
    contact: str
    phone: str
    address: str
    address_en: str
    postcode: str
    regions: tuple[str, ...]
    categories: tuple[str, ...]
    carriers: tuple[str, ...]
    is_default: bool
    auto_receive_on_delivery: bool
    active: bool


def addresses(session: Session, merchant_id: int) -> tuple[Address, ...]:
    """The merchant's return addresses in code order; remembered until an address is saved (in any process)."""
    def build() -> tuple[Address, ...]:
        return tuple(Address(id=r.id, code=r.code, name=r.name, contact=r.contact or "", phone=r.phone or "",
                             address=r.address, address_en=r.address_en or "", postcode=r.postcode or "",
                             regions=tuple(r.regions or ()), categories=tuple(r.categories or ()),
                             carriers=tuple(r.carriers or ()), is_default=bool(r.is_default),
                             auto_receive_on_delivery=bool(r.auto_receive_on_delivery), active=bool(r.active))
                     for r in list_addresses(session, merchant_id=merchant_id))

    return CACHES["return_addresses"].get(session, merchant_id, build, scope=merchant_id)


# The order's country and the categories of the case's lines, in one statement (no line: the country alone). By the
# case's id (a case is routed once its lines are written); an IN list of line ids would be compiled anew each time.
_FACTS = prepared(select(Order.country, OrderLine.category).select_from(Order).outerjoin(
    CASE_LINES, CASE_LINES.c.case_id == bindparam("case_id")).outerjoin(
    OrderLine, and_(OrderLine.id == CASE_LINES.c.order_line_id, OrderLine.order_id == Order.id)).where(
    Order.id == bindparam("order_id")))
# The same for the cases of a derivation batch (returnflow/batch_reads.py).
_FACTS_OF_CASES = prepared(select(CASES.c.id, Order.country, OrderLine.category).select_from(CASES).join(
    Order, Order.id == CASES.c.order_id).outerjoin(CASE_LINES, CASE_LINES.c.case_id == CASES.c.id).outerjoin(
    OrderLine, and_(OrderLine.id == CASE_LINES.c.order_line_id, OrderLine.order_id == Order.id)).where(
    CASES.c.id.in_(bindparam("ids", expanding=True))))
_NO_FACTS = (None, frozenset())


def _facts(session: Session, case: CaseRecord) -> tuple[str | None, frozenset[str]]:
    """(country, categories) of the case, read once per transaction (a request may route a case several times:
    the policy's approval, its guard, the parcel's shipment); in a derivation batch, for all its cases at once."""
    return per_case(session, "rf_route_facts", case, lambda one: _facts_of(session, one),
                    lambda cases: _facts_of_cases(session, cases), key=_facts_key)


def _facts_key(case: CaseRecord) -> tuple:
    return case.id, case.order_id, tuple(sorted(line.order_line_id for line in case.lines))


def _facts_of(session: Session, case: CaseRecord) -> tuple[str | None, frozenset[str]]:
    rows = run(session, _FACTS, {"order_id": case.order_id, "case_id": case.id}).all()
    country = rows[0][0] if rows else None
    return country, frozenset(r[1] for r in rows if r[1] is not None)


def _facts_of_cases(session: Session, cases: list[CaseRecord]) -> dict[int, tuple[str | None, frozenset[str]]]:
    countries: dict[int, str | None] = {}
    categories: dict[int, set[str]] = {}
    for case_id, country, category in run(session, _FACTS_OF_CASES, {"ids": [case.id for case in cases]}):
        countries[case_id] = country
        if category is not None:
            categories.setdefault(case_id, set()).add(category)
    return {case.id: (countries[case.id], frozenset(categories.get(case.id, ()))) if case.id in countries
            else _NO_FACTS for case in cases}


def route_id(session: Session, case: CaseRecord) -> int | None:
    """The id of the warehouse a case's goods go back to (see `route`)."""
    found = route(session, case)
    return found.id if found is not None else None


def route(session: Session, case: CaseRecord) -> Address | None:
    """The warehouse a case's goods go back to: the first active address that takes the lines' categories and
    serves the order's region (most specific first, the default first among equals), else the default address."""
    country, categories = _facts(session, case)
    best, best_score, default = None, -1, None
    for row in addresses(session, case.merchant_id):
        if not row.active:
            continue
        if row.is_default and default is None:
            default = row
        if row.categories and not categories <= set(row.categories):
            continue
        if row.regions and country not in row.regions:
            continue
        # The merchant's default address wins a tie between equally specific ones.
        score = (4 if row.categories else 0) + (2 if row.regions else 0) + (1 if row.is_default else 0)
        if score > best_score:
            best, best_score = row, score
    return best if best is not None else default


def address_dict(row: ReturnAddress) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ("code",) + ADDRESS_FIELDS}
