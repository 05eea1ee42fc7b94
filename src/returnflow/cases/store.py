"""Case rows in and out with SQL Core: one joined query loads a case with everything its API shape needs,
and a transition writes one guarded UPDATE plus its event and outbox rows. This is the hot path of the desk."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from .. import deferred
from ..prepared import prepared
from ..actor import Actor
from ..merchants.models import Merchant
from ..orders.models import Customer, Order, OrderLine
from .models import Case, CaseEvent, CaseLine, EventLink, OutboxMessage, WebhookEndpoint

CASES = Case.__table__
LINES = CaseLine.__table__
EVENTS = CaseEvent.__table__
OUTBOX = OutboxMessage.__table__

# Case columns a transition may change; everything else is fixed when the case is opened.
MUTABLE = ("state", "holds_quantity", "outcome", "assignee_id", "escalation_level", "reopen_count", "needs_return",
           "closed_at", "updated_at")


@dataclass(slots=True)
class CaseLineRecord:
    id: int
    order_line_id: int
    quantity: int
    reason_code: str | None
    received_quantity: int
    accepted_quantity: int
    inspection: dict
    line_no: int | None = None
    sku: str | None = None
    title: str = ""
    unit_price: int | None = None
    variant: dict | None = None  # the replacement chosen for an exchange (cases.variants)


@dataclass(slots=True)
class CaseRecord:
    """A case as loaded for one request: its row, its lines, and the names the API shows beside them."""

    id: int
    merchant_id: int
    number: str
    order_id: int
    customer_id: int | None
    type: str
    channel: str
    state: str
    reason_code: str | None
    description: str
    desired_outcome: str
    advance: bool
    needs_return: bool
    holds_quantity: bool
    outcome: str | None
    assignee_id: int | None
    escalation_level: int
    reopen_count: int
    external_ref: str | None
    currency: str
    claimed_amount: int
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    policy_version: int | None = None
    policy_decision: dict | None = None
    lines: list[CaseLineRecord] = field(default_factory=list)
    order_number: str | None = None
    merchant_code: str | None = None
    customer: dict[str, Any] | None = None
    # Read with the case for the side effects of its next transition (see Context); None: not read, the producers
    # ask the database themselves.
    context: Context | None = None


class Contact(NamedTuple):
    """How the case's customer is reached (customer notices)."""

    email: str | None
    phone: str | None
    locale: str | None
    channels: list | None
    wechat_openid: str | None = None


@dataclass(slots=True)
class Context:
    """What a transition's side effects need besides the case, read in the same query as the case (or the order,
    when a case is opened) so a transition does not ask for each: all of it as of this transaction, never cached.

    chain_head: (seq, hash) of the link of the case's current version (hash None: that event has no link; the
    whole tuple None: the case has no event yet);
    webhooks: whether the merchant has an active webhook endpoint; contact: the customer's (None: no customer).
    """

    chain_head: tuple[int, str | None] | None
    webhooks: bool
    contact: Contact | None


# The loading statement's columns, each under its own name: a row is read by name (row._mapping), never by position.
_CASE_NAMES = tuple(c.name for c in CASES.c)
assert set(_CASE_NAMES) <= {f.name for f in fields(CaseRecord)}, "a cases column CaseRecord does not hold"
_LINE_FIELDS = tuple(f.name for f in fields(CaseLineRecord))
_LINE_COLS = {"id": LINES.c.id, "order_line_id": LINES.c.order_line_id, "quantity": LINES.c.quantity,
              "reason_code": LINES.c.reason_code, "received_quantity": LINES.c.received_quantity,
              "accepted_quantity": LINES.c.accepted_quantity, "inspection": LINES.c.inspection,
              "line_no": OrderLine.line_no, "sku": OrderLine.sku, "title": OrderLine.title,
              "unit_price": OrderLine.unit_price, "variant": LINES.c.variant}
assert tuple(_LINE_COLS) == _LINE_FIELDS, "the line columns are CaseLineRecord's fields"


def has_webhooks(merchant_id) -> Any:
    """EXISTS an active webhook endpoint of the merchant (a column expression)."""
    endpoints = WebhookEndpoint.__table__
    return exists().where(endpoints.c.merchant_id == merchant_id, endpoints.c.active.is_(True))


