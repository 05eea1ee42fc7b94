"""Notification templates in zh-CN and en with {placeholders}: built in, editable per merchant.

Placeholders are plain names (`{number}`); a template may use only the fields its key documents, so a merchant's
typo is refused when saved, and a message whose data lacks a field fails visibly (and retries) when rendered.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import Explained
from ..i18n import N_, SUPPORTED, gettext, match
from ..texts.notifications import NOTIFICATIONS
from .models import MessageTemplate
from ..merchants.clock import zone_of

LOCALES = SUPPORTED
CASE = ("number", "state", "state_label")


class Catalogued:
    """A built-in template's (subject, body) in a language, from the catalogs: `texts[locale]`."""

    def __init__(self, subject: str, body: str) -> None:
        self.subject, self.body = subject, body

    def __getitem__(self, locale: str) -> tuple[str, str]:
        return gettext(locale, self.subject), gettext(locale, self.body)


@dataclass(frozen=True)
class Builtin:
    fields: tuple[str, ...]
    texts: Catalogued  # texts[locale] -> (subject, body)


BUILTIN: dict[str, Builtin] = {key: Builtin(fields, Catalogued(*NOTIFICATIONS[key])) for key, fields in {
    "otp_code": ("code", "minutes"),
    "case_opened": CASE,
    "case_update": CASE,
    "case_info_requested": CASE + ("message",),
    "case_rejected": CASE + ("reason",),
    "case_message": ("case", "body"),
    "case_shared": ("number", "message"),
    "return_instructions": CASE + ("address", "deadline"),
    "case_closed": CASE,
    "survey_invitation": CASE,
    "staff_reminder": ("number", "step", "step_zh", "rule", "due_at"),
    "staff_escalation": ("number", "step", "step_zh", "rule", "due_at"),
    "case_assigned": ("number", "state_label"),
    "advance_exchange_overdue": ("number", "due_at"),
    "refund_completed": ("case", "refund", "amount", "currency"),
    "advance_exchange_charged": ("number", "amount", "currency"),
    "advance_exchange_hold_released": ("number", "amount", "currency"),
    "parcel_failed_attempt": ("case", "carrier", "tracking_number", "direction"),
    "parcel_returned_to_sender": ("case", "carrier", "tracking_number", "direction"),
    "parcel_lost": ("case", "carrier", "tracking_number", "direction"),
    "parcel_damaged": ("case", "carrier", "tracking_number", "direction"),
    "follow_up_due": ("number", "due_at"),
}.items()}


class TemplateError(Exception):
    """A message cannot be rendered: unknown template, or data missing a placeholder."""


def placeholders(text: str) -> list[str]:
    """The {names} a template text uses; refuses anything but plain names ({a.b}, {a[0]}, {a!r}, {a:>5})."""
    names = []
    for _lit, name, spec, conv in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise ValueError(name or "{}")
        names.append(name)
    return names


def check(key: str, locale: str, subject: str, body: str) -> None:
    """Refuses a merchant's template that is unknown or uses a placeholder its key does not provide."""
    if key not in BUILTIN:
        raise Explained("key", N_("'{key}' is not a template"), code="unknown_template", allowed=sorted(BUILTIN),
                        status=404, key=key)
    if locale not in LOCALES:
        raise Explained("locale", N_("'{locale}' is not supported"), allowed=list(LOCALES), locale=locale)
    fields = BUILTIN[key].fields
    for part, text in (("subject", subject), ("body", body)):
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise Explained(part, N_("placeholder {{{name}}} is not allowed: use plain names such as {{number}}"),
                            code="template_placeholder", allowed=list(fields), name=str(exc)) from None
        for name in names:
            if name not in fields:
                raise Explained(part, N_("placeholder {{{name}}} is not available in template {key}"),
                                code="template_placeholder", allowed=list(fields), name=name, key=key)


_MERCHANT_TEXT = select(MessageTemplate.subject, MessageTemplate.body).where(
    MessageTemplate.merchant_id == bindparam("merchant_id"), MessageTemplate.key == bindparam("key"),
    MessageTemplate.locale == bindparam("locale"))


