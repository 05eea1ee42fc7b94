"""Paying refunds out: each leg moves pending -> sent -> succeeded | failed (-> retried: sent again), exactly once.

The decision to pay is written before the gateway is called (the leg is `sent` with its idempotency key), the call
happens outside any transaction, and its outcome comes back in a new transaction — from the answer, a webhook or
a lookup. Whatever arrives twice finds the leg already settled and changes nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ..actor import SYSTEM, Actor
from ..cases import store
from ..cases.workflow import AWAITED, allowed_actions, fire
from ..db import Database, utcnow
from ..errors import Explained, Forbidden, NotFound
from ..flows import count, move
from ..money import fmt
from ..orders.models import Order
from . import ledger, locks
from .gateways import PROVIDER_GATEWAYS, GatewaySettings, Leg, Outcome, gateway, verify
from .models import GatewayWebhook, Refund, RefundPayment
from .money_flows import REFUND, REFUND_PAYMENT
from .money_flows import EXECUTORS
from .money_settings import money_settings
from .refusal import refuse
from .service import get_refund
from ..i18n import ENGLISH, N_, SUPPORTED, gettext
from ..cases.models import Case

log = logging.getLogger("returnflow.refunds")


def leg_view(leg: RefundPayment) -> Leg:
    return Leg(number=leg.number, idempotency_key=leg.idempotency_key or "", amount=leg.amount,
               currency=leg.currency, method=leg.method, payment_ref=leg.payment_ref,
               payment_total=_payment_total(leg), merchant_id=leg.merchant_id)


def _payment_total(leg: RefundPayment) -> int | None:
    """What the order's payment this leg returns to took (WeChat Pay wants the original total with a refund)."""
    session = object_session(leg)
    if session is None or leg.destination != "gateway":
        return None
    payments = session.scalar(select(Order.payments).join(Refund, Refund.order_id == Order.id)
                              .where(Refund.id == leg.refund_id)) or []
    for payment in payments:
        if payment.get("method") == leg.method and (payment.get("reference") or None) == (leg.payment_ref or None):
            return int(payment.get("amount") or 0)
    return None


def provider_conf(session: Session, merchant_id: int | None, name: str) -> dict | None:
    """The merchant's credentials for a provider gateway (None for manual and http)."""
    if name not in PROVIDER_GATEWAYS or merchant_id is None:
        return None
    return money_settings(session, merchant_id)["providers"].get(name) or {}


# ---- settlement ----------------------------------------------------------------------------------------------

def settle(session: Session, leg: RefundPayment, *, by: str, role: str, at: datetime, reference: str | None = None,
           provider_ref: str | None = None, note: str = "") -> bool:
    """Marks the leg paid once: its settlement voucher, a ledger credit for own-form legs, the refund completed
    when it was the last leg. False if it was already settled (a duplicate)."""
    if leg.state == "succeeded":
        return False
    # The case and the refund are locked (locks.py: before the leg, whoever locked it): two legs settling at once
    # then see each other, and exactly one of them completes the refund and resolves the case.
    refund = locks.refund(session, leg.refund_id)
    if leg.destination != "gateway":
        customer_id = session.scalar(select(Order.customer_id).where(Order.id == refund.order_id))
        ledger.credit(session, merchant_id=leg.merchant_id, customer_id=customer_id, asset=leg.destination,
                      currency=leg.currency, amount=leg.amount, at=at, by=by, refund_payment_id=leg.id,
                      memo=f"refund {leg.number} ({leg.method})")
    move(session, REFUND_PAYMENT, leg, "settle", by=by, role=role, at=at,
         data={"reference": reference, "provider_ref": provider_ref, **({"note": note} if note else {})})
    leg.settled_at = at
    leg.reference = reference or leg.reference
    leg.provider_ref = provider_ref or leg.provider_ref
    ledger.post(session, merchant_id=leg.merchant_id, kind="refund_settlement", currency=leg.currency,
                lines=[("refund_payable", leg.amount, 0), (ledger.SETTLEMENT_ACCOUNT[leg.destination], 0, leg.amount)],
                at=at, memo=f"refund {leg.number} paid via {leg.gateway or leg.destination}",
                case_id=refund.case_id, refund_id=refund.id, refund_payment_id=leg.id)
    session.flush()
    _maybe_complete(session, refund, at)
    return True


