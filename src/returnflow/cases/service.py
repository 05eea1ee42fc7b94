"""Case use cases: open, find, list, act — each inside the caller's transaction, scoped to the actor's merchant."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..auth.actor import Actor
from ..auth.models import User
from ..config import get_settings
from ..db import utcnow
from ..errors import Forbidden, InvalidInput, NotFound
from ..merchants.models import Merchant
from ..orders.models import Customer, Order, OrderLine
from . import reasons as reason_taxonomy
from .models import Case, CaseEvent, CaseLine, CaseState, CaseType, NumberSequence
from .schemas import CaseCreate
from .workflow import fire, record_event, returnable_quantity

GOODS_TYPES = {CaseType.REFUND_ONLY, CaseType.RETURN_REFUND, CaseType.EXCHANGE, CaseType.REPAIR, CaseType.RESHIP}
RETURN_BY_DEFAULT = {CaseType.RETURN_REFUND, CaseType.EXCHANGE, CaseType.REPAIR}


def next_number(session: Session, *, now: datetime | None = None) -> str:
    """A new unique case number, e.g. AS2611240001 (prefix, local date, daily sequence)."""
    settings = get_settings()
    local = (now or utcnow()).astimezone(ZoneInfo("Asia/Shanghai"))
    name = f"{settings.case_number_prefix}{local:%y%m%d}"
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(NumberSequence).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": NumberSequence.value + 1})
    value = session.execute(stmt.returning(NumberSequence.value)).scalar_one()
    return f"{name}{value:04d}"


def resolve_merchant(session: Session, actor: Actor, code: str | None) -> Merchant:
    """The merchant an action is for: the actor's own, or the one a platform actor names."""
    if actor.merchant_id is not None:
        merchant = session.get(Merchant, actor.merchant_id)
        if code is not None and merchant is not None and code != merchant.code:
            raise Forbidden("forbidden_merchant", field="merchant")
        assert merchant is not None
        return merchant
    if not code:
        raise InvalidInput("merchant_required", field="merchant")
    merchant = session.scalar(select(Merchant).where(Merchant.code == code))
    if merchant is None:
        raise NotFound("merchant", code, field="merchant")
    return merchant


def open_case(session: Session, *, actor: Actor, data: CaseCreate, created_at: datetime | None = None) -> Case:
    """Opens a case against an order, checking lines, quantities and the reason; numbers it at once."""
    merchant = resolve_merchant(session, actor, data.merchant)
    order = session.scalar(select(Order).where(Order.merchant_id == merchant.id, Order.number == data.order))
    if order is None:
        raise NotFound("order", data.order, field="order")
    if actor.kind == "customer" and order.customer_id != actor.customer_id:
        raise NotFound("order", data.order, field="order")

    allowed_reasons = {r.code: r for r in reason_taxonomy.for_merchant(session, merchant.id)}
    for_type = [code for code, r in allowed_reasons.items() if not r.case_types or data.type.value in r.case_types]
    if data.reason is not None and data.reason not in for_type:
        raise InvalidInput("unknown_reason", field="reason", reason=data.reason, allowed=for_type)

    if data.type in GOODS_TYPES and not data.lines:
        raise InvalidInput("lines_required", field="lines", type=data.type.value)

    order_lines = _lock_lines(session, order.id)
    by_no = {line.line_no: line for line in order_lines}
    chosen: list[tuple[OrderLine, int, str | None]] = []
    seen: set[int] = set()
    for index, item in enumerate(data.lines):
        if item.line_no is not None:
            line = by_no.get(item.line_no)
            if line is None or (item.sku is not None and line.sku != item.sku):
                raise InvalidInput("line_not_in_order", field=f"lines[{index}].line_no", index=index,
                                   order=order.number, line=item.line_no)
        else:
            candidates = [line for line in order_lines if line.sku == item.sku and line.id not in seen]
            if not candidates:
                raise InvalidInput("sku_not_in_order", field=f"lines[{index}].sku", index=index,
                                   order=order.number, sku=item.sku)
            line = candidates[0]
        if line.id in seen:
            raise InvalidInput("duplicate_line", field=f"lines[{index}]", index=index, line=line.line_no)
        seen.add(line.id)
        if item.reason is not None and item.reason not in for_type:
            raise InvalidInput("unknown_reason", field=f"lines[{index}].reason", reason=item.reason, allowed=for_type)
        if line.delivered_quantity <= 0 and data.type not in (CaseType.REFUND_ONLY, CaseType.RESHIP):
            raise InvalidInput("not_delivered", field=f"lines[{index}]", index=index, sku=line.sku)
        limit = line.delivered_quantity if data.type not in (CaseType.REFUND_ONLY, CaseType.RESHIP) else line.quantity
        claimed = line.delivered_quantity - returnable_quantity(session, line.id)
        available = limit - claimed
        if item.quantity > available:
            raise InvalidInput("quantity_exceeds", field=f"lines[{index}].quantity", index=index,
                               requested=item.quantity, available=max(available, 0), sku=line.sku,
                               delivered=limit, claimed=claimed)
        chosen.append((line, item.quantity, item.reason))

    needs_return = data.needs_return if data.needs_return is not None else data.type in RETURN_BY_DEFAULT
    now = created_at or utcnow()
    case = Case(
        merchant_id=merchant.id, number=next_number(session, now=now), order_id=order.id,
        customer_id=order.customer_id, type=data.type.value, channel=data.channel.value,
        state=CaseState.PENDING_REVIEW.value, reason_code=data.reason, description=data.description,
        desired_outcome=data.desired_outcome, advance=data.advance and data.type == CaseType.EXCHANGE,
        needs_return=needs_return, currency=order.currency, external_ref=data.external_ref,
        claimed_amount=sum(line.unit_price * qty for line, qty, _ in chosen),
        created_by=actor.ref, created_at=now, updated_at=now,
        lines=[CaseLine(order_line_id=line.id, quantity=qty, reason_code=reason) for line, qty, reason in chosen],
    )
    session.add(case)
    session.flush()
    record_event(session, case, "open", actor, None, {
        "type": case.type, "channel": case.channel, "reason": case.reason_code,
        "lines": [{"line_no": line.line_no, "sku": line.sku, "quantity": qty} for line, qty, _ in chosen]})
    return case


