"""Customer access without an account: order number + the contact on the order, confirmed by a one-time code;
then a session that sees only that customer's orders and cases at that merchant."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..db import utcnow
from ..merchants.models import Merchant
from ..notify.secrets import enqueue_code
from ..orders.models import Customer, Order
from .frame import N_, PageError
from .models import PortalAttempt, PortalCode, PortalSession

CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5                 # wrong entries before a code is void
SESSION_TTL = timedelta(hours=2)
WINDOW = timedelta(minutes=15)    # the throttle's window
LOOKUPS_PER_CLIENT = 10           # order look-ups per client address per window
LOOKUPS_PER_ORDER = 5             # look-ups (codes sent) per order number per window
CODES_PER_CLIENT = 20             # code entries per client address per window

NO_MATCH = N_("We could not find an order with this order number and this email or phone. Check both and try again.")
TOO_MANY = N_("Too many attempts. Wait {minutes} minutes and try again.")
CODE_WRONG = N_("The code is not right. {left} attempts left.")
CODE_EXPIRED = N_("This code has expired or was already used. Ask for a new code.")
CODE_VOID = N_("Too many wrong codes: this code no longer works. Ask for a new code.")


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def _same_phone(given: str, stored: str | None) -> bool:
    a, b = _digits(given), _digits(stored)
    if len(a) < 6 or len(b) < 6:
        return False
    # +86 138... and 138... are the same number.
    return a == b or a.endswith(b) and len(a) - len(b) <= 3 or b.endswith(a) and len(b) - len(a) <= 3


def _hash(challenge: str, code: str) -> str:
    return hashlib.sha256(f"{challenge}:{code}".encode()).hexdigest()


def merchant_by_code(session: Session, code: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.code == code))
    if merchant is None:
        raise PageError("merchant_not_found", N_("This shop does not exist."), status=404)
    return merchant


def _throttle(session: Session, key: str, limit: int, now: datetime) -> None:
    """Counts an attempt under `key`; refuses when the window already holds `limit` of them."""
    since = now - WINDOW
    count = session.scalar(select(func.count()).select_from(PortalAttempt).where(
        PortalAttempt.key == key, PortalAttempt.created_at > since)) or 0
    if count >= limit:
        raise PageError("too_many_attempts", TOO_MANY, status=429, minutes=int(WINDOW.total_seconds() // 60))
    session.add(PortalAttempt(key=key[:200], created_at=now))


@dataclass
class CodeSent:
    challenge: str
    channel: str
    masked: str


def request_code(session: Session, *, merchant: Merchant, order_number: str, contact: str, client: str,
                 locale: str, now: datetime | None = None) -> CodeSent | PageError:
    """Sends a one-time code to the order's email or phone if `contact` is one of them; the refusal never says
    which of the two did not match. A refusal is returned, not raised, so the attempt it counted is kept."""
    now = now or utcnow()
    order_number, contact = order_number.strip(), contact.strip()
    if not order_number:
        raise PageError("required", N_("Enter the order number."), field="order")
    if not contact:
        raise PageError("required", N_("Enter the email or phone number used for the order."), field="contact")
    _throttle(session, f"lookup-ip:{client}", LOOKUPS_PER_CLIENT, now)
    _throttle(session, f"lookup-order:{merchant.id}:{order_number[:100]}", LOOKUPS_PER_ORDER, now)
    row = session.execute(select(Order.id, Customer.id, Customer.email, Customer.phone, Customer.locale)
                          .join(Customer, Customer.id == Order.customer_id)
                          .where(Order.merchant_id == merchant.id, Order.number == order_number[:100])).first()
    channel = None
    if row is not None:
        if "@" in contact and row[2] and contact.lower() == row[2].strip().lower():
            channel, address = "email", row[2].strip()
        elif "@" not in contact and _same_phone(contact, row[3]):
            channel, address = "sms", row[3].strip()
    if channel is None:
        return PageError("no_match", NO_MATCH, field="order")
    order_id, customer_id = row[0], row[1]
    code = f"{secrets.randbelow(1_000_000):06d}"
    challenge = secrets.token_urlsafe(24)
    session.add(PortalCode(challenge=challenge, merchant_id=merchant.id, customer_id=customer_id, order_id=order_id,
                           code_hash=_hash(challenge, code), channel=channel, attempts=0,
                           expires_at=now + CODE_TTL, created_at=now))
    # Only the customer reads the code: the message is secret, first in line, and redacted once delivered.
    enqueue_code(session, merchant_id=merchant.id, now=now, expires_at=now + CODE_TTL, payload={
        "channel": channel, "to": address, "locale": locale, "template": "otp_code",
        "data": {"code": code, "order": order_number, "minutes": int(CODE_TTL.total_seconds() // 60),
                 "merchant": merchant.name}})
    return CodeSent(challenge=challenge, channel=channel, masked=_mask(address, channel))


def _mask(address: str, channel: str) -> str:
    if channel == "email":
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    digits = _digits(address)
    return f"***{digits[-4:]}"


def code_info(session: Session, *, merchant: Merchant, challenge: str) -> PortalCode | None:
    return session.scalar(select(PortalCode).where(PortalCode.challenge == challenge[:64],
                                                   PortalCode.merchant_id == merchant.id))


def verify_code(session: Session, *, merchant: Merchant, challenge: str, code: str, client: str,
                now: datetime | None = None) -> str | PageError:
    """Checks the code; right → a new session token (returned once). A wrong code is counted and the refusal
    returned (not raised), so the count is kept."""
    now = now or utcnow()
    _throttle(session, f"code-ip:{client}", CODES_PER_CLIENT, now)
    row = code_info(session, merchant=merchant, challenge=challenge)
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise PageError("code_expired", CODE_EXPIRED, field="code", status=410)
    if row.attempts >= CODE_ATTEMPTS:
        raise PageError("code_void", CODE_VOID, field="code", status=429)
    given = re.sub(r"\s", "", code or "")
    if not secrets.compare_digest(_hash(row.challenge, given), row.code_hash):
        row.attempts += 1
        session.flush()
        left = CODE_ATTEMPTS - row.attempts
        if left <= 0:
            return PageError("code_void", CODE_VOID, field="code", status=429)
        return PageError("code_wrong", CODE_WRONG, field="code", left=left)
    row.used_at = now
    token = secrets.token_urlsafe(32)
    session.add(PortalSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), merchant_id=merchant.id,
                              customer_id=row.customer_id, expires_at=now + SESSION_TTL, created_at=now))
    # Old throttle rows are no longer counted: drop them now and then.
    session.execute(delete(PortalAttempt).where(PortalAttempt.created_at < now - WINDOW))
    return token


def customer_actor(session: Session, *, merchant: Merchant, token: str | None,
                   now: datetime | None = None) -> Actor | None:
    """The customer a portal session token belongs to at this merchant, or None (unknown, expired, signed out)."""
    if not token:
        return None
    now = now or utcnow()
    row = session.execute(select(PortalSession.customer_id, PortalSession.expires_at, Customer.name)
                          .join(Customer, Customer.id == PortalSession.customer_id)
                          .where(PortalSession.token_hash == hashlib.sha256(token.encode()).hexdigest(),
                                 PortalSession.merchant_id == merchant.id,
                                 PortalSession.revoked.is_(False))).first()
    if row is None or row[1] <= now:
        return None
    return Actor(kind="customer", role="customer", merchant_id=merchant.id, customer_id=row[0], name=row[2] or "")


def sign_out(session: Session, *, token: str) -> None:
    session.execute(update(PortalSession).where(
        PortalSession.token_hash == hashlib.sha256(token.encode()).hexdigest()).values(revoked=True))
