"""What the customer sees while following a case: the timeline in plain words (with "refunded", the amount and the
route once a refund is paid), the plan to confirm, the rating at the end, and files sent with messages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import visibility as visible
from ..cases.conversation import CaseMessage
from ..cases.evidence import MESSAGE_FILES, Receiver, Upload, attach
from ..cases.handoffs import TEAMS
from ..cases.messages import add_message
from ..cases.plans import KINDS
from ..cases.models import CaseEvent
from ..cases.store import CaseRecord
from ..errors import AppError
from ..money import fmt
from ..refunds.models import Refund, RefundPayment
from . import words
from .frame import N_, PageError, check_csrf, gettext

MAX_MESSAGE_FILES = 3

ROUTES = {
    "original": N_("back to your original payment method"),
    "balance": N_("to your store balance"),
}


def route_words(route: str, locale: str) -> str:
    return gettext(locale, ROUTES[route]) if route in ROUTES else gettext(locale, N_("by {route}")).format(
        route=route)


def refunds_paid(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's completed refunds: amount, route and when the last payment settled."""
    result = []
    for refund in session.scalars(select(Refund).where(Refund.case_id == case_id, Refund.state == "completed")
                                  .order_by(Refund.id)):
        settled = session.scalar(select(RefundPayment.settled_at).where(RefundPayment.refund_id == refund.id)
                                 .order_by(RefundPayment.settled_at.desc()).limit(1))
        result.append({"number": refund.number, "amount": fmt(refund.amount, refund.currency),
                       "currency": refund.currency, "route": refund.route, "at": settled or refund.updated_at})
    return result


def customer_steps(events: list[CaseEvent], refunds: list[dict[str, Any]], locale: str,
                   reasons: dict[str, str], handoffs: list | None = None) -> list[dict[str, Any]]:
    """The timeline in plain words: customer-visible events, shared hand-offs, and each paid refund with its amount
    and route. Internal items are never read into it (cases/visibility.py)."""
    steps = []
    for e in events:
        if not visible.shown(e) or e.action not in words.CUSTOMER_STEPS:
            continue
        payload = e.payload or {}
        text = words.word(words.CUSTOMER_STEPS, e.action, locale)
        if e.action == "attach" and payload.get("kind") == "document":
            text = gettext(locale, N_("A document was added."))
        # A customer-visible event was written for the customer to read, a shared note included.
        details = words.event_details(payload, staff=e.action == "note", reasons=reasons)
        if e.action in words.PLAN_ACTIONS:
            details = plan_details(payload, locale) + details
        steps.append({"at": e.created_at, "text": text, "details": details, "state": e.to_state, "key": e.action})
    for h in handoffs or ():
        if visible.shown(h):
            steps.append({"at": h.created_at, "key": "handoff", "state": "", "details": [(N_("Note"), h.note)],
                          "text": gettext(locale, N_("The shop asked a specialist team to look at your request: "
                                                     "{team}.")).format(team=words.word(TEAMS, h.team, locale))})
    for r in refunds:
        steps.append({"at": r["at"], "key": "refunded", "state": "refunded", "details": [],
                      "text": gettext(locale, N_("Refunded: {amount} {currency}, {route}.")).format(
                          amount=r["amount"], currency=r["currency"], route=route_words(r["route"], locale))})
    # A refund settles in the same instant the workflow resolves the case: "refunded" reads first.
    steps.sort(key=lambda s: (s["at"], s["key"] != "refunded"))
    return steps


def plan_details(payload: dict[str, Any], locale: str) -> list[tuple[str, str]]:
    found = [(N_("Plan"), words.word(KINDS, payload.get("kind"), locale))]
    if payload.get("amount"):
        found.append((N_("Amount"), f"{payload['amount']} {payload.get('currency') or ''}".strip()))
    return found