def _lock_lines(session: Session, order_id: int) -> list[OrderLine]:
    """The order's lines, locked in id order on PostgreSQL so two openings cannot both claim the last unit."""
    stmt = select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))


def scoped(stmt: Select, actor: Actor) -> Select:
    """Restricts a case query to what the actor may see (its merchant; a customer: their own cases)."""
    if actor.merchant_id is not None:
        stmt = stmt.where(Case.merchant_id == actor.merchant_id)
    if actor.kind == "customer":
        stmt = stmt.where(Case.customer_id == actor.customer_id)
    return stmt


def get_case(session: Session, *, actor: Actor, number: str, for_update: bool = False) -> Case:
    """The case `number`, if the actor may see it; otherwise 404 (never reveals other merchants' cases)."""
    stmt = scoped(select(Case).where(Case.number == number), actor).options(selectinload(Case.lines))
    case = session.scalar(stmt)
    if case is None:
        raise NotFound("case", number, field="number")
    return case


def act(session: Session, *, actor: Actor, number: str, action: str, version: int, payload: dict) -> Case:
    """Fires `action` on the case, as the actor, if the case is still at `version`."""
    case = get_case(session, actor=actor, number=number)
    if action == "assign":
        _check_assignee(session, case, payload.get("assignee_id"))
    fire(session, case, action, actor, payload=payload, expected_version=version)
    return case


def _check_assignee(session: Session, case: Case, assignee_id) -> None:
    if assignee_id is None or not isinstance(assignee_id, int):
        return
    user = session.get(User, assignee_id)
    if user is None or not user.active or user.merchant_id != case.merchant_id:
        raise InvalidInput("assignee_invalid", field="payload.assignee_id", assignee=assignee_id)


def list_cases(session: Session, *, actor: Actor, state: list[str] | None = None, type: str | None = None,
               channel: str | None = None, assignee_id: int | None = None, order: str | None = None,
               customer: str | None = None, created_from: datetime | None = None,
               created_to: datetime | None = None, q: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[Case], int]:
    """Cases the actor may see, filtered and paged, newest first."""
    stmt = scoped(select(Case), actor)
    if state:
        stmt = stmt.where(Case.state.in_(state))
    if type:
        stmt = stmt.where(Case.type == type)
    if channel:
        stmt = stmt.where(Case.channel == channel)
    if assignee_id is not None:
        stmt = stmt.where(Case.assignee_id == assignee_id)
    if created_from:
        stmt = stmt.where(Case.created_at >= created_from)
    if created_to:
        stmt = stmt.where(Case.created_at < created_to)
    if order:
        stmt = stmt.where(Case.order_id.in_(select(Order.id).where(Order.number == order)))
    if customer:
        stmt = stmt.where(Case.customer_id.in_(select(Customer.id).where(Customer.external_id == customer)))
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(
            Case.number.ilike(like), Case.description.ilike(like), Case.external_ref.ilike(like),
            Case.order_id.in_(select(Order.id).where(Order.number.ilike(like))),
            Case.customer_id.in_(select(Customer.id).where(or_(
                Customer.external_id.ilike(like), Customer.name.ilike(like), Customer.email.ilike(like),
                Customer.phone.ilike(like)))),
        ))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.options(selectinload(Case.lines))
                           .order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def timeline(session: Session, *, case: Case) -> list[CaseEvent]:
    """The case's events in order."""
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))

