"""Notification API: templates (zh-CN/en, per merchant), webhooks and their deliveries, the outbox with its
errors and replay, in-app inbox, follow-up tasks (回访), satisfaction answers and agent reply templates (话术)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select

from ..auth import users
from ..actor import Actor
from ..cases.models import Case, OutboxMessage
from ..cases.service import get_case
from ..merchants.scope import resolve_merchant
from ..db import utcnow
from ..errors import Explained, Forbidden, NotFound
from ..i18n import N_, SUPPORTED, match
from ..fields import RowId
from ..flows import move
from ..outbound import Allowed, mask, redact_url
from ..web import DB, JSON, CurrentActor, locale_of, mutate
from . import outbox, replies, secrets, survey, templates
from ..cases.models import WebhookEndpoint
from .flows import FOLLOW_UP
from .models import DeliveryAttempt, FollowUpTask, InAppMessage, MessageTemplate
from .webhooks import check_endpoint, new_secret

router = APIRouter(tags=["notifications"])
ADMINS = ("admin", "supervisor", "platform")
STAFF = ("agent", "warehouse", "finance", "supervisor", "admin", "platform")


def _only(actor: Actor, roles: tuple[str, ...], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=list(roles))


# ---- message templates ---------------------------------------------------------------------------------------

@router.get("/notify/templates")
async def list_templates(actor: CurrentActor, db: DB, merchant: str | None = None) -> list[dict]:
    """Every notification template with its placeholders and the wording in effect per locale."""
    _only(actor, STAFF, "read templates")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        own = {(r.key, r.locale) for r in session.scalars(select(MessageTemplate).where(
            MessageTemplate.merchant_id == m.id))}
        result = []
        for key, builtin in sorted(templates.BUILTIN.items()):
            texts = {}
            for locale in templates.LOCALES:
                subject, body = templates.texts(session, m.id, key, locale)
                texts[locale] = {"subject": subject, "body": body,
                                 "source": "merchant" if (key, locale) in own else "default"}
            result.append({"key": key, "placeholders": list(builtin.fields), "texts": texts})
        return result


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=300)
    body: str = Field(min_length=1, max_length=10_000)


@router.put("/notify/templates/{key}/{locale}")
async def put_template(key: str, locale: str, body: TemplateIn, request: Request, actor: CurrentActor,
                       merchant: str | None = None):
    """The merchant's own wording of a template; a placeholder the template does not provide is refused."""
    _only(actor, ADMINS, "edit templates")
    templates.check(key, locale, body.subject, body.body)

    def work(session):
        m = resolve_merchant(session, actor, merchant)
        row = session.scalar(select(MessageTemplate).where(MessageTemplate.merchant_id == m.id,
                                                           MessageTemplate.key == key, MessageTemplate.locale == locale))
        if row is None:
            row = MessageTemplate(merchant_id=m.id, key=key, locale=locale, body=body.body)
            session.add(row)
        row.subject, row.body, row.updated_at = body.subject, body.body, utcnow()
        return 200, {"key": key, "locale": locale, "subject": row.subject, "body": row.body, "source": "merchant"}

    return await mutate(request, actor, work)


@router.delete("/notify/templates/{key}/{locale}")
async def reset_template(key: str, locale: str, request: Request, actor: CurrentActor, merchant: str | None = None):
    """Drops the merchant's wording: the built-in text applies again."""
    _only(actor, ADMINS, "edit templates")
    templates.check(key, locale, "", "x")

    def work(session):
        m = resolve_merchant(session, actor, merchant)
        session.execute(delete(MessageTemplate).where(MessageTemplate.merchant_id == m.id,
                                                      MessageTemplate.key == key, MessageTemplate.locale == locale))
        subject, text = templates.BUILTIN[key].texts[locale]
        return 200, {"key": key, "locale": locale, "subject": subject, "body": text, "source": "default"}

    return await mutate(request, actor, work)


# ---- webhooks ------------------------------------------------------------------------------------------------

class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=500, description="http(s) URL that receives POSTed JSON")
    events: list[str] = Field(default_factory=list, description="Actions (e.g. approve) or types (case.approve); "
                                                                "empty: every case event")
    merchant: str | None = None


