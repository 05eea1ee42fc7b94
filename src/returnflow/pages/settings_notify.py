"""Settings → Notifications: the templates per language, the providers (said to be set, never shown), the
webhook endpoints, the delivery log and replay. Forms as in settings_pages.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import delete, select

from ..auth import users
from ..actor import Actor
from ..cases.models import Case, OutboxMessage
from ..db import utcnow
from ..errors import AppError, Explained
from ..notify import outbox, templates
from ..notify.config import get_delivery_settings
from ..cases.models import WebhookEndpoint
from ..notify.models import MessageTemplate
from ..notify.webhooks import check_endpoint, new_secret
from ..outbound import Allowed, mask, redact_url
from . import words
from . import settings_log as delivery_log
from . import settings_words as sw
from .frame import N_, gettext, locale_of, redirect
from .settings_pages import admin_actor, ctx, explain, posted, render, text_of
from ..notify.provider_templates import approved_keys
from ..cases.workflow import ACTIONS
from .portal_reach import delivery_settings

router = APIRouter(include_in_schema=False)


# ---- notifications: templates, providers, webhooks -----------------------------------------------------------

def _providers(locale: str) -> list[dict[str, Any]]:
    """notify/config.py's settings: secrets only said to be set, URLs redacted, a refused URL with the reason."""
    s = get_delivery_settings()
    problems = s.problems_in(locale)
    return [
        {"name": N_("Email (SMTP)"), "configured": bool(s.smtp_host),
         "missing": N_("No email is sent: no mail server is set (RETURNFLOW_SMTP_HOST)."), "facts": [
            (N_("Server"), f"{s.smtp_host}:{s.smtp_port}" if s.smtp_host else ""), (N_("Sender"), s.smtp_from),
            (N_("User name"), s.smtp_username), (N_("Password"), "set" if s.smtp_password else ""),
            (N_("Encryption"), "SSL" if s.smtp_ssl else ("STARTTLS" if s.smtp_starttls else ""))]},
        {"name": N_("SMS"), "configured": s.sms_on(), "refused": problems.get(
            "RETURNFLOW_ALIYUN_SMS_URL" if s.sms_provider == "aliyun" else "RETURNFLOW_SMS_URL"),
         "missing": N_("No text message is sent: the Aliyun access key is not set (RETURNFLOW_ALIYUN_ACCESS_KEY_ID, "
                       "RETURNFLOW_ALIYUN_ACCESS_KEY_SECRET).") if s.sms_provider == "aliyun"
         else N_("No text message is sent: no SMS provider is set (RETURNFLOW_SMS_URL)."),
         "facts": [(N_("Provider URL"), redact_url(s.aliyun_sms_url if s.sms_provider == "aliyun" else s.sms_url)
                    if s.sms_on() else ""),
                   (N_("Access token"), "set" if (s.aliyun_access_key_secret if s.sms_provider == "aliyun"
                                                  else s.sms_token) else "")]},
        {"name": N_("App push"), "configured": bool(s.push_url), "refused": problems.get("RETURNFLOW_PUSH_URL"),
         "missing": N_("No push message is sent: no push provider is set (RETURNFLOW_PUSH_URL)."),
         "facts": [(N_("Provider URL"), redact_url(s.push_url) if s.push_url else ""),
                   (N_("Access token"), "set" if s.push_token else "")]},
    ]


TEMPLATE_CHANNELS = {"sms": N_("Text messages (Aliyun SMS)"), "wechat": N_("WeChat messages")}


def _template_gaps(request: Request, session, merchant_id: int, locale: str) -> list[dict[str, Any]]:
    """Channels that send only provider-approved templates, with the templates the merchant has none for."""
    s = delivery_settings(request)
    on = [c for c, used in (("sms", s.sms_provider == "aliyun"), ("wechat", bool(s.wechat_appid))) if used]
    gaps = []
    for channel in on:
        have = approved_keys(session, merchant_id, channel)
        missing = [sw.word(sw.TEMPLATES, k, locale, sw.OTHER_KIND) for k in sorted(templates.BUILTIN) if k not in have]
        if missing:
            gaps.append({"channel": TEMPLATE_CHANNELS[channel], "none": not have, "code": "otp_code" not in have,
                         "missing": missing})
    return gaps


def _sample(session, merchant_id: int, locale: str) -> dict[str, str]:
    """Placeholder values for a preview: the merchant's latest case where there is one."""
    case = session.execute(select(Case.number, Case.state).where(Case.merchant_id == merchant_id)
                           .order_by(Case.id.desc()).limit(1)).first()
    number, state = (case.number, case.state) if case else ("AS20261125000001", "pending_review")
    return {"number": number, "state": state, "state_label": words.state_label(state, locale), "code": "123456",
            "minutes": "10", "message": gettext(locale, N_("a photo of the order")),
            "reason": gettext(locale, N_("outside the return window")),
            "address": gettext(locale, N_("Returns desk, 1 Example Road, Shanghai")),
            "deadline": "2026-12-02", "step": "review", "step_zh": "审核", "rule": "SLA.review",
            "due_at": "2026-11-26 18:00"}


