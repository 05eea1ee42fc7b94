"""Money taken from the customer (holds and charges), exactly once, the way refunds are paid out.

The decision is a row change in the caller's transaction (a conditional move of `customer_charges.state`, and an
outbox message `customer_charge` {charge_id, op}); the gateway is called by the worker outside any transaction with
the key `<charge number>-<op>`, so a repeat after a crash or a lost answer is the same operation to the provider;
the outcome is written in a new transaction only while the row is still in the state that asked for it. Whatever
arrives twice finds the row moved on and changes nothing. Money that moves gets its voucher; every outcome is an
event on the case's timeline (hash-chained like every event) and a notice to the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from ..actor import Actor
from ..cases import store
from ..db import Database, utcnow
from ..errors import Explained, Forbidden
from ..flows import history, move
from ..money import fmt
from ..notify.channels import DeliveryError
from ..notify.config import DeliverySettings
from ..notify.outbox import Claimed
from ..orders.models import Order
from . import ledger, locks
from .gateways import PROVIDER_GATEWAYS, ChargeRequest, GatewaySettings, Outcome, gateway
from .models import CustomerCharge
from .money_flows import CHARGE_OPS, CUSTOMER_CHARGE
from .money_flows import EXECUTORS
from .money_settings import money_settings
from .service import _number
from ..i18n import N_

log = logging.getLogger("returnflow.refunds")
TOPIC = "customer_charge"
# op -> (the state that asks for it, the state when done, the state when refused): money_flows declares them
OPS = CHARGE_OPS
MOVES_MONEY = ("charge", "capture")

# What the case's area does when an operation's outcome is known: (session, charge, op, ok, at) -> None.
# Filled by returnflow/bootstrap.py (logistics.advance: the advance exchange's timeline event and customer notice).
OnOutcome = Callable[[Session, CustomerCharge, str, bool, datetime], None]
ON_OUTCOME: dict[str, OnOutcome] = {}


def charge_dict(row: CustomerCharge) -> dict:
    session = object_session(row)
    return {"number": row.number, "purpose": row.purpose, "kind": row.kind, "state": row.state,
            "amount": fmt(row.amount, row.currency), "amount_minor": row.amount, "currency": row.currency,
            "method": row.method, "gateway": row.gateway, "provider_ref": row.provider_ref,
            "reference": row.reference, "voucher": row.voucher, "last_error": row.last_error,
            "history": history(session, CUSTOMER_CHARGE.kind, row.id), "created_at": row.created_at,
            "settled_at": row.settled_at}


def of_case(session: Session, case_id: int, purpose: str) -> CustomerCharge | None:
    return session.scalar(select(CustomerCharge).where(CustomerCharge.case_id == case_id,
                                                       CustomerCharge.purpose == purpose)
                          .execution_options(populate_existing=True))


def _move(session: Session, row: CustomerCharge, action: str, at: datetime, by: str, role: str | None = None,
          **extra) -> None:
    move(session, CUSTOMER_CHARGE, row, action, by=by, role=role, at=at,
         data={k: v for k, v in extra.items() if v is not None})


def _source(session: Session, merchant_id: int, order_id: int) -> tuple[str, str, str | None]:
    """(payment method, gateway, payment reference): the order's first payment, through the gateway the
    merchant's money settings route that method to."""
    payments = session.scalar(select(Order.payments).where(Order.id == order_id)) or []
    first = payments[0] if payments else {"method": "original"}
    settings = money_settings(session, merchant_id)
    method = str(first.get("method") or "original")
    name = settings["gateways"].get(method, settings["default_gateway"])
    # WeChat Pay and Alipay are connected for refunds only: a deposit on such a method is taken by hand.
    return method, "manual" if name in PROVIDER_GATEWAYS else name, first.get("reference")


def open_charge(session: Session, *, merchant_id: int, case_id: int, order_id: int, purpose: str, kind: str,
                amount: int, currency: str, at: datetime, shipment_id: int | None = None,
                by: str = "system", decided: int = 0, decided_by: str = "system",
                reason: str | None = None) -> CustomerCharge | None:
    """Starts a hold or a charge (one per case and purpose) and queues its gateway call; None if the case already
    has one (whoever wrote it first decided). `decided` is the part a person (`decided_by`) chose beyond the
    order's own prices: above their limit the charge awaits approval instead (charge_approval). `reason`: why,
    kept on the opening event."""
    from .charge_approval import hold_for_approval, needs_approval

    if amount <= 0:
        raise Explained("amount", N_("a charge must be above zero"))
    method, gateway_name, payment_ref = _source(session, merchant_id, order_id)
    op = "hold" if kind == "hold" else "charge"
    row = CustomerCharge(merchant_id=merchant_id, case_id=case_id, shipment_id=shipment_id,
                         number=_number(session, "CH", at, merchant_id), purpose=purpose, kind=kind, method=method,
                         gateway=gateway_name, payment_ref=payment_ref, currency=currency, amount=amount,
                         state=None, created_at=at, updated_at=at)
    savepoint = session.begin_nested()
    try:
        _move(session, row, op, at, by, reason=reason)
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        return None
    if needs_approval(session, merchant_id=merchant_id, currency=currency, decided=decided, by=decided_by):
        hold_for_approval(session, row, decided=decided, by=decided_by, at=at)
        return row
    store.enqueue(session, merchant_id=merchant_id, case_id=case_id, topic=TOPIC, at=at,
                  payload={"charge_id": row.id, "op": op})
    return row


