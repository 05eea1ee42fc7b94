"""A provider's refund notification, end to end: the merchant's credentials, the signature (and for WeChat Pay the
decryption), the leg it names, the amount, then the outcome applied once. Anything refused is logged in
gateway_webhooks (the reconciliation's input) and in the log without secrets, and moves nothing."""

from __future__ import annotations

import logging

from sqlalchemy import select

from ...db import Database, utcnow
from ...merchants.models import Merchant
from ..gateways import GatewaySettings, Outcome
from ..models import GatewayWebhook, RefundPayment
from ..service import money_settings, refuse
from ..settle import record
from . import read_notification
from .config import missing
from .wechatpay import Refused, ABNORMAL
from ...i18n import ENGLISH, N_, SUPPORTED, gettext

log = logging.getLogger("returnflow.refunds")


def _log(db: Database, **row) -> None:
    with db.transaction() as session:
        session.add(GatewayWebhook(received_at=utcnow(), **row))


def notification(db: Database, settings: GatewaySettings, *, name: str, merchant: str, headers: dict,
                 body: bytes, form: dict) -> dict:
    text = body.decode("utf-8", "replace")[:20000]
    with db.read() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == merchant))
        conf = money_settings(session, merchant_id)["providers"].get(name) if merchant_id else None
    if conf is None or missing(name, conf):
        _log(db, gateway=name, outcome="rejected", reason=f"{name} is not configured for merchant {merchant}"[:300],
             body=text)
        raise refuse("merchant", N_("{name} is not configured for this merchant"), name=name,
                     code="not_configured", status=404)
    try:
        notice = read_notification(name, conf, headers=headers, body=body, form=form,
                                   tolerance=settings.webhook_tolerance_seconds)
    except Refused as exc:
        log.warning("%s notification refused for merchant %s: %s", name, merchant, exc.en)
        _log(db, gateway=name, outcome="rejected", reason=exc.en[:300], body=text)
        raise exc.refusal("signature", code="bad_signature", status=401) from None
    row = {"gateway": name, "event_id": notice.event_id[:100], "amount": notice.amount, "currency": notice.currency,
           "provider_ref": (notice.provider_ref or "")[:100] or None, "body": text, "status": notice.detail[:20]}
    with db.transaction() as session:
        leg = session.scalar(select(RefundPayment).where(RefundPayment.idempotency_key == notice.key,
                                                         RefundPayment.merchant_id == merchant_id,
                                                         RefundPayment.gateway == name).with_for_update())
        reason = said = None
        if leg is None:
            reason = f"unknown refund (out_refund_no {notice.key})"
            said = N_("unknown refund (the refund number matches no refund)")
        elif notice.currency != leg.currency or notice.amount is None or (
                notice.amount != leg.amount if name != "alipay" else notice.amount < leg.amount):
            # Alipay's refund_fee is the trade's refunded total: never less than this refund.
            reason = f"amount {notice.amount} {notice.currency} does not match the refund's {leg.amount} {leg.currency}"
            said = N_("the notification's amount or currency does not match the refund")
        if reason is None and notice.status == "sent":  # not final yet (Stripe's pending): acknowledged, nothing moves
            session.add(GatewayWebhook(refund_payment_id=leg.id, outcome="ignored", reason="not a final status",
                                       received_at=utcnow(), **row))
            return {"outcome": "ignored", "refund_payment": leg.number, "state": leg.state}
        if reason is None:
            seen = session.scalar(select(GatewayWebhook.id).where(
                GatewayWebhook.gateway == name, GatewayWebhook.event_id == row["event_id"],
                GatewayWebhook.outcome == "applied"))
            before = leg.state
            if seen is None:
                outcome = Outcome(notice.status, provider_ref=notice.provider_ref, amount=leg.amount,
                                  currency=leg.currency, error=f"{name}: {notice.detail}")
                if notice.status == "abnormal":  # stays sent, saying why (see wechatpay.ABNORMAL)

                    outcome = Outcome("unknown", provider_ref=notice.provider_ref, error=ABNORMAL)
                record(session, leg.id, outcome, by=f"gateway:{name}", source=f"{name} notification {notice.event_id}")
            changed = seen is None and leg.state != before
            session.add(GatewayWebhook(refund_payment_id=leg.id, outcome="applied" if changed else "duplicate",
                                       reason="" if changed else f"leg already {leg.state}", received_at=utcnow(),
                                       **row))
            return {"outcome": "applied" if changed else "duplicate", "refund_payment": leg.number,
                    "state": leg.state}
    log.warning("%s notification refused for merchant %s: %s", name, merchant, reason)
    _log(db, refund_payment_id=leg.id if leg is not None else None, outcome="rejected", reason=reason[:300], **row)
    raise refuse("data", N_("{problem}"), problem={tag: gettext(tag, said) for tag in SUPPORTED} | {ENGLISH: reason},
                 code="bad_webhook", status=404 if leg is None else 422)