def event_options(locale: str) -> list[tuple[str, str]]:
    """The case events a webhook may subscribe to, (action, words), in the workflow's order."""
    return [(a, words.word(words.STAFF_STEPS, a, locale)) for a in ["open", *ACTIONS] if a in words.STAFF_STEPS]


def event_word(event: str, locale: str) -> str:
    action = event.removeprefix("case.")
    return words.word(words.STAFF_STEPS, action, locale) if action in words.STAFF_STEPS else event


def _notify_page(request: Request, actor: Actor, *, status: int = 200, **more: Any):
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        own = {(r.key, r.locale) for r in session.scalars(select(MessageTemplate).where(
            MessageTemplate.merchant_id == actor.merchant_id))}
        endpoints = [{"id": e.id, "url": e.url, "secret": mask(e.secret),
                      "events": [event_word(x, locale) for x in e.events or []]}
                     for e in session.scalars(select(WebhookEndpoint).where(
                         WebhookEndpoint.merchant_id == actor.merchant_id, WebhookEndpoint.active.is_(True))
                         .order_by(WebhookEndpoint.id))]
        log = delivery_log.rows(session, actor.merchant_id, locale)
        gaps = _template_gaps(request, session, actor.merchant_id, locale)
    keys = sorted(({"key": key, "name": sw.word(sw.TEMPLATES, key, locale, sw.OTHER_KIND), "fields": b.fields,
                    "own": {loc: (key, loc) in own for loc in templates.LOCALES}}
                   for key, b in templates.BUILTIN.items()), key=lambda t: t["name"])
    return render(request, "staff/settings/notifications.html", ctx(
        actor, "notifications", keys=keys, locales=templates.LOCALES, providers=_providers(locale),
        endpoints=endpoints, template_gaps=gaps,
        log=log, dead=sum(1 for x in log if x["replayable"]), form=more.pop("form", {}),
        event_options=event_options(locale), **more),
        status=status)


@router.get("/staff/settings/notifications")
async def notifications_page(request: Request):
    return _notify_page(request, admin_actor(request))


def _template_page(request: Request, actor: Actor, key: str, locale_key: str, *, status: int = 200, **more: Any):
    templates.check(key, locale_key, "", "x")
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        subject, body = templates.texts(session, actor.merchant_id, key, locale_key)
        own = session.scalar(select(MessageTemplate.id).where(
            MessageTemplate.merchant_id == actor.merchant_id, MessageTemplate.key == key,
            MessageTemplate.locale == locale_key)) is not None
        sample = _sample(session, actor.merchant_id, locale_key)
    values = more.pop("values", None) or {"subject": subject, "body": body}
    return render(request, "staff/settings/template.html", ctx(
        actor, "notifications", key=key, template_locale=locale_key, values=values, own=own,
        template_name=sw.word(sw.TEMPLATES, key, locale, sw.OTHER_KIND),
        fields=templates.BUILTIN[key].fields, sample=sample, reader_locale=locale, **more), status=status)


@router.get("/staff/settings/notifications/templates/{key}/{locale}")
async def template_page(key: str, locale: str, request: Request):
    return _template_page(request, admin_actor(request), key, locale)


@router.post("/staff/settings/notifications/templates/{key}/{locale}")
async def template_post(key: str, locale: str, request: Request):
    """Preview (filled with a sample case) or save the merchant's wording of one template in one language."""
    actor = admin_actor(request)
    form = await posted(request)
    values = {"subject": text_of(form, "subject", 300), "body": str(form.get("body") or "").strip()[:10_000]}
    intent = text_of(form, "intent", 20)
    try:
        if not values["body"]:
            raise Explained("body", N_("must not be empty"))
        templates.check(key, locale, values["subject"], values["body"])
    except AppError as exc:
        return _template_page(request, actor, key, locale, status=422, values=values,
                              errors=explain(exc, locale_of(request)))
    if intent == "save":
        with request.app.state.db.transaction() as session:
            row = session.scalar(select(MessageTemplate).where(
                MessageTemplate.merchant_id == actor.merchant_id, MessageTemplate.key == key,
                MessageTemplate.locale == locale))
            if row is None:
                row = MessageTemplate(merchant_id=actor.merchant_id, key=key, locale=locale, body=values["body"])
                session.add(row)
            row.subject, row.body, row.updated_at = values["subject"], values["body"], utcnow()
            users.record(session, actor, merchant_id=actor.merchant_id, action="template.save",
                         target=f"{key}/{locale}")
        return redirect(request, f"/staff/settings/notifications/templates/{key}/{locale}", flash="template_saved")
    with request.app.state.db.read() as session:
        sample = _sample(session, actor.merchant_id, locale)
    preview = {"subject": templates.fill(values["subject"], sample, key),
               "body": templates.fill(values["body"], sample, key)}
    return _template_page(request, actor, key, locale, values=values, preview=preview)