def _endpoint(e: WebhookEndpoint, secret: bool = False) -> dict:
    """An endpoint as answered: the signing secret in full only on creation, masked (whsec_••••last4) after."""
    return {"id": e.id, "url": e.url, "events": e.events, "active": e.active, "created_at": e.created_at,
            "secret": e.secret if secret else mask(e.secret)}


@router.post("/webhooks", status_code=201)
async def add_webhook(body: WebhookIn, request: Request, actor: CurrentActor):
    """Subscribes a URL to the merchant's case events; the signing secret is shown once, here. A URL whose host
    resolves to a loopback, private, link-local, multicast or reserved address is refused (422) unless the
    deployment allows the host."""
    _only(actor, ("admin", "platform"), "manage webhooks")
    allowed = Allowed.parse(request.app.state.settings.outbound_allowed_hosts)
    await run_in_threadpool(check_endpoint, body.url, body.events, allowed)  # resolves the host: off the loop

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        endpoint = WebhookEndpoint(merchant_id=m.id, url=body.url, secret=new_secret(), events=body.events)
        session.add(endpoint)
        session.flush()
        users.record(session, actor, merchant_id=m.id, action="webhook.add", target=redact_url(endpoint.url),
                     details={"endpoint_id": endpoint.id, "events": body.events, "secret": mask(endpoint.secret)})
        return 201, _endpoint(endpoint, secret=True)

    return await mutate(request, actor, work)


@router.get("/webhooks")
async def list_webhooks(actor: CurrentActor, db: DB, merchant: str | None = None) -> JSON:
    _only(actor, ADMINS, "read webhooks")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        return JSON([_endpoint(e) for e in session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.merchant_id == m.id).order_by(WebhookEndpoint.id))])


@router.delete("/webhooks/{endpoint_id}")
async def remove_webhook(endpoint_id: int, request: Request, actor: CurrentActor):
    """Deactivates an endpoint (its delivery history stays)."""
    _only(actor, ("admin", "platform"), "manage webhooks")

    def work(session):
        e = session.get(WebhookEndpoint, endpoint_id)
        if e is None or not actor.can_see(e.merchant_id):
            raise NotFound("webhook", endpoint_id, field="endpoint_id")
        e.active = False
        users.record(session, actor, merchant_id=e.merchant_id, action="webhook.remove", target=redact_url(e.url),
                     details={"endpoint_id": e.id})
        return 200, _endpoint(e)

    return await mutate(request, actor, work)


# ---- the outbox: what waits, what failed and why, replay -----------------------------------------------------

def _message(m: OutboxMessage, last: DeliveryAttempt | None, locale: str) -> dict:
    # A one-time code is its customer's alone: staff see that one was sent, never the code.
    payload = secrets.shown(m.payload or {}, locale) if m.secret else m.payload
    return {"id": m.id, "topic": m.topic, "status": m.status, "attempts": m.attempts, "available_at": m.available_at,
            "created_at": m.created_at, "payload": payload, "secret": m.secret, "priority": m.priority,
            "last_error": last.error if last is not None and not last.ok else None,
            "last_attempt_at": last.at if last is not None else None}


def _scoped(stmt, actor: Actor):
    return stmt if actor.merchant_id is None else stmt.where(OutboxMessage.merchant_id == actor.merchant_id)


@router.get("/outbox")
async def list_outbox(request: Request, actor: CurrentActor, db: DB,
                      status: Literal["pending", "leased", "sent", "dead"] | None = None,
                      topic: str | None = None, limit: int = Query(50, ge=1, le=500)) -> JSON:
    """Notifications and webhook deliveries, newest first, with the last error of each (admins)."""
    _only(actor, ADMINS, "read the outbox")
    with db.read() as session:
        stmt = _scoped(select(OutboxMessage), actor)
        if status:
            stmt = stmt.where(OutboxMessage.status == status)
        if topic:
            stmt = stmt.where(OutboxMessage.topic == topic)
        rows = list(session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit)))
        last = {}
        if rows:
            latest = (select(func.max(DeliveryAttempt.id)).where(DeliveryAttempt.outbox_id.in_([r.id for r in rows]))
                      .group_by(DeliveryAttempt.outbox_id))
            last = {a.outbox_id: a for a in session.scalars(select(DeliveryAttempt).where(
                DeliveryAttempt.id.in_(latest)))}
        return JSON([_message(r, last.get(r.id), locale_of(request)) for r in rows])


