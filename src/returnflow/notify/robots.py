"""Staff alerts to group robots: 企业微信 (WeCom) and 钉钉 (DingTalk), per merchant and per kind of event.

Kinds: an SLA deadline passed (sla_breach), a case escalated (escalation), a message dead-lettered (dead_letter),
a case waiting for a supervisor's approval (refund_approval). Each alert is one "alert" outbox message per robot,
written in the transaction that saw the event; the outbox delivers it on the robot's own lane, retries a robot that
answers an error (errcode != 0) with backoff and records why, and records a success once, so an alert is not sent
twice. An alert that dies is not itself alerted about.

WeCom: POST <webhook?key=...> {"msgtype": "markdown", "markdown": {"content": ...}}.
DingTalk: POST <webhook?access_token=...>&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(secret,
"<ms>\\n<secret>")))> {"msgtype": "markdown", "markdown": {"title", "text"}}. Both answer {"errcode": 0, ...}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime
from urllib.parse import quote_plus

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .. import outbound
from ..cases.models import CaseState
from ..db import Database
from ..merchants.clock import zone_of
from .channels import DeliveryError, post_json
from .config import DeliverySettings
from .models import AlertRobot
from .outbox import Claimed

TOPIC = "alert"
KINDS = ("wecom", "dingtalk")
EVENTS = {"sla_breach": ("SLA deadline passed", "售后时限已超时"),
          "escalation": ("Case escalated", "售后单已升级"),
          "dead_letter": ("A message could not be delivered", "消息投递失败"),
          "refund_approval": ("Waiting for approval", "待审批")}
_ROBOTS = select(AlertRobot.id, AlertRobot.events).where(AlertRobot.merchant_id == bindparam("m"),
                                                         AlertRobot.active.is_(True))
_ROBOT = select(AlertRobot.kind, AlertRobot.url, AlertRobot.secret, AlertRobot.active).where(
    AlertRobot.id == bindparam("id"))


def alerts(session: Session, merchant_id: int | None, case_id: int | None, event: str, lines: list[str]) -> list[dict]:
    """One alert message per active robot of the merchant that takes this kind of event."""
    if merchant_id is None:
        return []
    robots = session.execute(_ROBOTS, {"m": merchant_id}).all()
    en, zh = EVENTS[event]
    return [{"merchant_id": merchant_id, "case_id": case_id, "topic": TOPIC, "payload": {
        "endpoint_id": f"robot-{robot_id}", "robot_id": robot_id, "event": event, "title": f"{zh} / {en}",
        "lines": lines}} for robot_id, events in robots if event in (events or [])]


def _local(session: Session, merchant_id: int, at: datetime | None) -> str:
    return at.astimezone(zone_of(session, merchant_id)).strftime("%Y-%m-%d %H:%M") if at else ""


def case_alerts(session: Session, case, event: dict) -> list[dict]:
    """Workflow producer: an escalation, and a case arriving at a supervisor's approval."""
    if case.channel == "import":
        return []
    if event["action"] == "escalate":
        kind = "escalation"
    elif event["to_state"] == CaseState.PENDING_APPROVAL.value and event["from_state"] != event["to_state"]:
        kind = "refund_approval"
    else:
        return []
    reason = str((event.get("payload") or {}).get("reason") or (event.get("payload") or {}).get("text") or "")
    lines = [f"售后单 Case: {case.number}", f"时间 At: {_local(session, case.merchant_id, event['created_at'])}"]
    if reason:
        lines.append(f"说明 Note: {reason[:200]}")
    return [{"topic": m["topic"], "payload": m["payload"]}
            for m in alerts(session, case.merchant_id, case.id, kind, lines)]


def breach_alerts(session: Session, case, row) -> list[dict]:
    """An SLA timer that came due: the step and its deadline in the merchant's time zone."""
    step = (row.payload or {}).get("step", row.kind.split(".")[0])
    lines = [f"售后单 Case: {case.number}", f"环节 Step: {step}",
             f"时限 Due: {_local(session, case.merchant_id, row.due_at)}"]
    if row.rule:
        lines.append(f"规则 Rule: {row.rule}")
    return alerts(session, case.merchant_id, case.id, "sla_breach", lines)


def dead_letter_alerts(session: Session, dead: list[tuple[int, int | None, int | None, str, str]]) -> list[dict]:
    """(outbox id, merchant, case, topic, reason) of messages just dead-lettered; alerts are never alerted on."""
    found = []
    for outbox_id, merchant_id, case_id, topic, reason in dead:
        if topic == TOPIC:
            continue
        found += alerts(session, merchant_id, case_id, "dead_letter", [
            f"消息 Message: #{outbox_id} ({topic})", f"原因 Reason: {reason[:300]}"])
    return found


def dingtalk_url(url: str, secret: str, now_ms: int | None = None) -> str:
    if not secret:
        return url
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"


def body_of(kind: str, title: str, lines: list[str]) -> dict:
    text = "\n".join(f"> {line}" for line in lines)
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{text}"}}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": f"#### {title}\n{text}"}}


def deliver(db: Database, settings: DeliverySettings, message: Claimed) -> tuple[int, str]:
    p = message.payload
    with db.read() as session:
        robot = session.execute(_ROBOT, {"id": p.get("robot_id")}).first()
    if robot is None or not robot.active:
        raise DeliveryError("the robot was removed or switched off before the alert went out", permanent=True)
    name = "WeCom robot" if robot.kind == "wecom" else "DingTalk robot"
    url = dingtalk_url(robot.url, robot.secret) if robot.kind == "dingtalk" else robot.url
    body = json.dumps(body_of(robot.kind, str(p.get("title") or ""), [str(x) for x in p.get("lines") or []]),
                      ensure_ascii=False).encode()
    status, answer = post_json(url, body, {}, settings.http_timeout_seconds, settings.allowed())
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise DeliveryError(f"{name} answered HTTP {status} without JSON: {outbound.excerpt(answer)!r}", status)
    if parsed.get("errcode") != 0:
        raise DeliveryError(f"{name} answered errcode {parsed.get('errcode')}: "
                            f"{outbound.excerpt(str(parsed.get('errmsg') or ''))}", status)
    return status, "ok"