@router.post("/staff/settings/notifications/templates/{key}/{locale}/reset")
async def template_reset(key: str, locale: str, request: Request):
    actor = admin_actor(request)
    await posted(request)
    templates.check(key, locale, "", "x")
    with request.app.state.db.transaction() as session:
        session.execute(delete(MessageTemplate).where(MessageTemplate.merchant_id == actor.merchant_id,
                                                      MessageTemplate.key == key, MessageTemplate.locale == locale))
        users.record(session, actor, merchant_id=actor.merchant_id, action="template.reset", target=f"{key}/{locale}")
    return redirect(request, f"/staff/settings/notifications/templates/{key}/{locale}", flash="template_reset")


@router.post("/staff/settings/notifications/webhooks")
async def webhook_add(request: Request):
    actor = admin_actor(request)
    form = await posted(request)
    events = []
    for raw in form.getlist("events"):  # ticked boxes (or one comma-separated text from a script)
        events += [e.strip()[:60] for e in str(raw).replace("，", ",").split(",") if e.strip()]
    values = {"url": text_of(form, "url", 500), "events": events[:100]}
    allowed = Allowed.parse(request.app.state.settings.outbound_allowed_hosts)
    try:
        await run_in_threadpool(check_endpoint, values["url"], events, allowed, events_field="events")
    except Explained as exc:
        if exc.field == "events":  # named in words, not by the codes the check lists
            bad = next(e for e in events if e.removeprefix("case.") not in dict(event_options(locale_of(request))))
            message = gettext(locale_of(request), N_("Events: “{value}” is not a case event on the list.")).format(
                value=bad)
            return _notify_page(request, actor, status=422, form=values, errors={"events": message})
        return _notify_page(request, actor, status=422, form=values, errors=explain(exc, locale_of(request)))
    except AppError as exc:
        return _notify_page(request, actor, status=422, form=values, errors=explain(exc, locale_of(request)))
    with request.app.state.db.transaction() as session:
        endpoint = WebhookEndpoint(merchant_id=actor.merchant_id, url=values["url"], secret=new_secret(), events=events)
        session.add(endpoint)
        session.flush()
        created = {"id": endpoint.id, "url": endpoint.url, "secret": endpoint.secret}
        users.record(session, actor, merchant_id=actor.merchant_id, action="webhook.add",
                     target=redact_url(endpoint.url),
                     details={"endpoint_id": endpoint.id, "events": events, "secret": mask(endpoint.secret)})
    # The signing secret is shown on this answer only.
    return _notify_page(request, actor, status=201, created=created)


@router.post("/staff/settings/notifications/webhooks/{endpoint_id}/remove")
async def webhook_remove(endpoint_id: int, request: Request):
    actor = admin_actor(request)
    await posted(request)
    with request.app.state.db.transaction() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is not None and endpoint.merchant_id == actor.merchant_id and endpoint.active:
            endpoint.active = False
            users.record(session, actor, merchant_id=actor.merchant_id, action="webhook.remove",
                         target=redact_url(endpoint.url), details={"endpoint_id": endpoint.id})
    return redirect(request, "/staff/settings/notifications#webhooks", flash="webhook_removed")


@router.post("/staff/settings/notifications/replay")
async def webhook_replay(request: Request):
    """Queues failed webhook deliveries and notifications again: one (`id`) or all of the merchant's."""
    actor = admin_actor(request)
    form = await posted(request)
    one = text_of(form, "id", 20)
    with request.app.state.db.read() as session:
        stmt = select(OutboxMessage.id).where(OutboxMessage.merchant_id == actor.merchant_id,
                                              OutboxMessage.topic.in_(delivery_log.REPLAYABLE),
                                              OutboxMessage.secret.is_(False), OutboxMessage.status == "dead")
        if one.isdigit():
            stmt = stmt.where(OutboxMessage.id == int(one))
        ids = list(session.scalars(stmt))
    if ids:
        outbox.replay(request.app.state.db, ids=ids, merchant_id=actor.merchant_id)
    return redirect(request, "/staff/settings/notifications#deliveries", flash="replayed")
