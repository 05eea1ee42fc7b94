"""What the warehouse and finance screens share: who may open them (a translated 403 page for everyone else),
photos taken at the desk, and form values."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..actor import Actor
from ..cases.evidence import attach
from ..errors import AppError
from . import words
from .frame import FLASH, N_, PageError, gettext, locale_of
from .portal_open import _uploads
from .staff_pages import _ctx, staff_actor

# Who sees which screens: the warehouse's receiving and inspection, finance's refunds and vouchers.
WAREHOUSE_ROLES = ("warehouse", "supervisor", "admin")
FINANCE_ROLES = ("finance", "supervisor", "admin")
SCREENS = {"warehouse": (N_("the receiving and inspection screens"), WAREHOUSE_ROLES),
           "finance": (N_("the finance screens"), FINANCE_ROLES)}
MAX_PHOTOS = 10

FLASH.update({
    "parcel_received": N_("The parcel was recorded and the case received."),
    "parcel_exception": N_("Nothing matched: the parcel is in the exceptions queue."),
    "parcel_case_not_receiving": N_("The case is not waiting for goods: the parcel is in the exceptions queue."),
    "parcel_matched": N_("The parcel was matched to the case and received."),
    "inspected": N_("The inspection was recorded."),
    "disposed": N_("The disposition was recorded."),
    "refund_requested": N_("The refund was requested."),
    "refund_approved": N_("The refund was approved."),
    "refund_rejected": N_("The refund was rejected."),
    "refund_executed": N_("The refund was sent for payment."),
    "refund_paid": N_("The payment was recorded as paid."),
})


def screen_actor(request: Request, screen: str, roles: tuple[str, ...] | None = None) -> Actor:
    """The signed-in staff member, if their role may use `screen`; otherwise a 403 page saying who may."""
    actor = staff_actor(request)
    what, allowed = SCREENS[screen]
    allowed = roles or allowed
    if actor.role not in allowed:
        locale = locale_of(request)
        sep = gettext(locale, N_(", "))  # the reader's list separator ("、" in Chinese)
        raise PageError("forbidden_role", N_("Your role ({role}) may not use {screen}; they are for: {allowed}."),
                        status=403, role=words.word(words.ROLES, actor.role, locale), screen=gettext(locale, what),
                        allowed=sep.join(words.word(words.ROLES, r, locale) for r in allowed))
    return actor


def can(actor: Actor | None, screen: str) -> bool:
    return actor is not None and actor.role in SCREENS[screen][1]


def ctx(actor: Actor, **more: Any) -> dict[str, Any]:
    return _ctx(actor, **more)


def files_of(form) -> list:
    return [f for f in form.getlist("photos") if getattr(f, "filename", None)][:MAX_PHOTOS]


async def receive_photos(request: Request, files) -> list:
    """The uploaded photos checked by content and size (the same rules as everywhere); the caller closes them."""
    return await _uploads(request, files)


def attach_photos(request: Request, session, actor: Actor, case, uploads, visibility: str | None = None) -> list[int]:
    """Puts the photos on the case (inside the caller's transaction) and returns their attachment ids; they are
    internal unless `visibility` is "customer" (the form's "show to the customer" box)."""
    settings, store = request.app.state.settings, request.app.state.store
    return [attach(session, store=store, settings=settings, actor=actor, case=case, upload=u,
                   visibility=visibility).id for u in uploads]


def close_all(uploads) -> None:
    for upload in uploads:
        upload.close()


def error_of(request: Request, exc: AppError) -> dict[str, Any]:
    return exc.render(locale_of(request))


def text(form, name: str, limit: int = 2000) -> str:
    return str(form.get(name) or "").strip()[:limit]


def whole(form, name: str) -> int | None:
    """A whole number from the form (None when empty); anything else is refused naming the field."""
    raw = text(form, name, 20)
    if not raw:
        return None
    if not raw.isdigit():
        raise PageError("quantity", N_("Quantities must be whole numbers."), field=name)
    return int(raw)