@router.get("/outbox/{message_id}/attempts")
async def attempts(message_id: int, actor: CurrentActor, db: DB) -> JSON:
    """Every delivery attempt of one message: when, outcome, status code, error, duration."""
    _only(actor, ADMINS, "read the outbox")
    with db.read() as session:
        m = session.scalar(_scoped(select(OutboxMessage).where(OutboxMessage.id == message_id), actor))
        if m is None:
            raise NotFound("message", message_id, field="message_id")
        rows = session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == m.id)
                               .order_by(DeliveryAttempt.attempt, DeliveryAttempt.id))
        return JSON([{"attempt": a.attempt, "at": a.at, "ok": a.ok, "status_code": a.status_code, "error": a.error,
                      "duration_ms": a.duration_ms, "worker": a.worker} for a in rows])


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[RowId] = Field(default_factory=list, description="Messages to send again (dead or sent)")
    dead: bool = Field(default=False, description="true: every dead message of the merchant")


@router.post("/outbox/replay")
async def replay(body: ReplayIn, actor: CurrentActor, db: DB) -> dict:
    """Queues dead-lettered (or already sent) messages again, due now. A one-time sign-in code is never sent
    again (refused by name; skipped by `dead: true`): the customer asks the portal for a new one."""
    _only(actor, ("admin", "platform"), "replay deliveries")
    if not body.ids and not body.dead:
        raise Explained("ids", N_("name the messages to replay, or send dead: true"))
    if body.ids:
        with db.read() as session:
            secret = set(session.scalars(_scoped(select(OutboxMessage.id).where(
                OutboxMessage.id.in_(body.ids), OutboxMessage.secret.is_(True)), actor)))
        for i, message_id in enumerate(body.ids):
            if message_id in secret:
                raise Explained(f"ids[{i}]", N_("message {message} carried a one-time sign-in code, which is never "
                                                "sent again; the customer asks for a new code on the portal"),
                                code="secret_not_replayable", status=409, message=message_id)
    return {"replayed": outbox.replay(db, ids=body.ids, dead=body.dead, merchant_id=actor.merchant_id)}


# ---- in-app messages -----------------------------------------------------------------------------------------

def _recipient(actor: Actor) -> str:
    if actor.kind == "customer":
        return f"customer:{actor.customer_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    raise Forbidden("forbidden_role", role=actor.role, what="read an inbox", allowed=["customer", "staff"])


@router.get("/inbox")
async def inbox(actor: CurrentActor, db: DB, unread: bool = False, limit: int = Query(50, ge=1, le=500)) -> JSON:
    """The signed-in customer's (or staff member's) in-app messages, newest first."""
    with db.read() as session:
        stmt = select(InAppMessage, Case.number).outerjoin(Case, Case.id == InAppMessage.case_id).where(
            InAppMessage.recipient == _recipient(actor))
        if unread:
            stmt = stmt.where(InAppMessage.read_at.is_(None))
        rows = session.execute(stmt.order_by(InAppMessage.id.desc()).limit(limit)).all()
        return JSON([{"id": m.id, "case": number, "template": m.template, "locale": m.locale, "subject": m.subject,
                      "body": m.body, "created_at": m.created_at, "read_at": m.read_at} for m, number in rows])


@router.post("/inbox/{message_id}/read")
async def mark_read(message_id: int, request: Request, actor: CurrentActor):
    def work(session):
        m = session.get(InAppMessage, message_id)
        if m is None or m.recipient != _recipient(actor):
            raise NotFound("message", message_id, field="message_id")
        m.read_at = m.read_at or utcnow()
        return 200, {"id": m.id, "read_at": m.read_at}

    return await mutate(request, actor, work)


# ---- satisfaction and follow-up (回访) -------------------------------------------------------------------------

class SurveyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    comment: str = Field(default="", max_length=2000)


@router.post("/cases/{number}/survey", status_code=201)
async def answer_survey(number: str, body: SurveyIn, request: Request, actor: CurrentActor):
    """The customer's satisfaction answer for a resolved or closed case (once)."""
    def work(session):
        case = get_case(session, actor=actor, number=number)
        survey.answer(session, case=case, score=body.score, comment=body.comment)
        return 201, {"case": case.number, "score": body.score, "comment": body.comment}

    return await mutate(request, actor, work)