def _base() -> Select:
    CHAIN = EventLink.__table__
    return (select(*CASES.c, Order.number.label("order_number"), Merchant.code.label("merchant_code"),
                   Customer.external_id.label("customer_ref"), Customer.name.label("customer_name"),
                   Customer.email.label("customer_email"), Customer.locale.label("customer_locale"),
                   Customer.phone.label("customer_phone"), Customer.channels.label("customer_channels"),
                   Customer.wechat_openid.label("customer_openid"), CHAIN.c.hash.label("chain_hash"),
                   has_webhooks(CASES.c.merchant_id).label("webhooks"),
                   *(column.label(f"line_{name}") for name, column in _LINE_COLS.items()))
            .join(Order, Order.id == CASES.c.order_id)
            .join(Merchant, Merchant.id == CASES.c.merchant_id)
            .outerjoin(Customer, Customer.id == CASES.c.customer_id)
            .outerjoin(CHAIN, and_(CHAIN.c.case_id == CASES.c.id, CHAIN.c.seq == CASES.c.version))
            .outerjoin(LINES, LINES.c.case_id == CASES.c.id)
            .outerjoin(OrderLine, OrderLine.id == LINES.c.order_line_id))


def scope(stmt: Select, actor: Actor) -> Select:
    """Restricts a case query to what the actor may see (its merchant; a customer: their own cases)."""
    if actor.merchant_id is not None:
        stmt = stmt.where(CASES.c.merchant_id == actor.merchant_id)
    if actor.kind == "customer":
        stmt = stmt.where(CASES.c.customer_id == actor.customer_id)
    return stmt


def _assemble(rows) -> list[CaseRecord]:
    """Case records from the loading statement's rows (one per case line), read by column name."""
    records: dict[int, CaseRecord] = {}
    for row in rows:
        m = row._mapping
        record = records.get(m["id"])
        if record is None:
            record = CaseRecord(**{name: m[name] for name in _CASE_NAMES})
            record.order_number, record.merchant_code = m["order_number"], m["merchant_code"]
            known = m["customer_ref"] is not None
            record.customer = ({"id": m["customer_ref"], "name": m["customer_name"], "email": m["customer_email"],
                                "locale": m["customer_locale"]} if known else None)
            record.context = Context(
                chain_head=(record.version, m["chain_hash"]), webhooks=bool(m["webhooks"]),
                contact=Contact(m["customer_email"], m["customer_phone"], m["customer_locale"],
                                m["customer_channels"], m["customer_openid"]) if known else None)
            records[record.id] = record
        if m["line_id"] is not None:
            record.lines.append(CaseLineRecord(**{name: m[f"line_{name}"] for name in _LINE_FIELDS}))
    return list(records.values())


class _Loads:
    """The loading statements, each built on first use and kept: building and hashing a statement costs several
    times more than running it."""

    @cached_property
    def base(self) -> Select:
        return _base()

    @cached_property
    def by_number(self) -> Select:
        return prepared(self.base.where(CASES.c.number == bindparam("number")).order_by(LINES.c.id))

    @cached_property
    def by_number_merchant(self) -> Select:
        return prepared(self.base.where(CASES.c.number == bindparam("number"),
                                        CASES.c.merchant_id == bindparam("merchant_id")).order_by(LINES.c.id))

    @cached_property
    def by_number_customer(self) -> Select:
        return prepared(self.base.where(
            CASES.c.number == bindparam("number"), CASES.c.merchant_id == bindparam("merchant_id"),
            CASES.c.customer_id == bindparam("customer_id")).order_by(LINES.c.id))

    @cached_property
    def by_ids(self) -> Select:
        return prepared(self.base.where(CASES.c.id.in_(bindparam("ids", expanding=True))).order_by(LINES.c.id))


_LOADS = _Loads()
# The statements of every request run as prepared statements (returnflow/prepared.py).
_INSERT_CASE = prepared(insert(CASES).returning(CASES.c.id))
_INSERT_LINE = prepared(insert(LINES).returning(LINES.c.id))
_INSERT_MANY_CASES = prepared(insert(CASES))
_INSERT_MANY_LINES = prepared(insert(LINES))
_CASE_IDS = prepared(select(CASES.c.number, CASES.c.id).where(
    CASES.c.number.in_(bindparam("numbers", expanding=True))))
