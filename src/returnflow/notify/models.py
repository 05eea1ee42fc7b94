"""Notification tables: merchant templates, webhook endpoints and their attempts, in-app messages, follow-ups,
satisfaction answers and agent reply templates (话术)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class MessageTemplate(Base):
    """A merchant's wording of one notification template in one locale (the built-in text applies otherwise)."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("merchant_id", "key", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    key: Mapped[str] = mapped_column(String(60))
    locale: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryAttempt(Base):
    """One try at delivering an outbox message (email, SMS, push, in-app, webhook): what happened and why."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    attempt: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str] = mapped_column(String(80), default="")


class InAppMessage(Base):
    """A message shown in the portal (to a customer) or the desk (to a staff user)."""

    __tablename__ = "in_app_messages"
    __table_args__ = (Index("ix_in_app_messages_recipient", "recipient", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), unique=True)
    recipient: Mapped[str] = mapped_column(String(80))  # customer:<id> | user:<id>
    template: Mapped[str] = mapped_column(String(60))
    locale: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FollowUpTask(Base):
    """回访: a follow-up contact with the customer some days after closing, and its recorded outcome."""

    __tablename__ = "follow_up_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | done
    outcome: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[str | None] = mapped_column(String(80))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyResponse(Base):
    """The customer's satisfaction answer (满意度) for a closed case."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyTemplate(Base):
    """话术: a merchant's ready reply for agents, per step and outcome, in one locale, with {placeholders}."""

    __tablename__ = "reply_templates"
    __table_args__ = (UniqueConstraint("merchant_id", "code", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    code: Mapped[str] = mapped_column(String(60))
    locale: Mapped[str] = mapped_column(String(10))
    step: Mapped[str] = mapped_column(String(40), default="")
    outcome: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # agents: offered on the case page | hidden: kept in the settings, not offered
    visibility: Mapped[str] = mapped_column(String(12), default="agents", server_default="agents")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProviderTemplate(Base):
    """A template approved at a message provider (Aliyun SMS, WeChat) for one of our notification templates: its
    id there, the signature name, and which of our fields fills each of its parameters."""

    __tablename__ = "provider_templates"
    __table_args__ = (UniqueConstraint("merchant_id", "key", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    key: Mapped[str] = mapped_column(String(60))          # our template key (otp_code, case_update ...)
    channel: Mapped[str] = mapped_column(String(12))      # sms | wechat
    provider: Mapped[str] = mapped_column(String(20))     # aliyun | wechat
    template_id: Mapped[str] = mapped_column(String(100))
    sign_name: Mapped[str] = mapped_column(String(60), default="")
    params: Mapped[dict] = mapped_column(default=dict)    # the provider's parameter -> our field
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRobot(Base):
    """A staff group robot (企业微信 or 钉钉) that receives the merchant's alerts of the listed kinds."""

    __tablename__ = "alert_robots"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))         # wecom | dingtalk
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200), default="")  # DingTalk's signing secret (SEC...)
    events: Mapped[list] = mapped_column(default=list)    # sla_breach | escalation | dead_letter | refund_approval
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