def _maybe_complete(session: Session, refund: Refund, at: datetime) -> None:
    states = set(session.scalars(select(RefundPayment.state).where(RefundPayment.refund_id == refund.id)))
    if states != {"succeeded"} or refund.state != "approved":
        return
    move(session, REFUND, refund, "complete", by="system", role="system", at=at)
    open_refunds = session.scalar(select(Refund.id).where(Refund.case_id == refund.case_id,
                                                         Refund.state.in_(("awaiting_approval", "approved"))))
    if open_refunds is not None:
        return
    # The case moves on through the workflow like any other step; never by setting its state.
    case = store.load(session, actor=SYSTEM, number=_case_number(session, refund.case_id))
    if case is not None and case.customer_id is not None:
        # Contract 1: the notifications worker renders and sends it (zh-CN / en).
        store.enqueue(session, merchant_id=refund.merchant_id, case_id=refund.case_id, topic="notify", at=at,
                      payload={"channel": "email", "to": f"customer:{case.customer_id}",
                               "locale": (case.customer or {}).get("locale") or "zh-CN",
                               "template": "refund_completed",
                               "data": {"case": case.number, "refund": refund.number,
                                        "amount": fmt(refund.amount, refund.currency), "currency": refund.currency}})
    # A refund finishes a case that is done with its goods; one still waiting for its return stays open.
    if case is not None and case.state not in AWAITED and "resolve" in allowed_actions(case, SYSTEM):
        fire(session, case, "resolve", SYSTEM, payload={"refund": refund.number,
                                                        "amount": fmt(refund.amount, refund.currency),
                                                        "currency": refund.currency}, at=at)


def _case_number(session: Session, case_id: int) -> str:
    return session.scalar(select(Case.number).where(Case.id == case_id))


def fail(session: Session, leg: RefundPayment, *, by: str, role: str, at: datetime, error: str) -> bool:
    """A definite failure from the gateway: no money moved; finance may retry."""
    if leg.state != "sent":
        return False
    leg.last_error = error
    move(session, REFUND_PAYMENT, leg, "fail", by=by, role=role, at=at, data={"error": error})
    return True


# ---- execution (finance) -------------------------------------------------------------------------------------

def begin(session: Session, *, actor: Actor, number: str) -> list[tuple[int, str, Leg]]:
    """Finance executes an approved refund: each gateway leg still to pay is marked `sent` (a failed one is
    retried under a new idempotency key; a `sent` one with no outcome is sent again under the same key)."""
    if actor.role not in EXECUTORS:
        raise Forbidden("forbidden_role", role=actor.role, what="execute a refund", allowed=list(EXECUTORS))
    refund = get_refund(session, actor=actor, number=number)
    if refund.state != "approved":
        raise refuse("state", N_("refund {number} is {state}; only an approved refund is executed"),
                     number=refund.number, state=refund.state, code="refund_state",
                     status=409)
    at = utcnow()
    calls = []
    for leg in locks.legs(session, refund.id, gateway_only=True):  # after the refund (get_refund), by id
        if leg.state in ("pending", "failed"):
            retried = leg.state == "failed"
            leg.attempt += 1
            leg.idempotency_key = f"{leg.number}-a{leg.attempt}"
            leg.sent_at, leg.last_error = at, None
            move(session, REFUND_PAYMENT, leg, "retry" if retried else "send", by=actor.ref, role=actor.role, at=at,
                 data={"attempt": leg.attempt, "retried": retried})
        elif leg.state == "sent" and leg.gateway != "manual":
            move(session, REFUND_PAYMENT, leg, "resend", by=actor.ref, role=actor.role, at=at,
                 data={"resent": True, "attempt": leg.attempt})
        else:
            continue
        calls.append((leg.id, leg.gateway or "manual", leg_view(leg)))
    return calls