def request(session: Session, row: CustomerCharge, op: str, *, at: datetime, by: str = "system") -> bool:
    """Moves the charge to the state that asks for `op` (capture or release of a hold, or a charge after a failed
    hold) and queues the gateway call; False if its state no longer allows it (someone else decided first)."""
    allowed = {"capture": ("held",), "release": ("held", "holding"), "charge": ("hold_failed",)}[op]
    row = locks.charge(session, row.id)
    if row.state not in allowed:
        return False
    _move(session, row, op, at, by)
    if op == "charge":
        row.kind = "charge"
    session.flush()
    store.enqueue(session, merchant_id=row.merchant_id, case_id=row.case_id, topic=TOPIC, at=at,
                  payload={"charge_id": row.id, "op": op})
    return True


def record(session: Session, charge_id: int, op: str, *, ok: bool, at: datetime, by: str,
           provider_ref: str | None = None, reference: str | None = None, error: str | None = None,
           waiting: bool = False, collected: bool = False) -> bool:
    """Writes an operation's outcome once: the state, the voucher when money moved, the case's own follow-up.
    `waiting`: a manual gateway took the request; finance marks it `collected` later. False if already recorded."""
    # Locks in the order every case transition takes them — the case, then its charge (locks.py) — so recording an
    # answer never deadlocks with the desk receiving the same case (PostgreSQL).
    row = locks.charge(session, charge_id)
    asked, done, refused = OPS[op]
    if row is None or row.state != ("awaiting_finance" if collected else asked):
        return False
    if waiting:
        _move(session, row, f"{op}_manual", at, by, role="gateway")
        return True
    _move(session, row, f"{op}_done" if ok else f"{op}_refused", at, by, role=None if collected else "gateway",
          provider_ref=provider_ref, reference=reference, error=error)
    row.provider_ref = provider_ref or row.provider_ref
    row.reference = reference or row.reference
    row.last_error = None if ok else error
    if ok and op in MOVES_MONEY:
        row.settled_at = at
        row.voucher = ledger.post(session, merchant_id=row.merchant_id, kind="customer_charge",
                                  currency=row.currency, lines=[("gateway_cash", row.amount, 0),
                                                                ("sales_revenue", 0, row.amount)],
                                  at=at, memo=f"charge {row.number} ({row.purpose}) via {row.gateway}",
                                  case_id=row.case_id)
    session.flush()
    handler = ON_OUTCOME.get(row.purpose)
    if handler is not None:
        handler(session, row, op, ok, at)
    return True


def deliver(db: Database, settings: DeliverySettings, message: Claimed) -> tuple[int | None, str]:
    """The outbox handler: calls the gateway for one operation and records its outcome."""
    charge_id, op = message.payload.get("charge_id"), message.payload.get("op")
    if op not in OPS:
        raise DeliveryError(f"unknown charge operation {op!r}")
    with db.read() as session:
        row = session.get(CustomerCharge, charge_id)
        if row is None or row.state != OPS[op][0]:
            return None, "already recorded"
        call = ChargeRequest(op=op, number=row.number, idempotency_key=f"{row.number}-{op}", amount=row.amount,
                             currency=row.currency, payment_ref=row.payment_ref, provider_ref=row.provider_ref)
        name, asked_at = row.gateway, row.updated_at
    provider = gateway(name, GatewaySettings())
    if op == "release" and call.provider_ref is None:
        # Released before the hold's answer was recorded (it may be on its way or never sent): the hold call is made
        # again with its own key, which gives back the provider's authorisation if it exists, then released.
        placed = provider.charge(replace(call, op="hold", idempotency_key=f"{call.number}-hold"))
        if placed.status == "unknown":
            raise DeliveryError(placed.error or "no answer from the provider")
        call = replace(call, provider_ref=placed.provider_ref) if placed.status == "succeeded" else None
    outcome = provider.charge(call) if call is not None else Outcome("succeeded")  # nothing was held
    if outcome.status == "unknown":
        raise DeliveryError(outcome.error or "no answer from the provider")  # retried later with the same key
    at = max(utcnow(), asked_at)  # never before the request on the timeline (a worker may run on a test clock)
    with db.transaction() as session:
        record(session, charge_id, op, ok=outcome.status == "succeeded", at=at, by=f"gateway:{name}",
               provider_ref=outcome.provider_ref, error=outcome.error, waiting=outcome.status == "sent")
    return 200, outcome.status


def mark_collected(session: Session, *, actor: Actor, number: str, reference: str) -> CustomerCharge:
    """Finance records that a manual charge was collected (bank transfer, cash): the voucher is written once."""
    if actor.role not in EXECUTORS:
        raise Forbidden("forbidden_role", role=actor.role, what="mark a charge collected", allowed=list(EXECUTORS))
    row = session.scalar(select(CustomerCharge).where(CustomerCharge.number == number,
                                                      CustomerCharge.merchant_id == actor.merchant_id))
    if row is None:
        raise Explained("number", N_("no charge {number}"), number=number, code="not_found", status=404)
    if not reference.strip():
        raise Explained("reference", N_("give the bank or cash reference of the collection"))
    if row.state != "awaiting_finance":
        raise Explained("number", N_("charge {number} is {state}; only a charge awaiting finance can be marked"),
                        number=number, state=row.state,
                        code="charge_not_awaiting", status=409)
    if not record(session, row.id, "capture" if row.kind == "hold" else "charge", ok=True, at=utcnow(),
                  by=actor.ref, reference=reference.strip(), collected=True):
        raise Explained("number", N_("charge {number} was marked meanwhile"), number=number,
                        code="charge_not_awaiting", status=409)
    return locks.charge(session, row.id)

