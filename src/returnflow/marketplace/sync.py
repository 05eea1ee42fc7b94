"""Pulling a platform's after-sales requests into the desk.

A pull asks the platform for every request created or changed since the connector's cursor (a day at a time), then,
in one transaction:
- a new request whose order we know (platform order id = our order's number) becomes a case under the platform's
  preset (taobao-current), opened at the request's own created time, so the platform's clocks run from when the buyer
  asked; the case's external_ref is "<platform>:<request id>";
- a request whose order (or item) we do not know is kept with the reason, shown to staff, and tried again on every
  pull until it can become a case;
- a known request that changed on the platform is updated; if a desk decision on it has not reached the platform yet
  (pushed with the version the desk saw), that is a conflict: the decision is held, the request flagged, and staff
  choose which side stands (push.resolve). Nothing is overwritten either way.
The cursor moves to the end of the window only when the whole window was read and stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.models import CaseType, Channel
from ..cases.schemas import CaseCreate, CaseLineCreate
from ..cases.service import open_case
from ..db import Database, utcnow
from ..errors import AppError, Explained
from ..i18n import N_, SUPPORTED, every
from ..orders.models import Order, OrderLine
from ..outbound import Allowed
from .connector import Connector, PlatformError, PlatformRequest
from .models import MarketplaceConnector, MarketplacePush, MarketplaceRequest
from .settings import PRESET_OF, connector_for
from .taobao import WINDOW

FIRST_LOOKBACK = timedelta(days=1)   # a connector's first pull reads the last day
OVERLAP = timedelta(minutes=2)       # each window starts a little before the last one ended (late writes)
WAITING = ("pending", "held", "stale")


@dataclass
class PullResult:
    opened: list[str] = field(default_factory=list)        # case numbers
    changed: list[str] = field(default_factory=list)       # request ids updated from the platform
    conflicts: list[str] = field(default_factory=list)     # request ids flagged
    waiting: list[str] = field(default_factory=list)       # request ids that are no case yet (reason kept)
    error: str = ""

    def as_dict(self) -> dict:
        return {"opened": self.opened, "changed": self.changed, "conflicts": self.conflicts, "waiting": self.waiting,
                "error": self.error or None}


def problem(code: str, text: str, **params) -> dict:
    """Why a request is no case yet, kept on the row in every language of the desk ({code, tag: text})."""
    return {"code": code, **every(text, **params)}


def pull(db: Database, merchant_id: int, platform: str = "taobao", *, now: datetime | None = None,
         allowed: Allowed | None = None, connector: Connector | None = None) -> PullResult:
    """One pull for one merchant's connector. A platform error is recorded on the connector (and returned); the
    cursor then stays where it was, so the next pull asks for the same window again."""
    now = now or utcnow()
    with db.read() as session:
        row = session.scalar(select(MarketplaceConnector).where(MarketplaceConnector.merchant_id == merchant_id,
                                                                MarketplaceConnector.platform == platform))
        if row is None:
            raise Explained("platform", N_("no {platform} connector is set up for this shop"), platform=platform,
                            code="marketplace_not_configured", status=404)
        session.expunge(row)
    connector = connector or connector_for(row, allowed or Allowed.parse(""))
    start = (row.cursor - OVERLAP) if row.cursor else now - FIRST_LOOKBACK
    result = PullResult()
    found: dict[str, PlatformRequest] = {}
    try:
        while start < now:
            end = min(start + WINDOW, now)
            for request in connector.pull(start, end):
                found[request.external_id] = request
            start = end
    except PlatformError as exc:
        result.error = str(exc)
        with db.transaction() as session:
            session.execute(update(MarketplaceConnector).where(MarketplaceConnector.id == row.id).values(
                last_error=result.error[:2000], last_pull_at=now))
        return result
    try:
        with db.transaction() as session:
            for request in found.values():
                _take(session, merchant_id, platform, request, now, result)
            retry = session.scalars(select(MarketplaceRequest).where(
                MarketplaceRequest.merchant_id == merchant_id, MarketplaceRequest.platform == platform,
                MarketplaceRequest.case_id.is_(None),
                MarketplaceRequest.external_id.not_in(list(found) or [""]))).all()
            for stored in retry:
                _open(session, stored, now, result)
            session.execute(update(MarketplaceConnector).where(MarketplaceConnector.id == row.id).values(
                cursor=now, last_pull_at=now, last_error="",
                next_pull_at=now + timedelta(minutes=row.every_minutes)))
    except IntegrityError:
        # Another pull of the same connector stored the same requests first: this one wrote nothing (the cursor
        # stays), and the next pull reads the window again.
        return PullResult(error="another pull of this connector ran at the same time; nothing was written by this "
                                "one, and the next pull reads the same window again")
    return result


def _take(session: Session, merchant_id: int, platform: str, request: PlatformRequest, now: datetime,
          result: PullResult) -> None:
    stored = session.scalar(select(MarketplaceRequest).where(
        MarketplaceRequest.merchant_id == merchant_id, MarketplaceRequest.platform == platform,
        MarketplaceRequest.external_id == request.external_id))
    if stored is None:
        stored = MarketplaceRequest(merchant_id=merchant_id, platform=platform, external_id=request.external_id,
                                    order_ref=request.order_ref, first_seen_at=now, tries=0)
        copy_request(stored, request, now)
        session.add(stored)
        session.flush()
        _open(session, stored, now, result)
        return
    if stored.version == request.version:
        stored.pulled_at = now
        if stored.case_id is None:
            _open(session, stored, now, result)
        return
    seen = stored.version
    copy_request(stored, request, now)
    result.changed.append(stored.external_id)
    if stored.case_id is None:
        _open(session, stored, now, result)
        return
    waiting = session.scalars(select(MarketplacePush).where(MarketplacePush.request_id == stored.id,
                                                            MarketplacePush.status.in_(WAITING))).all()
    if waiting:
        flag(stored, seen=seen, decisions=[p.decision for p in waiting], now=now)
        for push in waiting:
            if push.status == "pending":
                push.status = "held"
        result.conflicts.append(stored.external_id)


def flag(stored: MarketplaceRequest, *, seen: str, decisions: list[str], now: datetime, refused: str = "") -> None:
    """Marks a request changed on both sides: the desk decided on version `seen`, the platform is at another."""
    said = every(N_("Changed on the platform (status {state}) after the desk decided ({what}) on an older version: "
                    "the decision was not sent. Choose which side stands."),
                 state=stored.status, what=", ".join(decisions))
    if refused:
        said = every(N_("{conflict} The platform said: {refused}"), conflict=said, refused=refused)
    # Kept in every language of the desk ({tag: text}) beside the facts.
    stored.conflict = {**said, "seen": seen, "platform": stored.version, "at": now.isoformat(),
                       "decisions": decisions}


def copy_request(stored: MarketplaceRequest, request: PlatformRequest, now: datetime) -> None:
    stored.order_ref, stored.status, stored.version = request.order_ref, request.status, request.version
    stored.platform_created, stored.platform_modified = request.created, request.modified
    stored.data = {"raw": request.raw, "amount": str(request.amount), "sku": request.sku, "quantity": request.quantity,
                   "goods_return": request.goods_return, "reason": request.reason,
                   "description": request.description}
    stored.pulled_at = now


def _open(session: Session, stored: MarketplaceRequest, now: datetime, result: PullResult) -> None:
    """Opens the case of a request not yet a case, or records why it cannot be one yet."""
    stored.tries = (stored.tries or 0) + 1
    data = stored.data or {}
    order = session.scalar(select(Order).where(Order.merchant_id == stored.merchant_id,
                                               Order.number == stored.order_ref))
    if order is None:
        stored.problem = problem("order_unknown", N_("Order {order} is not known here: import or push it; the "
                                                     "request is tried again on every pull."), order=stored.order_ref)
        result.waiting.append(stored.external_id)
        return
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).all()
    chosen = [line for line in lines if data.get("sku") and line.sku == data["sku"]] or \
        (list(lines) if len(lines) == 1 else [])
    if not chosen:
        sku = data.get("sku") or every(N_("(none)"))
        stored.problem = problem("item_unknown", N_("Order {order} has no line with the item {sku}: the request is "
                                                    "tried again on every pull."), order=stored.order_ref, sku=sku)
        result.waiting.append(stored.external_id)
        return
    goods = bool(data.get("goods_return"))
    create = CaseCreate(order=order.number, type=CaseType.RETURN_REFUND if goods else CaseType.REFUND_ONLY,
                        channel=Channel.API, needs_return=goods,
                        description=" — ".join(x for x in (data.get("reason"), data.get("description")) if x)[:5000],
                        external_ref=f"{stored.platform}:{stored.external_id}"[:100],
                        lines=[CaseLineCreate(line_no=chosen[0].line_no, quantity=int(data.get("quantity") or 1))])
    actor = Actor(kind="system", role="system", merchant_id=stored.merchant_id, name=stored.platform)
    try:
        with session.begin_nested():
            case = open_case(session, actor=actor, data=create, created_at=stored.platform_created,
                             preset=PRESET_OF.get(stored.platform))
    except AppError as exc:
        said = {tag: exc.render(tag).get("message", str(exc)) for tag in SUPPORTED}
        stored.problem = problem(exc.key, N_("The case could not be opened: {problem}"), problem=said)
        result.waiting.append(stored.external_id)
        return
    stored.case_id, stored.problem = case.id, None
    result.opened.append(case.number)
