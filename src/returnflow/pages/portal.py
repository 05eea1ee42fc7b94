"""Customer access without an account: order number + the contact on the order, confirmed by a one-time code;
then a session that sees only that customer's orders and cases at that merchant."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import utcnow
from ..merchants.models import Merchant
from ..orders import contacts
from ..notify.secrets import enqueue_code
from ..orders.models import Customer, Order
from .frame import N_, PageError
from .models import PortalAttempt, PortalCode, PortalSession

CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5                 # wrong entries before a code is void
SESSION_TTL = timedelta(hours=2)
WINDOW = timedelta(minutes=15)    # the throttles' window
# Only failures count against a requester (an IPv4 address, or an IPv6 /64): a stranger's wrong guesses throttle
# the stranger, never the customer elsewhere, and successful look-ups from a shared network are never counted.
FAILS_PER_REQUESTER = 20          # failed look-ups per requester per window, over all order numbers
FAILS_PER_REQUESTER_ORDER = 5     # failed look-ups of one order number by one requester per window
CODE_FAILS_PER_REQUESTER = 10     # wrong, void or stale code entries per requester per window
# Codes go only to the contact on the order, but someone who knows it could flood the customer with them.
CODES_PER_ORDER = 5               # codes sent for one order per window, whoever asked

NO_MATCH = N_("We could not find an order with this order number and this email or phone. Check both and try again.")
TOO_MANY = N_("Too many attempts. Wait {minutes} minutes and try again.")
CODES_ENOUGH = N_("Several codes were sent for this order already. Use the newest one, or wait {minutes} minutes "
                  "and ask again.")
CODE_WRONG = N_("The code is not right. {left} attempts left.")
CODE_EXPIRED = N_("This code has expired or was already used. Ask for a new code.")
CODE_VOID = N_("Too many wrong codes: this code no longer works. Ask for a new code.")
# Said before any look-up (it depends only on the deployment and on what was typed), so it reveals no order.
NO_EMAIL_USE_PHONE = N_("This shop cannot send codes by email. Enter the phone number used for the order instead.")
NO_SMS_USE_EMAIL = N_("This shop cannot send codes by text message. Enter the email address used for the order "
                      "instead.")
NO_CHANNEL = N_("This shop cannot send sign-in codes at the moment: neither email nor text messages are set up. "
                "Please contact the shop.")
CHANNELS = ("email", "sms")


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def requester(client: str) -> str:
    """Who is asking, for the throttles: the IPv4 address, or the /64 of an IPv6 address (one subscriber's network,
    whose addresses the subscriber can change at will)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _hash(challenge: str, code: str) -> str:
    return hashlib.sha256(f"{challenge}:{code}".encode()).hexdigest()


def merchant_by_code(session: Session, code: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.code == code))
    if merchant is None:
        raise PageError("merchant_not_found", N_("This shop does not exist."), status=404)
    return merchant