def texts(session: Session, merchant_id: int | None, key: str, locale: str) -> tuple[str, str]:
    """(subject, body) of `key` in `locale`: the merchant's wording if it has one, else the built-in text."""
    if key not in BUILTIN:
        raise TemplateError(f"template '{key}' does not exist; known: {', '.join(sorted(BUILTIN))}")
    locale = match(locale) or "zh-CN"
    if merchant_id is not None:
        cache = _batch.get()
        found = cache.get((merchant_id, key, locale), _UNKNOWN) if cache is not None else _UNKNOWN
        if found is _UNKNOWN:
            row = session.connection().execute(_MERCHANT_TEXT, {"merchant_id": merchant_id, "key": key,
                                                                "locale": locale}).first()
            found = (row.subject, row.body) if row is not None else None
            if cache is not None:
                cache[(merchant_id, key, locale)] = found
        if found is not None:
            return found
    return BUILTIN[key].texts[locale]


def cached_texts(merchant_id: int | None, key: str, locale: str) -> tuple[str, str] | None:
    """(subject, body) when `texts` can answer without the database (inside `one_batch`, once looked up)."""
    if key not in BUILTIN:
        return None
    locale = match(locale) or "zh-CN"
    if merchant_id is None:
        return BUILTIN[key].texts[locale]
    cache = _batch.get()
    found = cache.get((merchant_id, key, locale), _UNKNOWN) if cache is not None else _UNKNOWN
    if found is _UNKNOWN:
        return None
    return found if found is not None else BUILTIN[key].texts[locale]


@contextmanager
def one_batch() -> Iterator[None]:
    """Within the block, each merchant's wording of a template is looked up once (the worker's delivery batch: a
    template saved meanwhile applies from the next batch on)."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


_UNKNOWN = object()
_batch: ContextVar[dict | None] = ContextVar("returnflow_template_batch", default=None)


def fill(text: str, data: dict, key: str) -> str:
    """`text` with its placeholders filled from `data`; a missing field is a TemplateError naming it."""
    try:
        names = placeholders(text)
    except ValueError as exc:
        raise TemplateError(f"template {key}: placeholder {{{exc}}} is not a plain name") from None
    missing = [n for n in names if n not in data]
    if missing:
        raise TemplateError(f"template {key} needs {', '.join('{' + n + '}' for n in missing)}; "
                            f"the message data has: {', '.join(sorted(data)) or 'nothing'}")
    return text.format(**{n: data[n] for n in names})


def render(session: Session, merchant_id: int | None, key: str, locale: str, data: dict) -> tuple[str, str]:
    """The (subject, body) of a message; its times read in the merchant's zone, as on the portal and the label."""
    subject, body = texts(session, merchant_id, key, locale)
    data = local_times(session, merchant_id, readable(data, locale))
    return fill(subject, data, key), fill(body, data, key)


def readable(data: dict, locale: str) -> dict:
    """`data` with what a template shows as words made so: a return address (the producers keep it structured, for
    the portal and integrations) as one line in the reader's language; and `number` where a message queued before
    2026-12-07 named its case only as `case` (the return instructions did, so every one of them failed)."""
    out = data
    address = data.get("address")
    if isinstance(address, dict):
        out = {**out, "address": address_line(address, locale)}
    if "number" not in data and isinstance(data.get("case"), str):
        out = {**out, "number": data["case"]}
    return out


def address_line(address: dict, locale: str) -> str:
    """A return address on one line, as the portal shows it: the warehouse's name, the address to write on the
    parcel (with its English version after it for an English reader, when the merchant gave one), the postcode,
    the contact and phone; empty parts left out."""
    street = address.get("address") or ""
    if match(locale) == "en" and address.get("address_en") and address.get("address_en") != street:
        street = f"{street} ({address['address_en']})" if street else address["address_en"]
    contact = " ".join(str(p) for p in (address.get("contact"), address.get("phone")) if p)
    parts = [str(p) for p in (address.get("name"), street, address.get("postcode"), contact) if p]
    return gettext(locale, N_(", ")).join(parts)


def local_times(session: Session, merchant_id: int | None, data: dict) -> dict:
    """`data` with each ISO timestamp (e.g. a deadline) written as 'YYYY-MM-DD HH:MM' in the merchant's zone."""
    from datetime import datetime


    zone = None
    out = dict(data)
    for name, value in data.items():
        if not (isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value):
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            continue
        if moment.tzinfo is None:
            continue
        zone = zone or zone_of(session, merchant_id)
        out[name] = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return out
