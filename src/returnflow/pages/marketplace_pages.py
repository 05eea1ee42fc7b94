"""Staff pages of the marketplace sync: the list of synced requests that need someone (in conflict, or waiting for
their order), settling a conflict, and the section of a synced case's page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..errors import AppError, Forbidden
from ..i18n import pick
from .frame import FLASH, N_, check_csrf, locale_of, redirect, render, safe_next
from .staff_pages import _ctx, staff_actor
from ..marketplace.api import DECIDERS, STAFF, attention, request_dict
from ..marketplace.models import MarketplacePush, MarketplaceRequest
from ..marketplace.push import resolve

router = APIRouter(include_in_schema=False)
FLASH["marketplace_resolved"] = N_("The conflict is settled: the side you chose stands.")
PUSH_STATUSES = {"pending": N_("Waiting to be sent"), "sent": N_("Sent to the platform"),
                 "held": N_("Held: changed on both sides"), "stale": N_("Refused by the platform: it changed there"),
                 "failed": N_("Refused by the platform"), "dropped": N_("Not sent: the platform's side was kept")}
DECISIONS = {"agree_refund": N_("Agree to the refund"), "agree_return": N_("Agree to the return"),
             "refuse": N_("Refuse"), "received": N_("The return arrived")}
WHICH = {"attention": N_("Needs someone"), "conflict": N_("In conflict"), "waiting": N_("No case yet"),
         "all": N_("All synced requests")}


def _words(item: dict[str, Any], locale: str) -> dict[str, Any]:
    """The request with its reason and conflict in the reader's language."""
    item = dict(item)
    said = {tag: text for tag, text in (item["problem"] or {}).items() if tag != "code"}
    item["problem_text"] = pick(said, locale)
    item["conflict_text"] = pick({tag: text for tag, text in (item["conflict"] or {}).items()
                                  if tag not in ("seen", "platform", "at", "decisions")}, locale)
    return item


@router.get("/staff/marketplace")
async def marketplace_list(request: Request, which: str = "attention"):
    actor = staff_actor(request)
    which = which if which in WHICH else "attention"
    locale = locale_of(request)
    if actor.role not in STAFF or actor.merchant_id is None:
        rows: list[dict] = []
    else:
        with request.app.state.db.read() as session:
            rows = [_words(r, locale) for r in attention(session, actor.merchant_id, which)]
    return render(request, "staff/marketplace.html", _ctx(
        actor, rows=rows, which=which, tabs=WHICH, push_statuses=PUSH_STATUSES, decisions=DECISIONS,
        can_settle=actor.role in DECIDERS, problem=None))


@router.post("/staff/marketplace/requests/{request_id}/resolve")
async def settle(request_id: int, request: Request):
    actor = staff_actor(request)
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, form)
    back = safe_next(str(form.get("back") or ""), "/staff/marketplace")
    locale = locale_of(request)
    try:
        if actor.role not in DECIDERS or actor.merchant_id is None:
            raise Forbidden("forbidden_role", role=actor.role, what="settle marketplace conflicts",
                            allowed=list(DECIDERS))
        with request.app.state.db.transaction() as session:
            resolve(session, actor.merchant_id, request_id, str(form.get("keep") or ""), utcnow())
    except AppError as exc:
        with request.app.state.db.read() as session:
            rows = [_words(r, locale) for r in attention(session, actor.merchant_id, "attention")] \
                if actor.merchant_id is not None else []
        return render(request, "staff/marketplace.html", _ctx(
            actor, rows=rows, which="attention", tabs=WHICH, push_statuses=PUSH_STATUSES, decisions=DECISIONS,
            can_settle=actor.role in DECIDERS, problem=exc.render(locale)), status=exc.status)
    return redirect(request, back, flash="marketplace_resolved")


def case_section(session: Session, case_id: int, locale: str, role: str) -> dict[str, Any] | None:
    """A synced case's platform request for its page: status and version there, the decisions sent back, any
    conflict (with the choice to settle it); None for a case that did not come from a marketplace."""
    r = session.scalar(select(MarketplaceRequest).where(MarketplaceRequest.case_id == case_id))
    if r is None:
        return None
    pushes = list(session.scalars(select(MarketplacePush).where(MarketplacePush.request_id == r.id)
                                  .order_by(MarketplacePush.id)))
    return {"request": _words(request_dict(r, None, pushes), locale), "decisions": DECISIONS,
            "push_statuses": PUSH_STATUSES, "can_settle": role in DECIDERS}