def upload_refusal(exc: AppError, filename: str, settings) -> PageError:
    """An upload refusal in the catalogs' words: which file, what was wrong, what is allowed."""
    key = getattr(exc, "key", "")
    if key == "file_too_large":
        return PageError("file_too_large", N_("{name} is too large: at most {limit} MB per file."), field="files",
                         status=413, name=filename, limit=settings.max_image_bytes // (1024 * 1024))
    if key == "file_empty":
        return PageError("file_empty", N_("{name} is empty."), field="files", name=filename)
    if key == "image_too_many_pixels":
        return PageError("image_too_many_pixels", N_("{name} has too many pixels: at most {limit} megapixels."),
                         field="files", name=filename, limit=f"{settings.max_image_pixels / 1_000_000:g}")
    if key == "image_unreadable":
        return PageError("image_unreadable", N_("{name} cannot be read as a photo."), field="files", name=filename)
    return PageError("file_type", N_("{name} cannot be sent: only photos (JPEG, PNG, WebP, GIF, HEIC) and PDF "
                                     "documents are allowed."), field="files", status=415, name=filename)


async def message_files(request: Request, files) -> list[Upload]:
    """Each file sent with a message, checked by its content (photos and PDF) and size; all or nothing."""
    if len(files) > MAX_MESSAGE_FILES:
        raise PageError("too_many_files", N_("Send at most {n} files with one message."), field="files",
                        n=MAX_MESSAGE_FILES)
    settings = request.app.state.settings
    uploads: list[Upload] = []
    try:
        for item in files:
            receiver = Receiver(item.filename or "upload", settings, MESSAGE_FILES)
            name = receiver.filename
            try:
                while chunk := await item.read(64 * 1024):
                    receiver.write(chunk)
                uploads.append(receiver.finish())
            except AppError as exc:
                receiver.abort()
                raise upload_refusal(exc, name[:100], settings) from None
            except BaseException:
                receiver.abort()
                raise
    except BaseException:
        for upload in uploads:
            upload.close()
        raise
    return uploads


async def message_form(request: Request) -> tuple[str, list]:
    """A posted message's text and files (size bounded before the form is parsed; CSRF checked); the text is
    required, files are optional."""
    settings = request.app.state.settings
    limit = settings.max_image_bytes * MAX_MESSAGE_FILES + 1024 * 1024
    if int(request.headers.get("content-length") or 0) > limit:
        raise PageError("too_large", N_("The files are too large together: at most {limit} MB per request."),
                        field="files", status=413, limit=limit // (1024 * 1024))
    form = await request.form(max_files=MAX_MESSAGE_FILES + 1, max_fields=10)
    check_csrf(request, form)
    text = str(form.get("body") or "").strip()
    if not text:
        raise PageError("required", N_("Write a message first."), field="body")
    return text, [f for f in form.getlist("files") if getattr(f, "filename", None)]


def attach_all(session: Session, request: Request, *, case: CaseRecord, actor: Actor,
               uploads: list[Upload], visibility: str | None = None, source: str | None = None) -> list[int]:
    """Each upload an attachment of the case (an `attach` event the workflow must allow), in the caller's
    transaction; returns their ids."""
    return [attach(session, store=request.app.state.store, settings=request.app.state.settings, actor=actor,
                   case=case, upload=upload, visibility=visibility, source=source).id for upload in uploads]


def post_with_files(session: Session, request: Request, *, case: CaseRecord, actor: Actor, text: str,
                    uploads: list[Upload], at) -> CaseMessage:
    """The message and its files, in the caller's transaction: each file an attachment of the case (an `attach`
    event the workflow must allow), then the message naming them; nothing is kept if any part is refused."""
    # Files sent with a message go to whoever reads the message: the customer.
    ids = attach_all(session, request, case=case, actor=actor, uploads=uploads, visibility=visible.CUSTOMER,
                     source="message")
    message = add_message(session, case=case, actor=actor, body=text[:5000], at=at)
    message.attachment_ids = ids
    return message