_LINE_IDS = prepared(select(LINES.c.id, LINES.c.case_id, LINES.c.order_line_id)
                     .where(LINES.c.case_id.in_(bindparam("case_ids", expanding=True))))
_INSERT_EVENT = prepared(insert(EVENTS))
_INSERT_OUTBOX = prepared(insert(OUTBOX))
_UPDATE_CASE = prepared(update(CASES).where(CASES.c.id == bindparam("_id"), CASES.c.version == bindparam("_version"))
                        .values({name: bindparam(name) for name in MUTABLE} | {"version": bindparam("_new_version")}))
_UPDATE_LINE = prepared(update(LINES).where(LINES.c.id == bindparam("_id")).values(
    received_quantity=bindparam("received_quantity"), accepted_quantity=bindparam("accepted_quantity"),
    inspection=bindparam("inspection")))
_COUNT_ACTION = prepared(select(func.count()).select_from(EVENTS).where(
    EVENTS.c.case_id == bindparam("case_id"), EVENTS.c.action == bindparam("action")))


def run(session: Session, stmt, params=None):
    """Executes a Core statement on the session's connection (skipping the ORM's per-call work); a `deferrable`
    write inside `deferred_writes` is kept for later (returnflow/deferred.py)."""
    return deferred.execute(session, stmt, params)


def load(session: Session, *, actor: Actor, number: str) -> CaseRecord | None:
    """The case `number` with its lines, if the actor may see it."""
    if actor.kind == "customer":
        rows = run(session, _LOADS.by_number_customer, {"number": number, "merchant_id": actor.merchant_id,
                                                        "customer_id": actor.customer_id})
    elif actor.merchant_id is not None:
        rows = run(session, _LOADS.by_number_merchant, {"number": number, "merchant_id": actor.merchant_id})
    else:
        rows = run(session, _LOADS.by_number, {"number": number})
    found = _assemble(rows)
    return found[0] if found else None


def load_many(session: Session, ids: list[int]) -> list[CaseRecord]:
    """Cases by id, in the order given."""
    if not ids:
        return []
    found = {r.id: r for r in _assemble(run(session, _LOADS.by_ids, {"ids": ids}))}
    return [found[i] for i in ids if i in found]


def count_events(session: Session, case_id: int, action: str) -> int:
    """How often `action` happened on the case."""
    return run(session, _COUNT_ACTION, {"case_id": case_id, "action": action}).scalar_one()


def insert_case(session: Session, record: CaseRecord) -> None:
    """Writes a new case and its lines; fills in their ids."""
    record.id = run(session, _INSERT_CASE, _case_values(record)).scalar_one()
    for line in record.lines:
        line.id = run(session, _INSERT_LINE, _line_values(record, line)).scalar_one()


def insert_cases(session: Session, records: list[CaseRecord]) -> None:
    """Writes new cases and their lines, in this order, with one statement each (their ids then read back by
    number and by line: a RETURNING of many rows costs more to send than the rows themselves); fills in their ids."""
    if not records:
        return
    run(session, _INSERT_MANY_CASES, [_case_values(record) for record in records])
    ids = dict(run(session, _CASE_IDS, {"numbers": [record.number for record in records]}).all())
    for record in records:
        record.id = ids[record.number]
    lines = [_line_values(record, line) for record in records for line in record.lines]
    if lines:
        run(session, _INSERT_MANY_LINES, lines)
        line_ids = {(case_id, order_line_id): line_id for line_id, case_id, order_line_id in run(
            session, _LINE_IDS, {"case_ids": [record.id for record in records]})}
        for record in records:
            for line in record.lines:
                line.id = line_ids[(record.id, line.order_line_id)]


def _case_values(record: CaseRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in _CASE_NAMES if name != "id"}


def _line_values(record: CaseRecord, line: CaseLineRecord) -> dict[str, Any]:
    return {"case_id": record.id, "order_line_id": line.order_line_id, "quantity": line.quantity,
            "reason_code": line.reason_code, "received_quantity": 0, "accepted_quantity": 0, "inspection": {},
            "variant": line.variant}


