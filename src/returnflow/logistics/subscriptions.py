"""Kuaidi100 subscriptions for return parcels, and the pushes that come back.

Each return parcel of a merchant that tracks through Kuaidi100 is subscribed by the worker (outbox topic
`tracking_subscribe`, queued by the `ship_return` event, so a parcel recorded any way gets one, once): the call is
made outside any transaction and retried with backoff while Kuaidi100 does not answer; its outcome is kept on the
shipment (`subscription`). A push is checked against the salt of its tracking number, its events stored once each
(redelivery changes nothing), and an `abort` (3天查询无记录, 60天无变化) — or a `shutdown` while the parcel is not yet
delivered, returned or lost — subscribes the parcel again — up to
RESUBSCRIBE_LIMIT times, once per abort however often that push is redelivered.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases import store
from ..cases.store import CaseRecord
from ..db import Database, utcnow
from ..merchants.models import Merchant
from ..notify.channels import DeliveryError
from ..notify.config import DeliverySettings
from ..notify.outbox import Claimed
from . import kuaidi100, tracking_settings
from .adapters import Parsed
from .models import Shipment

log = logging.getLogger("returnflow.tracking")
TOPIC = "tracking_subscribe"
RESUBSCRIBE_LIMIT = 3
FINAL = ("delivered", "returned_to_sender", "lost")


def subscribe_on_ship_return(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """Workflow side effect: the return parcel just recorded is subscribed with Kuaidi100 (when the merchant
    tracks through it). Runs after logistics.hooks made the shipment of a plainly recorded return."""
    if event["action"] != "ship_return":
        return []
    if not tracking_settings.kuaidi100_ready(tracking_settings.raw(session, case.merchant_id)):
        return []
    shipment_id = (event.get("payload") or {}).get("shipment_id") or session.scalar(
        select(Shipment.id).where(Shipment.case_id == case.id, Shipment.direction == "inbound")
        .order_by(Shipment.id.desc()).limit(1))
    if shipment_id is None:
        return []
    return [{"topic": TOPIC, "payload": {"shipment_id": shipment_id}}]


def _callback(settings: kuaidi100.Kuaidi100Settings, merchant_code: str, hook_secret: str) -> str:
    return settings.public_url.rstrip("/") + tracking_settings.hook_path(merchant_code, "kuaidi100", hook_secret)


def deliver(db: Database, settings: DeliverySettings, message: Claimed) -> tuple[int | None, str]:
    """The outbox handler: subscribes one shipment. No answer: DeliveryError (retried). A refusal (bad key, a
    number Kuaidi100 will not track) is recorded on the shipment and not retried."""
    with db.read() as session:
        shipment = session.get(Shipment, message.payload.get("shipment_id"))
        if shipment is None:
            return None, "no such shipment"
        values = tracking_settings.raw(session, shipment.merchant_id)
        merchant_code = session.scalar(select(Merchant.code).where(Merchant.id == shipment.merchant_id))
        carrier, number = shipment.carrier, shipment.tracking_number
    if not tracking_settings.kuaidi100_ready(values) or not values["hook_secret"]:
        return None, "Kuaidi100 is not configured for the merchant"
    config = kuaidi100.Kuaidi100Settings()
    if not config.public_url:  # Kuaidi100 could not push anywhere: wait (retried, replayable once it is set)
        raise DeliveryError("RETURNFLOW_PUBLIC_URL is not set: Kuaidi100 needs the desk's address to push to")
    company = kuaidi100.COMPANIES.get(carrier, "auto")
    try:
        answer = kuaidi100.subscribe(config, company=company, number=number, key=values["kuaidi100_key"],
                                     callback_url=_callback(config, merchant_code, values["hook_secret"]),
                                     salt=tracking_settings.salt(values["hook_secret"], number))
    except kuaidi100.ProviderDown as exc:
        raise DeliveryError(str(exc)) from None
    with db.transaction() as session:
        row = session.get(Shipment, shipment.id, with_for_update=True)
        previous = dict(row.subscription or {})
        row.subscription = {**previous, "provider": "kuaidi100", "state": "subscribed" if answer.ok else "refused",
                            "code": answer.code, "message": answer.message, "at": utcnow().isoformat(),
                            "resubscribed": previous.get("resubscribed", 0)}
    return 200, f"kuaidi100 {answer.code}"



# ---- pushes --------------------------------------------------------------------------------------------------

class Refused(Exception):
    """A push that is not taken: forged or tampered (signature), or not a push. `reason` is for the log."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def handle_push(session: Session, *, merchant_id: int, hook_secret: str, param: str, sign: str,
                locale: str = "zh-CN") -> dict[str, Any]:
    """One Kuaidi100 push for the merchant (its URL token already checked): the signature over `param` with the
    number's salt, then the events (each once), then the subscription's state."""
    from .tracking import ingest_parsed

    try:
        push = kuaidi100.parse_push(param)
    except kuaidi100.BadPush as exc:
        raise Refused(f"unreadable push: {exc}", 400) from None
    if not push.number:
        raise Refused("push without lastResult.nu", 400)
    if not kuaidi100.push_sign_ok(param, sign, tracking_settings.salt(hook_secret, push.number)):
        raise Refused("signature does not match the number's salt")
    shipment = session.scalar(select(Shipment).where(
        Shipment.merchant_id == merchant_id, Shipment.tracking_number == push.number,
        *( [Shipment.carrier == push.carrier] if push.carrier else [])).order_by(Shipment.id.desc()).limit(1)
        .with_for_update())
    carrier = push.carrier or (shipment.carrier if shipment is not None else "OTHER")
    updates = [replace(u, carrier=carrier) for u in push.updates]
    summary = ingest_parsed(session, merchant_id=merchant_id, parsed=Parsed(updates, []), locale=locale)
    summary["resubscribed"] = False
    if shipment is not None:
        summary["resubscribed"] = _after(session, shipment, push, param)
    return summary


def _after(session: Session, shipment: Shipment, push: kuaidi100.Push, param: str) -> bool:
    """Records what the push says of the subscription; an abort, or a shutdown before the parcel's journey is over,
    subscribes again (once per push, at most RESUBSCRIBE_LIMIT times)."""
    sub = dict(shipment.subscription or {"provider": "kuaidi100", "resubscribed": 0})
    sub["last_push"] = push.status
    if push.status == "shutdown" and shipment.status in FINAL:
        sub["state"] = "ended"  # the parcel's journey is over: nothing more to follow
    # A shutdown before the parcel arrived (Kuaidi100 stopped following it) is treated like an abort.
    if push.status not in ("abort", "shutdown") or sub.get("state") == "ended":
        shipment.subscription = sub
        return False
    digest = hashlib.sha256(param.encode()).hexdigest()[:32]
    if sub.get("last_abort") == digest:  # the same abort delivered again: it was handled the first time
        return False
    sub.update(last_abort=digest, state="aborted", message=push.message[:200])
    again = shipment.status not in FINAL and sub.get("resubscribed", 0) < RESUBSCRIBE_LIMIT
    if again:
        sub["resubscribed"] = sub.get("resubscribed", 0) + 1
        sub["state"] = "resubscribing"
        store.enqueue(session, merchant_id=shipment.merchant_id, case_id=shipment.case_id, topic=TOPIC,
                      at=utcnow(), payload={"shipment_id": shipment.id})
    shipment.subscription = sub
    log.info("kuaidi100 abort for shipment %s (%s): %s", shipment.id, push.message[:60],
             "subscribing again" if again else "not subscribing again")
    return again
