"""API: template messages at providers (Aliyun SMS, WeChat) and staff alert robots (企业微信, 钉钉), per merchant."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select

from ..merchants.scope import resolve_merchant
from ..db import utcnow
from ..errors import Explained, NotFound
from ..i18n import N_
from ..fields import RowId
from ..outbound import mask, redact_url, check_form
from ..web import DB, CurrentActor, mutate
from . import provider_templates as pt
from .api import ADMINS, STAFF, _only
from .models import AlertRobot, ProviderTemplate
from .robots import EVENTS

# Template messages and alert robots (app.py includes this router beside notify.api's).
router = APIRouter(tags=["notifications"])


class ProviderTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: str = Field(max_length=100, description="Aliyun TemplateCode (SMS_...) or WeChat template id")
    sign_name: str = Field(default="", max_length=60, description="Aliyun SignName (SMS only)")
    params: dict[str, str] = Field(description="The provider's parameter name -> our template field")
    merchant: str | None = None


@router.get("/notify/provider-templates")
async def list_provider_templates(actor: CurrentActor, db: DB, merchant: str | None = None) -> list[dict]:
    """The merchant's approved provider templates, by template key and channel."""
    _only(actor, STAFF, "read templates")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        rows = session.scalars(select(ProviderTemplate).where(ProviderTemplate.merchant_id == m.id)
                               .order_by(ProviderTemplate.key, ProviderTemplate.channel)).all()
        return [pt.row_dict(r) for r in rows]


@router.put("/notify/provider-templates/{channel}/{key}")
async def put_provider_template(channel: str, key: str, body: ProviderTemplateIn, request: Request,
                                actor: CurrentActor):
    """Sets the provider's template for one of our templates on a channel (sms: Aliyun; wechat: WeChat)."""
    _only(actor, ADMINS, "edit templates")
    template_id, sign_name = body.template_id.strip(), body.sign_name.strip()
    pt.check(channel, key, template_id, sign_name, body.params)

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        row = session.scalar(select(ProviderTemplate).where(
            ProviderTemplate.merchant_id == m.id, ProviderTemplate.key == key, ProviderTemplate.channel == channel))
        if row is None:
            row = ProviderTemplate(merchant_id=m.id, key=key, channel=channel)
            session.add(row)
        row.provider, row.template_id, row.params = pt.PROVIDER[channel], template_id, dict(body.params)
        row.sign_name, row.updated_at = sign_name if channel == "sms" else "", utcnow()
        session.flush()
        return 200, pt.row_dict(row)

    return await mutate(request, actor, work)


@router.delete("/notify/provider-templates/{channel}/{key}")
async def delete_provider_template(channel: str, key: str, request: Request, actor: CurrentActor,
                                   merchant: str | None = None):
    _only(actor, ADMINS, "edit templates")

    def work(session):
        m = resolve_merchant(session, actor, merchant)
        gone = session.execute(delete(ProviderTemplate).where(
            ProviderTemplate.merchant_id == m.id, ProviderTemplate.key == key,
            ProviderTemplate.channel == channel)).rowcount
        return 200, {"deleted": gone}

    return await mutate(request, actor, work)


# ---- staff alert robots ---------------------------------------------------------------------------------------

class RobotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["wecom", "dingtalk"]
    url: str = Field(max_length=500, description="The robot's webhook URL (WeCom: ...?key=; DingTalk: "
                                                 "...?access_token=)")
    secret: str = Field(default="", max_length=200, description="DingTalk's signing secret (SEC...), if set")
    events: list[str] = Field(min_length=1, description="sla_breach, escalation, dead_letter, refund_approval")
    active: bool = True
    merchant: str | None = None


def _robot(r: AlertRobot) -> dict:
    return {"id": r.id, "kind": r.kind, "url": redact_url(r.url), "secret": mask(r.secret) if r.secret else "",
            "events": r.events, "active": r.active, "created_at": r.created_at}


def _check_robot(body: RobotIn) -> None:
    check_form(body.url, field="url")
    wrong = [e for e in body.events if e not in EVENTS]
    if wrong:
        raise Explained("events", N_("Alerts can be about: SLA breaches, escalations, undeliverable messages and "
                                     "approvals waiting ({events}); not '{given}'."),
                        events=", ".join(EVENTS), given=wrong[0])
    if body.kind == "wecom" and body.secret:
        raise Explained("secret", N_("WeCom group robots do not sign: leave the secret empty."))
    if body.kind == "dingtalk" and body.secret and not body.secret.startswith("SEC"):
        raise Explained("secret", N_("A DingTalk signing secret starts with SEC."))


@router.get("/notify/robots")
async def list_robots(actor: CurrentActor, db: DB, merchant: str | None = None) -> list[dict]:
    _only(actor, ADMINS, "read alert robots")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        return [_robot(r) for r in session.scalars(select(AlertRobot).where(AlertRobot.merchant_id == m.id)
                                                   .order_by(AlertRobot.id))]


@router.post("/notify/robots", status_code=201)
async def add_robot(body: RobotIn, request: Request, actor: CurrentActor):
    """A WeCom or DingTalk group robot that receives the chosen kinds of staff alerts."""
    _only(actor, ADMINS, "set up alert robots")
    _check_robot(body)

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        row = AlertRobot(merchant_id=m.id, kind=body.kind, url=body.url, secret=body.secret,
                         events=sorted(set(body.events)), active=body.active, created_at=utcnow())
        session.add(row)
        session.flush()
        return 201, _robot(row)

    return await mutate(request, actor, work)


@router.put("/notify/robots/{robot_id}")
async def put_robot(robot_id: RowId, body: RobotIn, request: Request, actor: CurrentActor):
    _only(actor, ADMINS, "set up alert robots")
    _check_robot(body)

    def work(session):
        m = resolve_merchant(session, actor, body.merchant)
        row = session.get(AlertRobot, robot_id)
        if row is None or row.merchant_id != m.id:
            raise NotFound("alert robot", robot_id)
        row.kind, row.url, row.secret, row.events, row.active = (body.kind, body.url, body.secret,
                                                                 sorted(set(body.events)), body.active)
        return 200, _robot(row)

    return await mutate(request, actor, work)


@router.delete("/notify/robots/{robot_id}")
async def delete_robot(robot_id: RowId, request: Request, actor: CurrentActor, merchant: str | None = None):
    _only(actor, ADMINS, "set up alert robots")

    def work(session):
        m = resolve_merchant(session, actor, merchant)
        row = session.get(AlertRobot, robot_id)
        if row is None or row.merchant_id != m.id:
            raise NotFound("alert robot", robot_id)
        row.active = False  # alerts already queued for it are dropped with that reason
        return 200, _robot(row)

    return await mutate(request, actor, work)
