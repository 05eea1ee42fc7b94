"""Outbound webhooks: every case event, as signed JSON, to each of the merchant's endpoints that wants it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord, run
from ..db import Database
from ..errors import Explained
from ..i18n import N_
from ..outbound import Allowed, check_form, check_url, excerpt
from .channels import DeliveryError, post_json
from .config import DeliverySettings
from ..cases.models import WebhookEndpoint
from .outbox import Claimed
from ..cases.workflow import ACTIONS


def check_endpoint(url: str, events: list[str], allowed: Allowed, *, events_field: str | None = None) -> None:
    """What an endpoint must be (the API and the settings page): an http(s) URL whose host resolves only to public
    addresses (or is allowed by the deployment), and known case events. Resolves the host: call it off the event
    loop. A bad event is named as `events[i]`, or as `events_field` where the events came in one field."""
    check_form(url, field="url")

    known = set(ACTIONS) | {"open"}
    for i, name in enumerate(events):
        if name.removeprefix("case.") not in known:
            raise Explained(events_field or f"events[{i}]", N_("'{event}' is not a case event"), allowed=sorted(known),
                            event=name)
    check_url(url, allowed, field="url")

TOPIC = "webhook"
SIGNATURE = "X-Returnflow-Signature"
_ENDPOINTS = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
    WebhookEndpoint.merchant_id == bindparam("merchant_id"), WebhookEndpoint.active.is_(True))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it with the shared secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """Checks a signature header against the body (for receivers, and tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        expected = sign(secret, int(parts["t"]), body)
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(expected, header)


def event_body(case: CaseRecord, event: dict) -> dict:
    at: datetime = event["created_at"]
    return {"type": f"case.{event['action']}", "case": case.number, "merchant": case.merchant_code,
            "order": case.order_number, "seq": event["seq"], "action": event["action"],
            "from_state": event["from_state"], "to_state": event["to_state"],
            "actor": {"kind": event["actor_kind"], "role": event["actor_role"], "id": event["actor_id"]},
            "payload": event["payload"], "created_at": at.isoformat()}


def webhook_events(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """One delivery per active endpoint of the merchant subscribed to this event (an empty list: every event)."""
    if case.channel == "import":
        return []  # imported history is not live: no clocks, no messages
    context = getattr(case, "context", None)
    if context is not None and not context.webhooks:
        return []  # read with the case: the merchant has no active endpoint
    endpoints = run(session, _ENDPOINTS, {"merchant_id": case.merchant_id}).all()
    if not endpoints:
        return []
    body = event_body(case, event)
    return [{"topic": TOPIC, "payload": {"endpoint_id": e.id, "event": body}} for e in endpoints
            if not e.events or event["action"] in e.events or body["type"] in e.events]


def event_deliveries(session: Session, merchant_id: int, event_type: str, data: dict) -> list[tuple[str, dict]]:
    """(topic, payload) of a non-case event (e.g. "inventory.movement") for each active endpoint of the merchant
    that wants it (no events listed: every event). No endpoint: nothing is queued, as nothing could deliver it."""
    endpoints = run(session, _ENDPOINTS, {"merchant_id": merchant_id}).all()
    return [(TOPIC, {"endpoint_id": e.id, "event": {"type": event_type, "data": data}}) for e in endpoints
            if not e.events or event_type in e.events]


def deliver(db: Database, settings: DeliverySettings, message: Claimed) -> tuple[int | None, str]:
    with db.read() as session:
        endpoint = session.get(WebhookEndpoint, message.payload.get("endpoint_id"))
        if endpoint is None or not endpoint.active:
            raise DeliveryError("the webhook endpoint was removed or deactivated")
        url, secret = endpoint.url, endpoint.secret
    event = message.payload.get("event", {})
    body = json.dumps({"id": message.id, **event}, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(datetime.now().timestamp())
    status, answer = post_json(url, body, {
        SIGNATURE: sign(secret, timestamp, body), "X-Returnflow-Delivery": str(message.id),
        "X-Returnflow-Event": event.get("type", ""), "X-Returnflow-Attempt": str(message.attempts)},
        settings.http_timeout_seconds, settings.allowed())
    if not 200 <= status < 300:
        # Only a short, cleaned excerpt of the receiver's answer is kept: it is shown to admins in the delivery log.
        raise DeliveryError(f"endpoint answered HTTP {status}: {excerpt(answer)}", status)
    return status, "accepted"