def record(session: Session, leg_id: int, outcome: Outcome, *, by: str, source: str) -> None:
    """Applies what the gateway answered to the leg (a second answer for a settled leg changes nothing)."""
    leg = locks.leg(session, leg_id=leg_id)
    at = utcnow()
    if outcome.status == "succeeded":
        if outcome.amount is not None and (outcome.amount, outcome.currency) != (leg.amount, leg.currency):
            log.error("gateway confirmed %s %s for leg %s of %s %s", outcome.amount, outcome.currency, leg.number,
                      leg.amount, leg.currency)
            leg.last_error = f"{source}: confirmed {outcome.amount} {outcome.currency}, expected {leg.amount} {leg.currency}"
            return
        settle(session, leg, by=by, role="gateway", at=at, provider_ref=outcome.provider_ref, reference=source)
    elif outcome.status == "failed":
        fail(session, leg, by=by, role="gateway", at=at, error=outcome.error or "failed")
    elif outcome.status == "sent":
        leg.provider_ref = outcome.provider_ref or leg.provider_ref
    elif outcome.status in ("unknown", "missing"):
        leg.last_error = outcome.error or outcome.status


def execute(db: Database, settings: GatewaySettings, *, actor: Actor, number: str) -> None:
    """begin (one transaction) → call each gateway (no transaction open) → record each answer (one each)."""
    with db.transaction() as session:
        calls = [(*call, provider_conf(session, call[2].merchant_id, call[1]))
                 for call in begin(session, actor=actor, number=number)]
    for leg_id, name, view, conf in calls:
        outcome = gateway(name, settings, conf).send(view)
        with db.transaction() as session:
            record(session, leg_id, outcome, by=actor.ref, source=f"{name} answer")


def mark_paid(session: Session, *, actor: Actor, number: str, reference: str, note: str = "",
              version: int | None = None) -> RefundPayment:
    """Finance paid a manual leg outside the system and records the reference (and a note), in one step from
    pending or sent. `version` is the number of the leg's events the form showed: a stale form is refused."""
    if actor.role not in EXECUTORS:
        raise Forbidden("forbidden_role", role=actor.role, what="mark a refund paid", allowed=list(EXECUTORS))
    leg = locks.leg(session, number=number)  # its case and refund first, like every money path
    if leg is None or not actor.can_see(leg.merchant_id):
        raise NotFound("refund payment", number, field="number")
    if leg.gateway != "manual":
        raise refuse("number",
                     N_("{number} goes through the {leg_gateway_or_leg_d} route; only manual payments are marked paid "
                        "by hand"),
                     number=number, leg_gateway_or_leg_d=leg.gateway or leg.destination, code="not_manual", status=409)
    refund = session.get(Refund, leg.refund_id)
    if refund.state != "approved" or leg.state not in ("pending", "sent"):
        raise refuse("state",
                     N_("{number} is {state} (refund {state2}); only an approved, unpaid payment can be marked paid"),
                     number=number, state=leg.state, state2=refund.state, code="refund_state", status=409)
    if version is not None and version != count(session, REFUND_PAYMENT.kind, leg.id):
        raise refuse("version", N_("{number} changed since the form was shown; nothing was recorded"), number=number,
                     code="stale", status=409)
    at = utcnow()
    if leg.state == "pending":
        leg.attempt += 1
        leg.idempotency_key = f"{leg.number}-a{leg.attempt}"
        leg.sent_at = at
        move(session, REFUND_PAYMENT, leg, "send", by=actor.ref, role=actor.role, at=at,
             data={"attempt": leg.attempt})
    settle(session, leg, by=actor.ref, role=actor.role, at=at, reference=reference, note=note)
    return leg


# ---- webhooks and lookups ------------------------------------------------------------------------------------

def _log_webhook(db: Database, **row) -> None:
    with db.transaction() as session:
        session.add(GatewayWebhook(received_at=utcnow(), **row))


