"""Case use cases: open, find, list, act — each inside the caller's transaction, scoped to the actor's merchant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..auth.models import User
from ..config import get_settings
from ..prepared import prepared, run as prepared_run
from ..db import utcnow
from ..errors import InvalidInput, NotFound
from ..merchants.clock import zone_of
from ..orders.models import Customer, Order, OrderLine
from ..policy import service as policy_service
from . import reasons as reason_taxonomy, search, store
from .models import Case, CaseEvent, CaseLine, CaseState, CaseType, Channel, NumberSequence
from .schemas import CaseCreate
from .store import CaseLineRecord, CaseRecord, Contact, Context, append_event, insert_case
from .variants import chosen_variants
from .side_effects import write_side_effects
from .guards import NO_ADDRESS, return_address_routable
from .workflow import fire
from ..i18n import every
from ..merchants.scope import merchant_of
from .ports import PORTS, Requested

GOODS_TYPES = {CaseType.REFUND_ONLY, CaseType.RETURN_REFUND, CaseType.EXCHANGE, CaseType.REPAIR, CaseType.RESHIP}
RETURN_BY_DEFAULT = {CaseType.RETURN_REFUND, CaseType.EXCHANGE, CaseType.REPAIR}
scoped = store.scope


def next_number(session: Session, *, now: datetime | None = None, merchant_id: int | None = None) -> str:
    """A new unique case number, e.g. AS2611240001 (prefix, the date on the merchant's clock, daily sequence)."""
    return next_numbers(session, [now or utcnow()], merchant_id=merchant_id)[0]


def next_numbers(session: Session, times: list[datetime], *, merchant_id: int | None = None) -> list[str]:
    """New unique case numbers for cases opened at these times, in this order: what next_number gives one case
    after the other, with one statement per day (the day's counter moves on by that day's count at once)."""
    prefix = get_settings().case_number_prefix
    zone = zone_of(session, merchant_id)
    names = [f"{prefix}{at.astimezone(zone):%y%m%d}" for at in times]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # The day's counter is one row every opening updates: take the numbers in a transaction of its own, so the
        # row is locked for a moment and not for the whole opening (policy, timers, notices). A case whose opening
        # then fails leaves a gap in the day's numbers; numbers stay unique.
        with bind.engine.connect() as own:
            last = _take_values(own, "postgresql", counts)
            own.commit()
    else:
        # SQLite has one writer, already held by this transaction: a second transaction would wait for it.
        last = _take_values(session.connection(), bind.dialect.name, counts)
    numbers = []
    for name in reversed(names):  # each day's numbers end at its counter's new value
        numbers.append(f"{name}{last[name]:04d}")
        last[name] -= 1
    return numbers[::-1]


def _take_values(connection, dialect: str, counts: dict[str, int]) -> dict[str, int]:
    """Moves each day's counter on by its count; {day: its new value}."""
    return {name: prepared_run(connection, _counted_statement(dialect), {"name": name, "count": count}).scalar_one()
            for name, count in counts.items()}


@lru_cache
def next_value_statement(dialect: str):
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING: one statement, safe under concurrency on both databases."""
    insert = _dialect_insert(dialect)
    stmt = insert(NumberSequence).values(name=bindparam("name"), value=1)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": NumberSequence.value + 1})
    return stmt.returning(NumberSequence.value)


@lru_cache
def _counted_statement(dialect: str):
    """next_value_statement moving the counter `name` on by `count` at once."""
    insert = _dialect_insert(dialect)
    stmt = insert(NumberSequence).values(name=bindparam("name"), value=bindparam("count"))
    stmt = stmt.on_conflict_do_update(index_elements=["name"],
                                      set_={"value": NumberSequence.value + stmt.excluded.value})
    return prepared(stmt.returning(NumberSequence.value), dialect)


def _dialect_insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def open_case(session: Session, *, actor: Actor, data: CaseCreate, created_at: datetime | None = None,
              preset: str | None = None) -> CaseRecord:
    """Opens a case against an order, checking lines, quantities and the reason; numbers it at once. `preset`: decide
    it under this shipped preset instead of the merchant's policy (a marketplace's request follows its rules)."""
    merchant_id, merchant_code = merchant_of(session, actor, data.merchant)
    order = store.run(session, _order_statement(), {"merchant_id": merchant_id, "number": data.order}).first()
    if order is None or (actor.kind == "customer" and order.customer_id != actor.customer_id):
        raise NotFound("order", data.order, field="order")

    check_reasons(session, merchant_id, data.type, data.reason, data.lines)
    if data.type in GOODS_TYPES and not data.lines:
        raise InvalidInput("lines_required", field="lines", type=data.type.value)

    order_lines = _lines_with_claims(session, order.id) if data.lines else []
    pairs = match_lines(order.number, order_lines, data.lines, data.type)
    chosen = case_lines(pairs, chosen_variants(data.type, pairs, order.currency))

    now = created_at or utcnow()
    # The policy decides every goods request as it is opened; imported history was decided long ago.
    assessment = None
    if pairs and data.channel != Channel.IMPORT:
        policy_row, policy = (None, policy_service.compile_preset(preset)) if preset else \
            policy_service.active(session, merchant_id)
        assessment = PORTS.assess(session, merchant_id=merchant_id, policy_row=policy_row, policy=policy,
                            preset=None if policy_row else policy.id, order=order, order_lines=order_lines,
                            requested=[Requested(line, item.quantity, item.reason, item.opened, item.used,
                                                 serial_number=item.serial_number)
                                       for line, item in pairs],
                            case_type=data.type.value, case_reason=data.reason, now=now)
    case = new_case(actor=actor, data=data, merchant_id=merchant_id, merchant_code=merchant_code, order=order,
                    lines=chosen, number=next_number(session, now=now, merchant_id=merchant_id), now=now,
                    assessment=assessment)
    insert_case(session, case)
    payload = opening_payload(case)
    verdict = assessment.verdict if assessment is not None else None
    if assessment is not None:
        payload["policy"] = _policy_note(assessment)
        if verdict == "approve" and case.needs_return and not return_address_routable(session, case):
            # The policy would approve, but the shopper could not be told where to send the goods: staff review
            # it, told why, once an address is set up.
            verdict = None
            payload["held"] = every(NO_ADDRESS)
    event = append_event(session, case, action="open", actor=actor, source=None, at=now, payload=payload)
    write_side_effects(session, case, event)
    if verdict in ("approve", "require_approval"):
        # The policy acts through the normal transition, as its own actor, citing its rules.
        fire(session, case, verdict, Actor(kind="policy", role="policy", merchant_id=merchant_id,
                                                      name="policy"),
             payload=_policy_note(assessment), at=now)
    return case


def case_lines(pairs: list[tuple], variants: list[dict | None]) -> list[CaseLineRecord]:
    """The lines of a new case: each requested line (match_lines' pairs) with the variant chosen for it."""
    return [CaseLineRecord(id=0, order_line_id=line.id, quantity=item.quantity, reason_code=item.reason,
                           received_quantity=0, accepted_quantity=0, inspection={}, line_no=line.line_no,
                           sku=line.sku, title=line.title, unit_price=line.unit_price, variant=variant)
            for (line, item), variant in zip(pairs, variants)]


def new_case(*, actor: Actor, data: CaseCreate, merchant_id: int, merchant_code: str, order, lines: list,
             number: str, now: datetime, assessment=None) -> CaseRecord:
    """The record of a case being opened on `order` (a row of ORDER_TO_OPEN with the opening's context), not yet
    written: open_case writes it, a batch of imported cases writes many (cases/batch.py)."""
    needs_return = data.needs_return if data.needs_return is not None else data.type in RETURN_BY_DEFAULT
    if data.needs_return is None and assessment is not None and assessment.keep_items:
        needs_return = False  # the policy lets the customer keep the goods (e.g. under a value)
    customer = None
    if order.customer_id is not None:
        customer = {"id": order.external_id, "name": order.name, "email": order.email, "locale": order.locale}
    return CaseRecord(
        id=0, merchant_id=merchant_id, number=number, order_id=order.id,
        customer_id=order.customer_id, type=data.type.value, channel=data.channel.value,
        state=CaseState.PENDING_REVIEW.value, reason_code=data.reason, description=data.description,
        desired_outcome=data.desired_outcome, advance=data.advance and data.type == CaseType.EXCHANGE,
        needs_return=needs_return, holds_quantity=True, outcome=None, assignee_id=None, escalation_level=0,
        reopen_count=0, external_ref=data.external_ref, currency=order.currency,
        claimed_amount=sum(line.unit_price * line.quantity for line in lines), version=1, created_by=actor.ref,
        created_at=now, updated_at=now, closed_at=None,
        policy_version=assessment.policy_version if assessment else None,
        policy_decision=assessment.record if assessment else None,
        lines=lines, order_number=order.number, merchant_code=merchant_code, customer=customer,
        context=Context(chain_head=None, webhooks=bool(order.webhooks),
                        contact=Contact(order.email, order.phone, order.locale, order.channels,
                                        order.wechat_openid)
                        if order.external_id is not None else None))


def opening_payload(case: CaseRecord) -> dict:
    """The payload of a new case's `open` event (before the policy's note)."""
    return {"type": case.type, "channel": case.channel, "reason": case.reason_code,
            "lines": [{"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity} for line in case.lines]}


def _policy_note(assessment) -> dict:
    """What the timeline shows of a policy decision: the verdict, its rules and a sentence in every language."""
    return {"verdict": assessment.verdict, "policy_version": assessment.policy_version,
            "rule_ids": assessment.record["rule_ids"], **assessment.record["summary"]}


def check_reasons(session: Session, merchant_id: int, case_type: CaseType, reason: str | None, items) -> None:
    """Refuses a case reason or line reason the merchant does not offer for this case type."""
    if reason is None and all(item.reason is None for item in items):
        return
    for_type = reason_taxonomy.codes_for(session, merchant_id, case_type.value)
    if reason is not None and reason not in for_type:
        raise InvalidInput("unknown_reason", field="reason", reason=reason, allowed=for_type)
    for index, item in enumerate(items):
        if item.reason is not None and item.reason not in for_type:
            raise InvalidInput("unknown_reason", field=f"lines[{index}].reason", reason=item.reason,
                               allowed=for_type)


def match_lines(order_number: str, order_lines, items, case_type: CaseType) -> list[tuple]:
    """Pairs each requested line (by line_no or SKU) with its order line, refusing unknown and duplicate lines,
    undelivered goods and quantities beyond what is still claimable; `order_lines` carry `claimed`."""
    by_no = {line.line_no: line for line in order_lines}
    goods_back = case_type not in (CaseType.REFUND_ONLY, CaseType.RESHIP)
    seen: set[int] = set()
    pairs = []
    for index, item in enumerate(items):
        if item.line_no is not None:
            line = by_no.get(item.line_no)
            if line is None or (item.sku is not None and line.sku != item.sku):
                raise InvalidInput("line_not_in_order", field=f"lines[{index}].line_no", index=index,
                                   order=order_number, line=item.line_no)
        else:
            line = next((x for x in order_lines if x.sku == item.sku and x.id not in seen), None)
            if line is None:
                raise InvalidInput("sku_not_in_order", field=f"lines[{index}].sku", index=index,
                                   order=order_number, sku=item.sku)
        if line.id in seen:
            raise InvalidInput("duplicate_line", field=f"lines[{index}]", index=index, line=line.line_no)
        seen.add(line.id)
        if line.delivered_quantity <= 0 and goods_back:
            raise InvalidInput("not_delivered", field=f"lines[{index}]", index=index, sku=line.sku)
        # Goods coming back are limited by what was delivered; a refund-only or reship by what was ordered.
        limit = line.delivered_quantity if goods_back else line.quantity
        available = limit - line.claimed
        if item.quantity > available:
            raise InvalidInput("quantity_exceeds", field=f"lines[{index}].quantity", index=index,
                               requested=item.quantity, available=max(available, 0), sku=line.sku,
                               delivered=limit, claimed=line.claimed)
        pairs.append((line, item))
    return pairs


def lines_with_claims(session: Session, order_id: int):
    """The order's lines with what open cases already claim of each, without locking (for reads)."""
    return store.run(session, _LINES_WITH_CLAIMS, {"order_id": order_id}).all()


def _lines_with_claims(session: Session, order_id: int):
    """The order's lines with what open cases already claim of each; locked on PostgreSQL so two openings
    cannot both take the last unit (SQLite's single writer already serialises them)."""
    if session.get_bind().dialect.name == "postgresql":
        store.run(session, _LOCK_LINES, {"order_id": order_id})
    return store.run(session, _LINES_WITH_CLAIMS, {"order_id": order_id}).all()


_ORDER_FACTS = (select(Order.id, Order.number, Order.customer_id, Order.currency, Customer.external_id, Customer.name,
                       Customer.email, Customer.locale, Customer.risk, Order.goods_total, Order.ordered_at,
                       Order.imported_at, Order.paid_at, Order.shipped_at, Order.delivered_at, Order.signed_at,
                       Order.shipping_insurance, Order.free_shipping_threshold, Order.shipping_cost, Order.payments)
                .outerjoin(Customer, Customer.id == Order.customer_id))
ORDER_TO_OPEN = _ORDER_FACTS.where(Order.merchant_id == bindparam("merchant_id"), Order.number == bindparam("number"))


def _with_context(stmt):
    """What the opening's side effects need besides the order (see store.Context)."""
    return stmt.add_columns(Customer.phone, Customer.channels, Customer.wechat_openid,
                            store.has_webhooks(bindparam("merchant_id")).label("webhooks"))


@lru_cache
def _order_statement():
    """ORDER_TO_OPEN with what the opening's side effects need (see store.Context), built on first use."""
    return prepared(_with_context(ORDER_TO_OPEN))


@lru_cache
def orders_to_open():
    """_order_statement for the merchant's orders `numbers` at once (a batch of openings, cases/batch.py)."""
    return _with_context(_ORDER_FACTS.where(Order.merchant_id == bindparam("merchant_id"),
                                            Order.number.in_(bindparam("numbers", expanding=True))))


_LOCK_LINES = (select(OrderLine.id).where(OrderLine.order_id == bindparam("order_id")).order_by(OrderLine.id)
               .with_for_update())
_CLAIMED = (select(func.coalesce(func.sum(CaseLine.quantity), 0))
            .join(Case, Case.id == CaseLine.case_id)
            .where(CaseLine.order_line_id == OrderLine.id, Case.holds_quantity.is_(True))
            .correlate(OrderLine).scalar_subquery())
_LINE_COLUMNS = (OrderLine.id, OrderLine.line_no, OrderLine.sku, OrderLine.title, OrderLine.unit_price,
                 OrderLine.quantity, OrderLine.delivered_quantity)
_LINE_FACTS = (OrderLine.category, OrderLine.paid_amount, OrderLine.gift, OrderLine.final_sale_confirmed,
               OrderLine.delivered_at, OrderLine.signed_at, OrderLine.serial_numbers, OrderLine.exchange_variants,
               OrderLine.image_url)
_LINES_WITH_CLAIMS = prepared(select(*_LINE_COLUMNS, _CLAIMED.label("claimed"), *_LINE_FACTS)
                              .where(OrderLine.order_id == bindparam("order_id")).order_by(OrderLine.id))
_MANY = bindparam("order_ids", expanding=True)
_LOCK_LINES_OF_ORDERS = (select(OrderLine.id).where(OrderLine.order_id.in_(_MANY)).order_by(OrderLine.id)
                         .with_for_update())
# What match_lines, chosen_variants and case_lines read of a line (a batch opens no case the policy decides).
_LINES_OF_ORDERS = (select(*_LINE_COLUMNS, OrderLine.exchange_variants, OrderLine.order_id)
                    .where(OrderLine.order_id.in_(_MANY)).order_by(OrderLine.id))
# What _CLAIMED says of each line, for many orders' lines in one pass over the claims (a subquery per line is
# planned as a scan of case_lines per line while a bulk import's fresh rows still look like none to the planner).
_CLAIMS_OF_ORDERS = (select(CaseLine.order_line_id, func.sum(CaseLine.quantity))
                     .join(Case, Case.id == CaseLine.case_id)
                     .where(Case.holds_quantity.is_(True),
                            CaseLine.order_line_id.in_(select(OrderLine.id).where(OrderLine.order_id.in_(_MANY))))
                     .group_by(CaseLine.order_line_id))


@dataclass(slots=True)
class ClaimableLine:
    """An order line as a batch of openings reads it (_LINES_OF_ORDERS), with what cases claim of it."""

    id: int
    line_no: int
    sku: str
    title: str
    unit_price: int
    quantity: int
    delivered_quantity: int
    exchange_variants: str | None
    order_id: int
    claimed: int


def lines_of_orders(session: Session, order_ids: list[int]) -> dict[int, list[ClaimableLine]]:
    """The lines of many orders with what open cases claim of each, as _lines_with_claims reads one order's (but
    only what opening a case the policy does not decide needs): {order id: its lines, by id}, each line's
    `claimed` free to be counted on by the caller; locked on PostgreSQL, all in one statement (in the order of
    their ids, as one order's are)."""
    found: dict[int, list[ClaimableLine]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return found
    if session.get_bind().dialect.name == "postgresql":
        store.run(session, _LOCK_LINES_OF_ORDERS, {"order_ids": order_ids})
    claimed = dict(store.run(session, _CLAIMS_OF_ORDERS, {"order_ids": order_ids}).all())
    for row in store.run(session, _LINES_OF_ORDERS, {"order_ids": order_ids}):
        found[row.order_id].append(ClaimableLine(*row, claimed=int(claimed.get(row.id, 0))))
    return found


def get_case(session: Session, *, actor: Actor, number: str) -> CaseRecord:
    """The case `number`, if the actor may see it; otherwise 404 (never reveals other merchants' cases)."""
    case = store.load(session, actor=actor, number=number)
    if case is None:
        raise NotFound("case", number, field="number")
    return case


def act(session: Session, *, actor: Actor, number: str, action: str, version: int, payload: dict,
        visibility: str | None = None) -> CaseRecord:
    """Fires `action` on the case, as the actor, if the case is still at `version` (`visibility`: who sees the
    event, where staff may choose)."""
    case = get_case(session, actor=actor, number=number)
    if action == "assign":
        _check_assignee(session, case, payload.get("assignee_id"))
    fire(session, case, action, actor, payload=payload, expected_version=version, visibility=visibility)
    return case


def _check_assignee(session: Session, case: CaseRecord, assignee_id) -> None:
    if assignee_id is None or not isinstance(assignee_id, int):
        return
    user = session.get(User, assignee_id)
    if user is None or not user.active or user.merchant_id != case.merchant_id:
        raise InvalidInput("assignee_invalid", field="payload.assignee_id", assignee=assignee_id)


def list_cases(session: Session, *, actor: Actor, state: list[str] | None = None, type: str | None = None,
               channel: str | None = None, assignee_id: int | None = None, order: str | None = None,
               customer: str | None = None, created_from: datetime | None = None,
               created_to: datetime | None = None, q: str | None = None, limit: int = 50,
               offset: int = 0, where: tuple = (), sort: tuple = ()) -> tuple[list[CaseRecord], int]:
    """Cases the actor may see, filtered and paged, newest first (or by `sort`); `where` adds conditions (e.g. the
    console's due-soon queue)."""
    stmt = scoped(select(Case.id), actor).where(*where)
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
    if q and q.strip():
        stmt = stmt.where(Case.id.in_(search.case_ids(session, q)))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    ids = list(session.scalars(stmt.order_by(*sort, Case.created_at.desc(), Case.id.desc()).limit(limit)
                               .offset(offset)))
    return store.load_many(session, ids), total


def timeline(session: Session, *, case: CaseRecord) -> list[CaseEvent]:
    """The case's events in order."""
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))


def claimed_quantities(session: Session, *, order_id: int) -> dict[int, int]:
    """Per order line id, the quantity that open or finished cases hold."""
    rows = session.execute(select(CaseLine.order_line_id, func.sum(CaseLine.quantity))
                           .join(Case, Case.id == CaseLine.case_id)
                           .join(OrderLine, OrderLine.id == CaseLine.order_line_id)
                           .where(OrderLine.order_id == order_id, Case.holds_quantity.is_(True))
                           .group_by(CaseLine.order_line_id)).all()
    return {line_id: int(qty) for line_id, qty in rows}
