"""The desk's decisions going back to the platform, exactly once, and the conflicts staff settle.

A workflow producer sees every case event: on a synced case (external_ref "<platform>:<id>") an approval, a rejection,
the return's arrival or the refund being carried out becomes one push row per (case, decision) — the unique key
makes a second identical decision a no-op — carrying the platform version last pulled, and one "marketplace" outbox
message. The outbox handler sends a push only while it is `pending` (a worker that runs twice, or a replayed message,
finds it `sent` and sends nothing). The platform refusing the version (it changed there since) marks the push
`stale` and flags the request as a conflict; staff then keep the desk's side (the decision is sent again with the
platform's current version) or the platform's (the decision is dropped).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ..cases.models import OutboxMessage
from ..cases.side_effects import Write
from ..db import Database, utcnow
from ..errors import Explained
from ..i18n import N_
from ..money import to_minor
from ..notify.channels import DeliveryError
from ..notify.config import DeliverySettings
from ..notify.outbox import Claimed
from .connector import Decision, PlatformError
from .models import MarketplaceConnector, MarketplacePush, MarketplaceRequest
from .settings import PLATFORMS, connector_for
from .sync import copy_request, flag

TOPIC = "marketplace"
REFUND_TYPES = ("refund_only", "return_refund")


def decision_of(case, event: dict) -> str | None:
    action = event["action"]
    if action == "approve" and event["to_state"] != "pending_approval":
        return "agree_return" if case.needs_return else "agree_refund"
    if action == "reject":
        return "refuse"
    if action == "receive":
        return "received"
    if action == "resolve" and case.type in REFUND_TYPES:
        return "agree_refund"
    return None


def decisions(session: Session, case, event: dict) -> list[dict]:
    """Workflow producer: the push (and its outbox message) a decision on a synced case calls for."""
    platform, _, external_id = (case.external_ref or "").partition(":")
    if platform not in PLATFORMS or not external_id:
        return []
    decision = decision_of(case, event)
    if decision is None:
        return []
    request = session.scalar(select(MarketplaceRequest).where(
        MarketplaceRequest.merchant_id == case.merchant_id, MarketplaceRequest.platform == platform,
        MarketplaceRequest.external_id == external_id))
    if request is None:
        return []
    if session.scalar(select(MarketplacePush.id).where(MarketplacePush.case_id == case.id,
                                                       MarketplacePush.decision == decision)) is not None:
        return []  # this decision went (or waits to go) back already: once per (case, decision)
    payload = event.get("payload") or {}
    params: dict = {}
    if decision == "agree_refund":
        amount = Decimal(str((request.data or {}).get("amount") or "0"))
        params["amount_minor"] = to_minor(amount, case.currency)
    if decision == "refuse":
        params["message"] = str(payload.get("reason") or payload.get("text") or "")[:200]
    row = insert(MarketplacePush).values(
        merchant_id=case.merchant_id, request_id=request.id, case_id=case.id, decision=decision,
        version=request.version, params=params, error="", status="held" if request.conflict else "pending",
        created_at=event["created_at"])
    # The core writes the row and the message; the message names the push by its unique key (case, decision).
    return [Write(row, {}), {"topic": TOPIC, "payload": {"case_id": case.id, "decision": decision,
                                                        "endpoint_id": f"{platform}-{case.merchant_id}"}}]


def _mark(db: Database, push_id: int, status: str, error: str = "", at: datetime | None = None) -> bool:
    with db.transaction() as session:
        return bool(session.execute(update(MarketplacePush).where(
            MarketplacePush.id == push_id, MarketplacePush.status == "pending").values(
            status=status, error=error[:2000], sent_at=at)).rowcount)


def deliver(db: Database, settings: DeliverySettings, message: Claimed) -> tuple[int | None, str]:
    """Outbox handler: sends a pending push once; anything else is left as it is and said so."""
    with db.read() as session:
        payload = message.payload
        push = (session.get(MarketplacePush, payload["push_id"]) if "push_id" in payload else session.scalar(
            select(MarketplacePush).where(MarketplacePush.case_id == payload.get("case_id"),
                                          MarketplacePush.decision == payload.get("decision"))))
        if push is None:
            raise DeliveryError("the decision to send no longer exists", permanent=True)
        request = session.get(MarketplaceRequest, push.request_id)
        row = session.scalar(select(MarketplaceConnector).where(
            MarketplaceConnector.merchant_id == push.merchant_id, MarketplaceConnector.platform == request.platform))
        for item in (push, request, row):
            if item is not None:
                session.expunge(item)
    if push.status != "pending":
        return None, f"not sent: the decision is {push.status}"
    if request.conflict:
        _mark(db, push.id, "held")
        return None, "not sent: the request is in conflict, waiting for staff"
    if row is None or not row.active:
        raise DeliveryError(f"no active {request.platform} connector: the decision waits (replay once it is set up)",
                            permanent=True)
    raw = (request.data or {}).get("raw") or {}
    decision = Decision(push.decision, request.external_id, push.version,
                        amount_minor=int(push.params.get("amount_minor") or 0),
                        message=str(push.params.get("message") or ""), phase=str(raw.get("refund_phase") or ""))
    connector = connector_for(row, settings.allowed(), settings.http_timeout_seconds)
    try:
        connector.push(decision)
    except PlatformError as exc:
        if exc.stale:
            with db.transaction() as session:
                session.execute(update(MarketplacePush).where(MarketplacePush.id == push.id).values(
                    status="stale", error=str(exc)[:2000]))
                stored = session.get(MarketplaceRequest, request.id)
                flag(stored, seen=push.version, decisions=[push.decision], now=utcnow(), refused=str(exc))
            raise DeliveryError(f"{exc} — flagged as a conflict for staff", permanent=True) from None
        if exc.retry or exc.signature:  # the push stays pending: retried, or replayed once the keys are right
            raise DeliveryError(str(exc), permanent=exc.signature) from None
        _mark(db, push.id, "failed", str(exc))
        raise DeliveryError(str(exc), permanent=True) from None
    if not _mark(db, push.id, "sent", at=utcnow()):
        return 200, "sent (the decision changed meanwhile)"
    _refresh(db, connector, request, push.version)
    return 200, "sent"


def _refresh(db: Database, connector, request: MarketplaceRequest, sent_on: str) -> None:
    """After the platform accepted a decision its version moved because of us: read the request again, so the next
    decision carries the new version and the next pull does not take our own change for the buyer's. Best effort
    (the next pull reads it anyway), and only while nobody stored another version meanwhile."""
    try:
        fresh = connector.get(request.external_id)
    except PlatformError:
        return
    with db.transaction() as session:
        stored = session.get(MarketplaceRequest, request.id)
        if stored is None or stored.version != sent_on or stored.conflict:
            return
        copy_request(stored, fresh, stored.pulled_at)
        session.execute(update(MarketplacePush).where(
            MarketplacePush.request_id == stored.id, MarketplacePush.status == "pending",
            MarketplacePush.version == sent_on).values(version=fresh.version))


def resolve(session: Session, merchant_id: int, request_id: int, keep: str, now: datetime) -> MarketplaceRequest:
    """Staff settle a conflict: keep="desk" sends the held decisions again with the platform's current version;
    keep="platform" drops them. Either way the flag is cleared and the choice stays on the pushes."""
    request = session.get(MarketplaceRequest, request_id)
    if request is None or request.merchant_id != merchant_id:
        raise Explained("request", N_("no synced request {request} in this shop"), request=request_id,
                        code="not_found", status=404)
    if not request.conflict:
        raise Explained("request", N_("this request is not in conflict"), code="not_in_conflict", status=409)
    if keep not in ("desk", "platform"):
        raise Explained("keep", N_("either desk or platform"))
    pushes = session.scalars(select(MarketplacePush).where(MarketplacePush.request_id == request.id,
                                                           MarketplacePush.status.in_(("pending", "held", "stale"))))
    for push in pushes:
        if keep == "platform":
            push.status, push.error = "dropped", "staff kept the platform's side of a conflict"
            continue
        push.status, push.version, push.error = "pending", request.version, ""
        session.add(OutboxMessage(merchant_id=merchant_id, case_id=push.case_id, topic=TOPIC, status="pending",
                                  attempts=0, available_at=now, created_at=now,
                                  payload={"push_id": push.id, "endpoint_id": f"{request.platform}-{merchant_id}",
                                           "decision": push.decision}))
    request.conflict = None
    session.flush()
    return request