def webhook(db: Database, settings: GatewaySettings, *, name: str, signature: str | None, body: bytes) -> dict:
    """A provider's signed confirmation: verified, matched to its leg, checked, applied once; anything else is
    refused, logged, and moves nothing."""
    text = body.decode("utf-8", "replace")[:20000]
    problem = verify(settings.http_webhook_secret, signature, body, tolerance=settings.webhook_tolerance_seconds) \
        if name == "http" else "this gateway sends no webhooks"
    if problem:
        _log_webhook(db, gateway=name, outcome="rejected", reason=problem, body=text)
        raise Explained("Pay-Signature", N_("{problem}"), problem=_reason_words(problem, N_("invalid signature")),
                        code="bad_signature", status=401)
    try:
        event = json.loads(body)
        data = event["data"]
        event_id, kind, key = str(event["id"]), event["type"], data["idempotency_key"]
        amount, currency, provider_ref = int(data["amount"]), str(data["currency"]), data.get("id")
    except (ValueError, KeyError, TypeError):
        _log_webhook(db, gateway=name, outcome="rejected", reason="malformed body", body=text)
        raise refuse("body", N_("not a refund event"), code="bad_webhook", status=400) from None
    row = {"gateway": name, "event_id": event_id, "amount": amount, "currency": currency,
           "provider_ref": provider_ref, "body": text, "status": kind}
    with db.transaction() as session:
        leg = locks.leg(session, idempotency_key=key)
        reason = None
        if leg is None:
            reason = f"unknown refund (idempotency key {key})"
        elif (amount, currency) != (leg.amount, leg.currency):
            reason = f"amount {amount} {currency} does not match the refund's {leg.amount} {leg.currency}"
        elif kind not in ("refund.succeeded", "refund.failed"):
            reason = f"unknown event type {kind}"
        if reason is None:
            seen = session.scalar(select(GatewayWebhook.id).where(
                GatewayWebhook.gateway == name, GatewayWebhook.event_id == event_id,
                GatewayWebhook.outcome == "applied"))
            outcome = Outcome("succeeded" if kind == "refund.succeeded" else "failed", provider_ref=provider_ref,
                              error=data.get("failure_reason"), amount=amount, currency=currency)
            before = leg.state
            if seen is None:
                record(session, leg.id, outcome, by=f"gateway:{name}", source=f"webhook {event_id}")
            changed = seen is None and leg.state != before
            session.add(GatewayWebhook(refund_payment_id=leg.id, outcome="applied" if changed else "duplicate",
                                       reason="" if changed else f"leg already {leg.state}",
                                       received_at=utcnow(), **row))
            return {"outcome": "applied" if changed else "duplicate", "refund_payment": leg.number,
                    "state": leg.state}
    _log_webhook(db, refund_payment_id=leg.id if leg is not None else None, outcome="rejected", reason=reason, **row)
    raise refuse("data", N_("{problem}"), problem=_reason_words(reason), code="bad_webhook",
                 status=404 if reason.startswith("unknown refund") else 422)


# The webhook's refusals: the English reason (also logged) as it is, other languages from the catalogs.
_SAID = {"missing Pay-Signature header": N_("missing Pay-Signature header"), "bad signature": N_("bad signature"),
         "malformed Pay-Signature header": N_("malformed Pay-Signature header"),
         "signature timestamp outside the tolerance (replayed?)":
             N_("signature timestamp outside the tolerance (replayed?)"),
         "no webhook secret is configured": N_("no webhook secret is configured")}


def _reason_words(reason: str, otherwise: str = N_("unknown event type")) -> dict[str, str]:
    said = _SAID.get(reason) or (N_("unknown refund (the idempotency key matches no refund)")
                                 if reason.startswith("unknown refund") else
                                 N_("the amount or currency does not match the refund") if reason.startswith("amount")
                                 else otherwise)
    return {tag: gettext(tag, said) for tag in SUPPORTED} | {ENGLISH: reason}


def sync(db: Database, settings: GatewaySettings, *, older_than: timedelta = timedelta(minutes=5)) -> dict:
    """Asks the provider about legs `sent` without an outcome (a lost answer, a lost webhook, a crash)."""
    cutoff = utcnow() - older_than
    with db.read() as session:
        legs = [(leg.id, leg.gateway, leg_view(leg), provider_conf(session, leg.merchant_id, leg.gateway))
                for leg in session.scalars(select(RefundPayment).where(
                    RefundPayment.state == "sent", RefundPayment.gateway.in_(("http", *PROVIDER_GATEWAYS)),
                    RefundPayment.sent_at <= cutoff))]
    counts = {"checked": len(legs), "succeeded": 0, "failed": 0, "resent": 0}
    for leg_id, name, view, conf in legs:
        outcome = gateway(name, settings, conf).lookup(view)
        if outcome is not None and outcome.status == "missing":
            # The provider never got it: sending again under the same key cannot pay twice.
            outcome = gateway(name, settings, conf).send(view)
            counts["resent"] += 1
        if outcome is None:
            continue
        with db.transaction() as session:
            record(session, leg_id, outcome, by="system", source=f"{name} lookup")
            state = session.get(RefundPayment, leg_id).state
        if state in ("succeeded", "failed"):
            counts[state] += 1
    return counts