def _task(t: FollowUpTask, number: str) -> dict:
    return {"id": t.id, "case": number, "due_at": t.due_at, "assignee_id": t.assignee_id, "status": t.status,
            "outcome": t.outcome, "note": t.note, "done_by": t.done_by, "done_at": t.done_at}


@router.get("/follow-ups")
async def follow_ups(actor: CurrentActor, db: DB, status: Literal["open", "done"] | None = "open",
                     due_before: AwareDatetime | None = None, limit: int = Query(50, ge=1, le=500)) -> JSON:
    """Follow-up tasks (回访), soonest first; `due_before=now` lists the ones to call today."""
    _only(actor, STAFF, "read follow-ups")
    with db.read() as session:
        stmt = select(FollowUpTask, Case.number).join(Case, Case.id == FollowUpTask.case_id)
        if actor.merchant_id is not None:
            stmt = stmt.where(FollowUpTask.merchant_id == actor.merchant_id)
        if status:
            stmt = stmt.where(FollowUpTask.status == status)
        if due_before:
            stmt = stmt.where(FollowUpTask.due_at <= due_before)
        rows = session.execute(stmt.order_by(FollowUpTask.due_at, FollowUpTask.id).limit(limit)).all()
        return JSON([_task(t, n) for t, n in rows])


class FollowUpDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["satisfied", "neutral", "dissatisfied", "unreachable", "reopen_requested"]
    note: str = Field(default="", max_length=4000)


@router.post("/follow-ups/{task_id}/done")
async def follow_up_done(task_id: int, body: FollowUpDone, request: Request, actor: CurrentActor):
    """Records how the follow-up contact went."""
    _only(actor, STAFF, "record follow-ups")

    def work(session):
        row = session.execute(select(FollowUpTask, Case.number).join(Case, Case.id == FollowUpTask.case_id)
                              .where(FollowUpTask.id == task_id)).first()
        if row is None or not actor.can_see(row[0].merchant_id):
            raise NotFound("follow-up", task_id, field="task_id")
        task = row[0]
        if task.status == "done":
            raise Explained("task_id", N_("this follow-up is recorded already"), code="follow_up_done", status=409)
        task.outcome, task.note = body.outcome, body.note
        task.done_by, task.done_at = actor.ref, utcnow()
        move(session, FOLLOW_UP, task, "record", by=actor.ref, role=actor.role, at=task.done_at,
             data={"outcome": body.outcome})
        return 200, _task(task, row[1])

    return await mutate(request, actor, work)


# ---- agent reply templates (话术) -----------------------------------------------------------------------------

def _desk_language(tag: str) -> str:
    """A language of the desk (its catalogs) for `tag` (zh-TW reads zh-Hant), else a 422 naming `locale`."""
    found = match(tag)
    if found is None:
        raise Explained("locale", N_("'{locale}' is not a language of this desk"), allowed=list(SUPPORTED), locale=tag)
    return found


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(default="", max_length=40)
    outcome: str = Field(default="", max_length=40)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    # None: as it was (a new reply is offered to agents)
    visibility: Literal["agents", "hidden"] | None = None
    merchant: str | None = None


@router.get("/reply-templates")
async def reply_templates(actor: CurrentActor, db: DB, locale: str | None = Query(None, max_length=35),
                          step: str | None = None, outcome: str | None = None, case: str | None = None,
                          merchant: str | None = None) -> JSON:
    """Ready replies for agents (in one language of the desk, or all); with `case`, each is filled in with that case's
    data, ready to insert."""
    _only(actor, STAFF, "read reply templates")
    locale = _desk_language(locale) if locale else None
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        record = get_case(session, actor=actor, number=case) if case else None
        return JSON(replies.listing(session, m.id, locale=locale, step=step, outcome=outcome, case=record))


@router.put("/reply-templates/{code}/{locale}")
async def put_reply(body: ReplyIn, request: Request, actor: CurrentActor,
                    code: str = Path(pattern=r"^[a-z][a-z0-9_]{1,59}$"),
                    locale: str = Path(max_length=35)):
    """Adds or changes a reply template in a language of the desk; placeholders must be case fields."""
    _only(actor, ADMINS, "edit reply templates")
    locale = _desk_language(locale)
    replies.check(body.title, body.body)

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        return 200, replies.save(session, m.id, code=code, locale=locale, step=body.step, outcome=body.outcome,
                                 title=body.title, body=body.body, visibility=body.visibility)

    return await mutate(request, actor, work)