def save_changes(session: Session, record: CaseRecord, lines_before: list[tuple]) -> bool:
    """Writes the transition, guarded by the version the case was loaded at; False if someone else got there first."""
    if run(session, _UPDATE_CASE, _case_changes(record, record.version, record.version + 1)).rowcount != 1:
        return False
    record.version += 1
    changed = _line_changes(record, lines_before)
    for params in changed:
        run(session, _UPDATE_LINE, params)
    return True


def save_many(session: Session, saved: list[tuple[CaseRecord, int, list[tuple]]]) -> bool:
    """Writes the state of many cases, each (record, version it was loaded at, its lines' state then) and its
    record's version already counted on: one guarded UPDATE for the cases, one for the lines that changed;
    False (and nothing to keep: roll back) if any case was no longer at the version it was loaded at."""
    if not saved:
        return True
    rows = [_case_changes(record, loaded, record.version) for record, loaded, _ in saved]
    if run(session, _UPDATE_CASE, rows).rowcount != len(rows):
        return False
    changed = [params for record, _, lines_before in saved for params in _line_changes(record, lines_before)]
    if changed:
        run(session, _UPDATE_LINE, changed)
    return True


def _case_changes(record: CaseRecord, loaded: int, new_version: int) -> dict[str, Any]:
    params = {name: getattr(record, name) for name in MUTABLE}
    params.update(_id=record.id, _version=loaded, _new_version=new_version)
    return params


def _line_changes(record: CaseRecord, lines_before: list[tuple]) -> list[dict[str, Any]]:
    return [{"_id": line.id, "received_quantity": line.received_quantity,
             "accepted_quantity": line.accepted_quantity, "inspection": line.inspection}
            for line, old in zip(record.lines, lines_before)
            if (line.received_quantity, line.accepted_quantity, line.inspection) != old]


def line_state(record: CaseRecord) -> list[tuple]:
    return [(line.received_quantity, line.accepted_quantity, dict(line.inspection)) for line in record.lines]


def append_event(session: Session, record: CaseRecord, *, action: str, actor: Actor, source: str | None,
                 payload: dict, at: datetime, visibility: str = "customer") -> dict[str, Any]:
    """The immutable event for the case's current version, in the caller's transaction."""
    event = new_event(record, action=action, actor=actor, source=source, payload=payload, at=at,
                      visibility=visibility)
    run(session, _INSERT_EVENT, event)
    return event


def insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Many events (rows of new_event) with one statement, in this order."""
    if events:
        run(session, _INSERT_EVENT, events)


def new_event(record: CaseRecord, *, action: str, actor: Actor, source: str | None, payload: dict, at: datetime,
              visibility: str = "customer") -> dict[str, Any]:
    """The event row for the case's current version (append_event writes it; a batch writes many together)."""
    return {"case_id": record.id, "seq": record.version, "action": action, "from_state": source,
            "to_state": record.state, "actor_kind": actor.kind, "actor_role": actor.role, "actor_id": actor.ref,
            "actor_name": actor.name, "payload": payload, "created_at": at, "visibility": visibility}


def enqueue(session: Session, *, merchant_id: int | None, case_id: int | None, topic: str, payload: dict,
            at: datetime) -> None:
    """An outbox message (a side effect for the worker to deliver), in the caller's transaction."""
    enqueue_many(session, merchant_id=merchant_id, case_id=case_id, messages=[(topic, payload)], at=at)


def enqueue_many(session: Session, *, merchant_id: int | None, case_id: int | None,
                 messages: list[tuple[str, dict]], at: datetime) -> None:
    """Outbox messages ((topic, payload) each, in order) in one statement, in the caller's transaction."""
    if messages:
        run(session, _INSERT_OUTBOX, outbox_rows(merchant_id=merchant_id, case_id=case_id, messages=messages, at=at))


def insert_outbox(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many outbox rows (of outbox_rows) with one statement, in this order."""
    if rows:
        run(session, _INSERT_OUTBOX, rows)


def outbox_rows(*, merchant_id: int | None, case_id: int | None, messages: list[tuple[str, dict]],
                at: datetime) -> list[dict[str, Any]]:
    """The outbox rows of these messages (enqueue_many writes them; a batch writes many cases' together)."""
    return [{"merchant_id": merchant_id, "topic": topic, "case_id": case_id, "status": "pending", "attempts": 0,
             "available_at": at, "lease_until": None, "created_at": at, "payload": payload}
            for topic, payload in messages]
