"""The delivery log of the notifications settings page: every row the outbox holds for the merchant, whatever its
kind (notifications, webhooks, customer charges, inventory movements, anything added later), described in words.
A row never breaks the page: a payload of an unexpected shape reads as "Other message"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..cases.models import OutboxMessage
from ..notify.models import DeliveryAttempt
from ..notify.secrets import scrub
from . import settings_words as sw
from . import words
from .frame import gettext

REPLAYABLE = ("webhook", "notify")  # a dead one can be queued again from the page (never a secret one)


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def describe(topic: str, payload: Any, locale: str) -> tuple[str, str]:
    """(what the row is, where it goes) in the reader's language."""
    p = _mapping(payload)
    kind = sw.word(sw.KINDS, topic, locale, sw.OTHER_KIND)
    if topic == "notify":
        channel = sw.word(sw.CHANNELS, p.get("channel"), locale, sw.OTHER_KIND)
        template = sw.word(sw.TEMPLATES, p.get("template"), locale, sw.OTHER_KIND)
        recipient = str(p.get("to") or "").partition(":")[0]
        to = sw.word(sw.RECIPIENTS, recipient, locale) or sw.word(sw.CHANNELS, p.get("channel"), locale)
        return f"{channel}: {template}", to
    if topic == "webhook":
        event = p.get("event")
        event_type = event.get("type") if isinstance(event, dict) else event
        event_type = str(event_type or "")
        action = event_type.removeprefix("case.")
        if event_type in sw.WEBHOOK_EVENTS:
            what = sw.word(sw.WEBHOOK_EVENTS, event_type, locale)
        elif action in words.STAFF_STEPS:
            what = words.word(words.STAFF_STEPS, action, locale)
        else:
            what = gettext(locale, sw.OTHER_KIND)
        endpoint = p.get("endpoint_id")
        return f"{kind}: {what}", f"#{endpoint}" if isinstance(endpoint, int) else "—"
    if topic == "customer_charge":
        return kind, sw.word(sw.RECIPIENTS, "customer", locale)
    return kind, "—"


def rows(session: Session, merchant_id: int, locale: str, limit: int = 50) -> list[dict[str, Any]]:
    found = list(session.scalars(select(OutboxMessage).where(OutboxMessage.merchant_id == merchant_id)
                                 .order_by(OutboxMessage.id.desc()).limit(limit)))
    last: dict[int, DeliveryAttempt] = {}
    if found:
        latest = (select(func.max(DeliveryAttempt.id)).where(DeliveryAttempt.outbox_id.in_([r.id for r in found]))
                  .group_by(DeliveryAttempt.outbox_id))
        last = {a.outbox_id: a for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.id.in_(latest)))}
    result = []
    for r in found:
        what, to = describe(r.topic, r.payload, locale)
        attempt = last.get(r.id)
        error = attempt.error if attempt is not None and not attempt.ok else ""
        result.append({"id": r.id, "topic": r.topic, "status": r.status, "attempts": r.attempts, "at": r.created_at,
                       "what": what, "to": to, "status_word": sw.word(sw.STATUSES, r.status, locale, sw.OTHER_KIND),
                       "error": scrub(error, _mapping(r.payload)) if r.secret else error,
                       "replayable": r.status == "dead" and r.topic in REPLAYABLE and not r.secret})
    return result