def _refuse_when(session: Session, key: str, limit: int, now: datetime, text: str = TOO_MANY) -> None:
    """Refuses (429) when the window already holds `limit` attempts counted under `key`."""
    count = session.scalar(select(func.count()).select_from(PortalAttempt).where(
        PortalAttempt.key == key, PortalAttempt.created_at > now - WINDOW)) or 0
    if count >= limit:
        raise PageError("too_many_attempts", text, status=429, minutes=int(WINDOW.total_seconds() // 60))


def _count(session: Session, now: datetime, *keys: str) -> None:
    session.add_all(PortalAttempt(key=key[:200], created_at=now) for key in keys)


def _order_key(number: str) -> str:
    # A digest keeps the key short and free of whatever bytes were typed.
    return hashlib.sha256(number.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class CodeSent:
    challenge: str
    channel: str
    masked: str


def unreachable(contact: str, channels: frozenset[str] | set[str]) -> PageError | None:
    """The refusal when no configured provider reaches the kind of contact typed (before any look-up)."""
    if not channels:
        return PageError("no_channel", NO_CHANNEL, field="contact", status=409)
    wanted = "email" if "@" in contact else "sms"
    if wanted in channels:
        return None
    return PageError("channel_unavailable", NO_EMAIL_USE_PHONE if wanted == "email" else NO_SMS_USE_EMAIL,
                     field="contact", status=409)


def request_code(session: Session, *, merchant: Merchant, order_number: str, contact: str, client: str,
                 locale: str, now: datetime | None = None,
                 channels: frozenset[str] | set[str] = frozenset(CHANNELS)) -> CodeSent | PageError:
    """Sends a one-time code to the order's email or phone if `contact` is one of them; the refusal never says
    which of the two did not match. A refusal is returned, not raised, so the attempt it counted is kept.
    Order numbers are matched trimmed and whatever their letter case."""
    now = now or utcnow()
    order_number, contact = order_number.strip(), contact.strip()
    if not order_number:
        raise PageError("required", N_("Enter the order number."), field="order")
    if not contact:
        raise PageError("required", N_("Enter the email or phone number used for the order."), field="contact")
    refusal = unreachable(contact, channels)
    if refusal is not None:
        return refusal
    who = requester(client)
    fails, fails_here = f"lookup-fail:{who}", f"lookup-fail:{who}:{merchant.id}:{_order_key(order_number.upper())}"
    _refuse_when(session, fails, FAILS_PER_REQUESTER, now)
    _refuse_when(session, fails_here, FAILS_PER_REQUESTER_ORDER, now)
    # No order number holds a NUL byte, and PostgreSQL refuses one in a query: a failed look-up like any other.
    row = None if "\x00" in order_number else session.execute(
        select(Order.id, Customer.id, Customer.email, Customer.phone, Customer.locale)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.merchant_id == merchant.id, func.upper(Order.number) == order_number[:100].upper())
        .order_by(Order.id)).first()
    channel, region = None, contacts.region_of(merchant)
    if row is not None:
        if "@" in contact and contacts.same_email(contact, row[2]):
            channel, address = "email", row[2].strip()
        elif "@" not in contact and contacts.same_phone(contact, row[3], region):
            channel, address = "sms", contacts.phone_e164(row[3], region)
    if channel is None:
        _count(session, now, fails, fails_here)
        return PageError("no_match", NO_MATCH, field="order")
    sent = f"code-sent:{row[0]}"
    _refuse_when(session, sent, CODES_PER_ORDER, now, CODES_ENOUGH)
    _count(session, now, sent)
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


def sent_to(session: Session, row: PortalCode | None) -> dict[str, str | None]:
    """The channel a code went by and the masked address, for the page that asks for it."""
    if row is None:
        return {"channel": None, "masked": None}
    customer = session.get(Customer, row.customer_id)
    merchant = session.get(Merchant, row.merchant_id)
    if customer is None:
        return {"channel": row.channel, "masked": None}
    address = customer.email if row.channel == "email" else contacts.phone_e164(customer.phone,
                                                                                 contacts.region_of(merchant))
    return {"channel": row.channel, "masked": _mask(address or "", row.channel)}


def code_info(session: Session, *, merchant: Merchant, challenge: str) -> PortalCode | None:
    if "\x00" in challenge:
        return None
    return session.scalar(select(PortalCode).where(PortalCode.challenge == challenge[:64],
                                                   PortalCode.merchant_id == merchant.id))


def verify_code(session: Session, *, merchant: Merchant, challenge: str, code: str, client: str,
                now: datetime | None = None) -> str | PageError:
    """Checks the code; right → a new session token (returned once). A wrong code is counted and the refusal
    returned (not raised), so the count is kept."""
    now = now or utcnow()
    fails = f"code-fail:{requester(client)}"
    _refuse_when(session, fails, CODE_FAILS_PER_REQUESTER, now)
    row = code_info(session, merchant=merchant, challenge=challenge)
    refusal = None
    if row is None or row.used_at is not None or row.expires_at <= now:
        refusal = PageError("code_expired", CODE_EXPIRED, field="code", status=410)
    elif row.attempts >= CODE_ATTEMPTS:
        refusal = PageError("code_void", CODE_VOID, field="code", status=429)
    elif not secrets.compare_digest(_hash(row.challenge, re.sub(r"\s", "", code or "")), row.code_hash):
        row.attempts += 1
        left = CODE_ATTEMPTS - row.attempts
        refusal = (PageError("code_void", CODE_VOID, field="code", status=429) if left <= 0
                   else PageError("code_wrong", CODE_WRONG, field="code", left=left))
    if refusal is not None:
        _count(session, now, fails)
        return refusal
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
